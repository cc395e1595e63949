package network_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func TestNetworkSubnetCIDR(t *testing.T) {
	tests := []struct {
		vpc     string
		n       int
		want    string
		wantErr bool
	}{
		{"10.0.0.0/16", 0, "10.0.0.0/20", false},
		{"10.0.0.0/16", 1, "10.0.16.0/20", false},
		{"10.0.0.0/16", 2, "10.0.32.0/20", false},
		{"10.0.0.0/16", 15, "10.0.240.0/20", false},
		{"10.1.0.0/16", 3, "10.1.48.0/20", false},
		{"172.16.8.0/24", 5, "172.16.8.80/28", false},
		{"10.0.0.0/16", 16, "", true},
		{"10.0.0.0/25", 0, "", true}, // /29 is below AWS's smallest subnet
		{"fd00::/56", 0, "", true},
		{"nonsense", 0, "", true},
	}
	for _, tt := range tests {
		got, err := network.SubnetCIDR(tt.vpc, tt.n)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("subnetCIDR(%q, %d) = %q, %v; want %q, error %v", tt.vpc, tt.n, got, err, tt.want, tt.wantErr)
		}
	}
}

// netDeps is a fixed set of dependency records.
type netDeps map[string]*state.Resource

func (d netDeps) Get(key string) *state.Resource { return d[key] }

func TestNetworkSGRulesDesired(t *testing.T) {
	deps := netDeps{kit.KeySG(kit.SGALB): {ID: "sg-alb1"}, kit.KeySG(kit.SGECS): {ID: "sg-ecs1"}}
	tests := []struct {
		name   string
		change func(*config.Config)
		role   string
		want   []string
	}{
		{"alb", func(*config.Config) {}, kit.SGALB,
			[]string{"ingress tcp/80 from 0.0.0.0/0", "ingress tcp/443 from 0.0.0.0/0", "egress tcp/8000 to sg-ecs1"}},
		{"alb ipv6", func(c *config.Config) { c.Network.IPv6 = true }, kit.SGALB,
			[]string{"ingress tcp/80 from 0.0.0.0/0", "ingress tcp/80 from ::/0", "ingress tcp/443 from 0.0.0.0/0", "ingress tcp/443 from ::/0", "egress tcp/8000 to sg-ecs1"}},
		{"ecs", func(*config.Config) {}, kit.SGECS,
			[]string{"ingress tcp/8000 from sg-alb1", "egress tcp/443 to 0.0.0.0/0"}},
		{"ecs more egress", func(c *config.Config) {
			c.Service.ContainerPort = 9000
			c.Service.EgressPorts = []int{443, 5432}
			c.Service.EgressCIDRs = []string{"0.0.0.0/0", "10.1.2.3/16"}
		}, kit.SGECS,
			[]string{"ingress tcp/9000 from sg-alb1", "egress tcp/443 to 0.0.0.0/0", "egress tcp/443 to 10.1.0.0/16", "egress tcp/5432 to 0.0.0.0/0", "egress tcp/5432 to 10.1.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := config.Defaults("prod")
			tt.change(cfg)
			r := &network.SGRules{In: &kit.Inputs{Config: cfg}, Role: tt.role}
			id, rules, ok := r.Desired(deps)
			if !ok || id != deps[kit.KeySG(tt.role)].ID {
				t.Fatalf("desired: group %q, ok %v", id, ok)
			}
			var got []string
			for _, s := range rules {
				got = append(got, s.Direction()+" "+s.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rules\n%v\nwant\n%v", got, tt.want)
			}
			if _, _, ok := r.Desired(netDeps{kit.KeySG(kit.SGALB): {ID: "sg-alb1"}}); ok {
				t.Error("desired is ok without SG-ECS")
			}
		})
	}
}

func TestNetworkRuleDiff(t *testing.T) {
	g := &ec2types.SecurityGroup{
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}, UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-x"), UserId: aws.String("123")}}}},
		IpPermissionsEgress: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), FromPort: aws.Int32(-1), ToPort: aws.Int32(-1),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
	}
	want := []network.SGRule{
		{Proto: "tcp", From: 80, To: 80, Peer: "0.0.0.0/0"},
		{Proto: "tcp", From: 443, To: 443, Peer: "0.0.0.0/0"},
		{Egress: true, Proto: "tcp", From: 8000, To: 8000, Peer: "sg-e"},
	}
	missing, extra := network.RuleDiff(network.LiveRules(g), want)
	got := network.RuleChanges(missing, extra)
	wantChanges := []engine.Change{
		{Field: "egress", To: "tcp/8000 to sg-e"},
		{Field: "egress", From: "all to 0.0.0.0/0"},
		{Field: "ingress", To: "tcp/443 from 0.0.0.0/0"},
		{Field: "ingress", From: "tcp/80 from sg-x"},
	}
	if !slices.Equal(got, wantChanges) {
		t.Errorf("changes\n%v\nwant\n%v", got, wantChanges)
	}
	// What is revoked must be exactly the rule, rebuilt without the described read-only fields.
	p := extra[0].Permission()
	if len(p.UserIdGroupPairs) != 1 || aws.ToString(p.UserIdGroupPairs[0].GroupId) != "sg-x" || p.UserIdGroupPairs[0].UserId != nil || len(p.IpRanges) != 0 {
		t.Errorf("permission of %s = %+v", extra[0], p)
	}
	if p := (network.SGRule{Egress: true, Proto: "-1", Peer: "::/0"}).Permission(); p.FromPort != nil || len(p.Ipv6Ranges) != 1 {
		t.Errorf("all-traffic IPv6 permission = %+v", p)
	}
}

