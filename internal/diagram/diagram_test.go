package diagram

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from this run")

func prodModel() *Model {
	return &Model{
		App: "fastapi-vars", Env: "prod", Region: "us-east-1", Account: "123456789012",
		VPC: &VPC{ID: "vpc-0a1", CIDR: "10.0.0.0/16", IGW: true, AZs: []AZ{
			{Name: "us-east-1a", Public: Subnet{"subnet-pa", "10.0.0.0/20"}, Private: Subnet{"subnet-qa", "10.0.32.0/20"}, NAT: "nat-a1", EgressNAT: "nat-a1"},
			{Name: "us-east-1b", Public: Subnet{"subnet-pb", "10.0.16.0/20"}, Private: Subnet{"subnet-qb", "10.0.48.0/20"}, NAT: "nat-b1", EgressNAT: "nat-b1"},
		}},
		ALB: &ALB{Name: "fastapi-vars-prod", Listeners: []Listener{
			{Port: 80, Protocol: "HTTP", Action: "redirect to HTTPS"}, {Port: 443, Protocol: "HTTPS", Action: "forward"},
		}},
		TargetGroup: "fastapi-vars-prod",
		Service:     &Service{Name: "fastapi-vars-prod", Cluster: "fastapi-vars-prod", Running: 1, Desired: 2, Status: "ACTIVE"},
		Secret:      "fastapi-vars-prod-admin",
		Alarms: []Alarm{
			{"fastapi-vars-prod-alb-5xx-elb", "OK"}, {"fastapi-vars-prod-ecs-running-tasks", "ALARM"}, {"fastapi-vars-prod-ecs-cpu", "INSUFFICIENT_DATA"},
		},
		Topic: "fastapi-vars-prod-alerts", WAF: "fastapi-vars-prod",
		Zone: "api.example.com", Certificate: "api.example.com", Domain: "api.example.com",
	}
}

// devModel: one NAT shared by both zones, no edge, no alarms, the service gone.
func devModel() *Model {
	return &Model{
		App: "fastapi-vars", Env: "dev", Region: "us-east-1", Account: "123456789012",
		VPC: &VPC{ID: "vpc-0d1", CIDR: "10.1.0.0/16", IGW: true, AZs: []AZ{
			{Name: "us-east-1a", Public: Subnet{"subnet-pa", "10.1.0.0/20"}, Private: Subnet{"subnet-qa", "10.1.32.0/20"}, NAT: "nat-a1", EgressNAT: "nat-a1"},
			{Name: "us-east-1b", Public: Subnet{"subnet-pb", "10.1.16.0/20"}, Private: Subnet{"subnet-qb", "10.1.48.0/20"}, EgressNAT: "nat-a1"},
		}},
		ALB:         &ALB{Name: "fastapi-vars-dev", Listeners: []Listener{{Port: 80, Protocol: "HTTP", Action: "forward"}}},
		TargetGroup: "fastapi-vars-dev",
		Service:     &Service{Name: "fastapi-vars-dev", Cluster: "fastapi-vars-dev", Status: "MISSING"},
		Secret:      "fastapi-vars-dev-admin",
	}
}

