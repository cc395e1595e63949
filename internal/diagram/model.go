// Package diagram draws an environment's architecture as deployed: a model built from the
// state document and a few read-only calls, rendered as SVG or as a Mermaid flowchart.
package diagram

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// ErrNothingDeployed means the state records no resource: there is nothing to draw.
var ErrNothingDeployed = errors.New("nothing deployed")

// Model is what a diagram shows. Every list is sorted, so equal deployments draw equal bytes.
type Model struct {
	App, Env, Region, Account string
	VPC                       *VPC // nil without the network phase
	ALB                       *ALB
	TargetGroup               string
	Service                   *Service
	Secret                    string
	Alarms                    []Alarm
	Topic                     string
	WAF                       string // web ACL name
	Zone                      string // Route 53 zone name
	Certificate               string // the certificate's domain names
	Domain                    string // the alias records' name
}

// VPC is the network and its availability zones, in zone order.
type VPC struct {
	ID, CIDR string
	IGW      bool
	AZs      []AZ
}

// AZ is one availability zone's subnets.
type AZ struct {
	Name    string
	Public  Subnet
	Private Subnet
	NAT     string // the NAT gateway in this zone's public subnet, if any
	// EgressNAT is the NAT gateway this zone's private subnet routes through: its own, or
	// the shared one in another zone.
	EgressNAT string
}

// Subnet is one subnet.
type Subnet struct{ ID, CIDR string }

// ALB is the load balancer and its live listeners, in port order.
type ALB struct {
	Name      string
	Listeners []Listener
}

// Listener is one ALB listener as the load balancer reports it.
type Listener struct {
	Port     int32
	Protocol string
	Action   string // "forward" or "redirect to HTTPS"
}

// Service is the ECS service with its live task counts.
type Service struct {
	Name, Cluster    string
	Running, Desired int32
	Status           string // ACTIVE, DRAINING, or MISSING when ECS does not have it
}

// Alarm is one alarm and its live state.
type Alarm struct{ Name, State string }

// Firing lists the alarms in ALARM.
func (m *Model) Firing() []string {
	var out []string
	for _, a := range m.Alarms {
		if a.State == "ALARM" {
			out = append(out, a.Name)
		}
	}
	return out
}

// The narrow read-only seams Build needs; the awsclients clients satisfy them.
type (
	ServicesAPI interface {
		DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	}
	ListenersAPI interface {
		DescribeListeners(ctx context.Context, in *elasticloadbalancingv2.DescribeListenersInput, opts ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeListenersOutput, error)
	}
	AlarmsAPI = cloudwatch.DescribeAlarmsAPIClient
)

// Live holds the clients Build reads through.
type Live struct {
	ECS        ServicesAPI
	ELB        ListenersAPI
	CloudWatch AlarmsAPI
}

// Resource keys and types of the state document that the diagram reads. They mirror
// internal/phases, whose record shapes they depend on.
const (
	keyVPC         = "network/vpc"
	keyIGW         = "network/igw"
	keyALB         = "network/alb"
	keyTG          = "network/tg"
	keyService     = "cluster/service"
	keySecret      = "secrets/admin"
	keyTopic       = "observability/topic"
	keyWAF         = "edge/waf-acl"
	keyZone        = "edge/zone"
	keyCertificate = "edge/certificate"
	keyDNS         = "edge/dns"
	typeAlarm      = "cloudwatch:alarm"
	prefixPublic   = "network/subnet-public-"
	prefixPrivate  = "network/subnet-private-"
	prefixNAT      = "network/nat-"
)

// Build reads doc and the live account into a model. It only reads.
func Build(ctx context.Context, doc *state.Document, live Live) (*Model, error) {
	if doc == nil || len(doc.Resources) == 0 {
		return nil, ErrNothingDeployed
	}
	r := doc.Resources
	m := &Model{App: doc.App, Env: doc.Env, Region: doc.Region, Account: doc.Account}
	if v := r[keyVPC]; v != nil {
		m.VPC = &VPC{ID: v.ID, CIDR: v.Attrs["cidr"], IGW: r[keyIGW] != nil, AZs: zones(r)}
	}
	if lb := r[keyALB]; lb != nil {
		ls, err := listeners(ctx, live.ELB, lb.ARN)
		if err != nil {
			return nil, err
		}
		m.ALB = &ALB{Name: lb.ID, Listeners: ls}
	}
	if tg := r[keyTG]; tg != nil {
		m.TargetGroup = tg.ID
	}
	if s := r[keyService]; s != nil {
		svc, err := service(ctx, live.ECS, s.Attrs["cluster"], s.ID)
		if err != nil {
			return nil, err
		}
		m.Service = svc
	}
	if s := r[keySecret]; s != nil {
		m.Secret = s.ID
	}
	if t := r[keyTopic]; t != nil {
		m.Topic = t.ID
	}
	if w := r[keyWAF]; w != nil {
		m.WAF = w.Attrs["name"]
	}
	if z := r[keyZone]; z != nil {
		m.Zone = z.Attrs["name"]
	}
	if c := r[keyCertificate]; c != nil {
		m.Certificate = c.Attrs["names"]
	}
	if d := r[keyDNS]; d != nil {
		m.Domain = d.ID
	}
	alarms, err := alarmStates(ctx, live.CloudWatch, r)
	if err != nil {
		return nil, err
	}
	m.Alarms = alarms
	return m, nil
}