// TestNetworkDependencies pins the graph: each edge is one AWS needs for creation, and
// reversed, for teardown (a wrong one the emulator would never notice).
func TestNetworkDependencies(t *testing.T) {
	common := map[string][]string{
		"network/kms-key":          nil,
		"network/vpc":              nil,
		"network/igw":              {"network/vpc"},
		"network/subnet-public-a":  {"network/vpc"},
		"network/subnet-public-b":  {"network/vpc"},
		"network/subnet-private-a": {"network/vpc"},
		"network/subnet-private-b": {"network/vpc"},
		"network/eip-nat-a":        nil,
		"network/nat-a":            {"network/subnet-public-a", "network/eip-nat-a", "network/igw"},
		"network/rt-public":        {"network/vpc", "network/igw", "network/subnet-public-a", "network/subnet-public-b"},
		"network/rt-private-a":     {"network/vpc", "network/nat-a", "network/subnet-private-a"},
		"network/sg-alb":           {"network/vpc"},
		"network/sg-ecs":           {"network/vpc", "network/sg-alb"},
		"network/sg-alb-rules":     {"network/sg-alb", "network/sg-ecs"},
		"network/sg-ecs-rules":     {"network/sg-alb", "network/sg-ecs"},
		"network/alb":              {"network/subnet-public-a", "network/subnet-public-b", "network/sg-alb", "network/igw"},
		"network/tg":               {"network/vpc"},
		"network/listener-http":    {"network/alb", "network/tg"},
		"network/default-sg":       {"network/vpc"},
		"network/acl-public":       {"network/vpc", "network/subnet-public-a", "network/subnet-public-b"},
		"network/acl-private":      {"network/vpc", "network/subnet-private-a", "network/subnet-private-b"},
		"network/default-acl":      {"network/vpc", "network/acl-public", "network/acl-private"},
	}
	with := func(extra map[string][]string) map[string][]string {
		m := maps.Clone(common)
		maps.Copy(m, extra)
		return m
	}
	tests := []struct {
		env  string
		want map[string][]string
	}{
		{"prod", with(map[string][]string{
			"network/eip-nat-b":      nil,
			"network/nat-b":          {"network/subnet-public-b", "network/eip-nat-b", "network/igw"},
			"network/rt-private-b":   {"network/vpc", "network/nat-b", "network/subnet-private-b"},
			"network/flow-log-group": {"network/kms-key"},
			"network/flow-log-role":  {"network/flow-log-group"},
			"network/flow-log":       {"network/vpc", "network/flow-log-group", "network/flow-log-role"},
		})},
		{"dev", with(map[string][]string{
			"network/rt-private-b": {"network/vpc", "network/nat-a", "network/subnet-private-b"},
		})},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			in, _ := phasetest.NewTestInputs(t, tt.env, nil)
			got := map[string][]string{}
			types := map[string]string{}
			for _, r := range phasetest.Declared(t, in, "network") {
				got[r.Key()] = r.DependsOn()
				types[r.Key()] = r.Type()
			}
			if !maps.EqualFunc(got, tt.want, slices.Equal) {
				for _, k := range slices.Sorted(maps.Keys(tt.want)) {
					if !slices.Equal(got[k], tt.want[k]) {
						t.Errorf("%s depends on %v, want %v", k, got[k], tt.want[k])
					}
				}
				for k := range got {
					if _, ok := tt.want[k]; !ok {
						t.Errorf("unexpected resource %s", k)
					}
				}
			}
			for k, want := range map[string]string{"network/subnet-private-b": "ec2:subnet", "network/igw": "ec2:internet-gateway", "network/eip-nat-a": "ec2:eip",
				"network/nat-a": "ec2:nat-gateway", "network/rt-public": "ec2:route-table", "network/sg-ecs": "ec2:security-group",
				"network/sg-ecs-rules": "ec2:security-group-rules", "network/alb": "elbv2:load-balancer", "network/tg": "elbv2:target-group",
				"network/listener-http": "elbv2:listener", "network/default-sg": "ec2:default-security-group", "network/acl-private": "ec2:network-acl"} {
				if types[k] != want {
					t.Errorf("%s has type %q, want %q", k, types[k], want)
				}
			}
		})
	}
}

func TestNetworkOutputs(t *testing.T) {
	doc := &state.Document{Resources: map[string]*state.Resource{}}
	if out := network.NetworkOutputs(doc); out != nil {
		t.Errorf("outputs without an ALB = %v", out)
	}
	doc.Resources[kit.KeyALB] = &state.Resource{Attrs: map[string]string{"dns_name": "x.elb.amazonaws.com"}}
	want := map[string]string{"alb_dns": "x.elb.amazonaws.com", "url": "http://x.elb.amazonaws.com"}
	if out := network.NetworkOutputs(doc); !maps.Equal(out, want) {
		t.Errorf("outputs = %v, want %v", out, want)
	}
}