func TestRenderGolden(t *testing.T) {
	renderers := map[string]func(io.Writer, *Model) error{"svg": SVG, "mmd": Mermaid}
	models := map[string]func() *Model{"prod": prodModel, "dev": devModel}
	for name, model := range models {
		for ext, render := range renderers {
			t.Run(name+"."+ext, func(t *testing.T) {
				var a, b bytes.Buffer
				if err := render(&a, model()); err != nil {
					t.Fatal(err)
				}
				if err := render(&b, model()); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a.Bytes(), b.Bytes()) {
					t.Fatal("two renderings of one model differ")
				}
				golden(t, name+"."+ext, a.Bytes())
				if ext == "svg" {
					wellFormed(t, a.Bytes())
				}
			})
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/diagram -run %s -update` to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update and review the diff):\n--- got\n%s", path, got)
	}
}

func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

// TestTextIsEscaped: names come from the account and the config; neither renderer lets
// one break out of its label.
func TestTextIsEscaped(t *testing.T) {
	m := prodModel()
	m.WAF = `acl"><script>alert(1)</script>&`
	m.Zone = `a"]:::x --> b["#1`
	for name, tc := range map[string]struct {
		render func(io.Writer, *Model) error
		raw    []string
		want   []string
	}{
		"svg":     {SVG, []string{"<script>", `acl">`}, []string{"acl&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;"}},
		"mermaid": {Mermaid, []string{"<script>", `"]:::x`, `b["#1`}, []string{"acl#quot;#gt;#lt;script#gt;alert(1)#lt;/script#gt;#amp;", "a#quot;]:::x --#gt; b[#quot;#35;1"}},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.render(&b, m); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, r := range tc.raw {
				if strings.Contains(out, r) {
					t.Errorf("output holds %q unescaped", r)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if name == "svg" {
				wellFormed(t, b.Bytes())
			}
		})
	}
}

type fakeECS struct {
	services []ecstypes.Service
	err      error
}

func (f fakeECS) DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return &ecs.DescribeServicesOutput{Services: f.services}, f.err
}

type fakeELB struct {
	listeners []elbtypes.Listener
	err       error
}

func (f fakeELB) DescribeListeners(context.Context, *elasticloadbalancingv2.DescribeListenersInput, ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeListenersOutput, error) {
	return &elasticloadbalancingv2.DescribeListenersOutput{Listeners: f.listeners}, f.err
}

type fakeCW struct{ alarms []cwtypes.MetricAlarm }

func (f fakeCW) DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	return &cloudwatch.DescribeAlarmsOutput{MetricAlarms: f.alarms}, nil
}

func rec(typ, id string, attrs map[string]string) *state.Resource {
	return &state.Resource{Type: typ, ID: id, ARN: "arn:" + id, Attrs: attrs}
}

// devState is a dev network (one shared NAT) with its service and two alarms.
func devState() *state.Document {
	doc := state.New("fastapi-vars", "dev", "us-east-1", "123456789012")
	doc.Resources = map[string]*state.Resource{
		"network/vpc":              rec("ec2:vpc", "vpc-1", map[string]string{"cidr": "10.1.0.0/16"}),
		"network/igw":              rec("ec2:internet-gateway", "igw-1", nil),
		"network/subnet-public-b":  rec("ec2:subnet", "subnet-pb", map[string]string{"az": "us-east-1b", "cidr": "10.1.16.0/20"}),
		"network/subnet-public-a":  rec("ec2:subnet", "subnet-pa", map[string]string{"az": "us-east-1a", "cidr": "10.1.0.0/20"}),
		"network/subnet-private-b": rec("ec2:subnet", "subnet-qb", map[string]string{"az": "us-east-1b", "cidr": "10.1.48.0/20"}),
		"network/subnet-private-a": rec("ec2:subnet", "subnet-qa", map[string]string{"az": "us-east-1a", "cidr": "10.1.32.0/20"}),
		"network/nat-a":            rec("ec2:nat-gateway", "nat-1", nil),
		"network/alb":              rec("elbv2:load-balancer", "fastapi-vars-dev", nil),
		"network/tg":               rec("elbv2:target-group", "fastapi-vars-dev", nil),
		"cluster/service":          rec("ecs:service", "fastapi-vars-dev", map[string]string{"cluster": "fastapi-vars-dev"}),
		"secrets/admin":            rec("secretsmanager:secret", "fastapi-vars-dev-admin", nil),
		"observability/alarm-x":    rec("cloudwatch:alarm", "dev-x", nil),
		"observability/alarm-y":    rec("cloudwatch:alarm", "dev-y", nil),
	}
	return doc
}