// zones groups the subnets and NAT gateways by the zone letter their keys end in.
func zones(r map[string]*state.Resource) []AZ {
	byLetter := map[string]*AZ{}
	get := func(letter string) *AZ {
		if byLetter[letter] == nil {
			byLetter[letter] = &AZ{}
		}
		return byLetter[letter]
	}
	var nats []string
	for key, rec := range r {
		switch {
		case strings.HasPrefix(key, prefixPublic):
			az := get(strings.TrimPrefix(key, prefixPublic))
			az.Name, az.Public = rec.Attrs["az"], Subnet{ID: rec.ID, CIDR: rec.Attrs["cidr"]}
		case strings.HasPrefix(key, prefixPrivate):
			az := get(strings.TrimPrefix(key, prefixPrivate))
			az.Name, az.Private = rec.Attrs["az"], Subnet{ID: rec.ID, CIDR: rec.Attrs["cidr"]}
		case strings.HasPrefix(key, prefixNAT):
			get(strings.TrimPrefix(key, prefixNAT)).NAT = rec.ID
			nats = append(nats, key)
		}
	}
	slices.Sort(nats)
	letters := slices.Sorted(maps.Keys(byLetter))
	out := make([]AZ, 0, len(letters))
	for _, l := range letters {
		az := *byLetter[l]
		// One NAT per zone, or one shared by all (dev, hml): the network phase routes a
		// private subnet through its own zone's NAT when there is one, else the first.
		switch {
		case az.NAT != "":
			az.EgressNAT = az.NAT
		case len(nats) > 0:
			az.EgressNAT = r[nats[0]].ID
		}
		out = append(out, az)
	}
	return out
}

func listeners(ctx context.Context, api ListenersAPI, albARN string) ([]Listener, error) {
	var out []Listener
	p := elasticloadbalancingv2.NewDescribeListenersPaginator(api, &elasticloadbalancingv2.DescribeListenersInput{LoadBalancerArn: &albARN})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		var nf *elbtypes.LoadBalancerNotFoundException
		if errors.As(err, &nf) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("describing the listeners of %s: %w", albARN, err)
		}
		for _, l := range page.Listeners {
			action := "forward"
			if len(l.DefaultActions) > 0 && l.DefaultActions[0].Type == elbtypes.ActionTypeEnumRedirect {
				action = "redirect to " + aws.ToString(l.DefaultActions[0].RedirectConfig.Protocol)
			}
			out = append(out, Listener{Port: aws.ToInt32(l.Port), Protocol: string(l.Protocol), Action: action})
		}
	}
	slices.SortFunc(out, func(a, b Listener) int { return int(a.Port - b.Port) })
	return out, nil
}

func service(ctx context.Context, api ServicesAPI, cluster, name string) (*Service, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &cluster, Services: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s/%s: %w", cluster, name, err)
	}
	s := &Service{Name: name, Cluster: cluster, Status: "MISSING"}
	for _, live := range out.Services {
		if aws.ToString(live.ServiceName) == name && aws.ToString(live.Status) != "INACTIVE" {
			s.Running, s.Desired, s.Status = live.RunningCount, live.DesiredCount, aws.ToString(live.Status)
		}
	}
	return s, nil
}

// alarmStates reads every alarm state records; one CloudWatch lacks is MISSING.
func alarmStates(ctx context.Context, api AlarmsAPI, r map[string]*state.Resource) ([]Alarm, error) {
	var names []string
	for _, rec := range r {
		if rec.Type == typeAlarm {
			names = append(names, rec.ID)
		}
	}
	slices.Sort(names)
	live := map[string]string{}
	// DescribeAlarms takes at most 100 names a call.
	for batch := range slices.Chunk(names, 100) {
		p := cloudwatch.NewDescribeAlarmsPaginator(api, &cloudwatch.DescribeAlarmsInput{AlarmNames: batch})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing alarms: %w", err)
			}
			for _, a := range page.MetricAlarms {
				live[aws.ToString(a.AlarmName)] = string(a.StateValue)
			}
		}
	}
	out := make([]Alarm, 0, len(names))
	for _, n := range names {
		st, ok := live[n]
		if !ok {
			st = "MISSING"
		}
		out = append(out, Alarm{Name: n, State: st})
	}
	return out, nil
}