func TestBuild(t *testing.T) {
	liveListeners := []elbtypes.Listener{
		{Port: aws.Int32(443), Protocol: elbtypes.ProtocolEnumHttps, DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward}}},
		{Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumHttp, DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumRedirect, RedirectConfig: &elbtypes.RedirectActionConfig{Protocol: aws.String("HTTPS")}}}},
	}
	running := []ecstypes.Service{{ServiceName: aws.String("fastapi-vars-dev"), Status: aws.String("ACTIVE"), RunningCount: 1, DesiredCount: 2}}
	alarms := []cwtypes.MetricAlarm{{AlarmName: aws.String("dev-y"), StateValue: cwtypes.StateValueAlarm}}
	for name, tc := range map[string]struct {
		doc     *state.Document
		live    Live
		check   func(t *testing.T, m *Model)
		wantErr string
	}{
		"shared NAT, live listeners, counts and alarm states": {
			doc:  devState(),
			live: Live{ECS: fakeECS{services: running}, ELB: fakeELB{listeners: liveListeners}, CloudWatch: fakeCW{alarms: alarms}},
			check: func(t *testing.T, m *Model) {
				wantAZs := []AZ{
					{Name: "us-east-1a", Public: Subnet{"subnet-pa", "10.1.0.0/20"}, Private: Subnet{"subnet-qa", "10.1.32.0/20"}, NAT: "nat-1", EgressNAT: "nat-1"},
					{Name: "us-east-1b", Public: Subnet{"subnet-pb", "10.1.16.0/20"}, Private: Subnet{"subnet-qb", "10.1.48.0/20"}, EgressNAT: "nat-1"},
				}
				if !reflect.DeepEqual(m.VPC.AZs, wantAZs) || !m.VPC.IGW {
					t.Errorf("zones %+v, IGW %v; want %+v with the gateway", m.VPC.AZs, m.VPC.IGW, wantAZs)
				}
				wantLs := []Listener{{80, "HTTP", "redirect to HTTPS"}, {443, "HTTPS", "forward"}}
				if !reflect.DeepEqual(m.ALB.Listeners, wantLs) {
					t.Errorf("listeners %+v, want %+v", m.ALB.Listeners, wantLs)
				}
				if s := m.Service; s.Running != 1 || s.Desired != 2 || s.Status != "ACTIVE" {
					t.Errorf("service %+v, want 1/2 ACTIVE", s)
				}
				if want := []Alarm{{"dev-x", "MISSING"}, {"dev-y", "ALARM"}}; !reflect.DeepEqual(m.Alarms, want) {
					t.Errorf("alarms %+v, want %+v", m.Alarms, want)
				}
				if m.WAF != "" || m.Zone != "" || m.Topic != "" || m.Secret != "fastapi-vars-dev-admin" {
					t.Errorf("WAF %q zone %q topic %q secret %q: want only the secret", m.WAF, m.Zone, m.Topic, m.Secret)
				}
			},
		},
		"service and load balancer gone out of band": {
			doc: devState(),
			live: Live{ECS: fakeECS{services: []ecstypes.Service{{ServiceName: aws.String("fastapi-vars-dev"), Status: aws.String("INACTIVE")}}},
				ELB: fakeELB{err: &elbtypes.LoadBalancerNotFoundException{}}, CloudWatch: fakeCW{}},
			check: func(t *testing.T, m *Model) {
				if m.Service.Status != "MISSING" || len(m.ALB.Listeners) != 0 {
					t.Errorf("service %+v, listeners %+v; want MISSING and none", m.Service, m.ALB.Listeners)
				}
			},
		},
		"a failed read names what was read": {
			doc:     devState(),
			live:    Live{ECS: fakeECS{err: errors.New("throttled")}, ELB: fakeELB{}, CloudWatch: fakeCW{}},
			wantErr: "describing ECS service fastapi-vars-dev/fastapi-vars-dev: throttled",
		},
		"no state":       {doc: nil, wantErr: ErrNothingDeployed.Error()},
		"empty document": {doc: state.New("a", "dev", "us-east-1", "1"), wantErr: ErrNothingDeployed.Error()},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := Build(context.Background(), tc.doc, tc.live)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}
