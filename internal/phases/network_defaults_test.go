package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// aclLines renders an ACL's rules independently of the code under test, AWS's fixed
// deny-all rules left out: "in 100 tcp 443-443 0.0.0.0/0".
func aclLines(acl ec2types.NetworkAcl) []string {
	var out []string
	for _, e := range acl.Entries {
		n := aws.ToInt32(e.RuleNumber)
		if n >= 32767 {
			continue
		}
		dir := "in"
		if aws.ToBool(e.Egress) {
			dir = "out"
		}
		what := "all"
		if aws.ToString(e.Protocol) != "-1" {
			what = fmt.Sprintf("proto%s %d-%d", aws.ToString(e.Protocol), aws.ToInt32(e.PortRange.From), aws.ToInt32(e.PortRange.To))
			what = strings.Replace(what, "proto6", "tcp", 1)
		}
		if e.RuleAction != ec2types.RuleActionAllow {
			what = string(e.RuleAction) + " " + what
		}
		out = append(out, fmt.Sprintf("%s %d %s %s%s", dir, n, what, aws.ToString(e.CidrBlock), aws.ToString(e.Ipv6CidrBlock)))
	}
	sort.Strings(out)
	return out
}

// aclAllows evaluates a stateless ACL as AWS does: the lowest-numbered rule matching the
// packet's direction, protocol (TCP here), destination port and peer address decides;
// nothing matching means deny. The peer is the source of an inbound packet and the
// destination of an outbound one.
func aclAllows(acl ec2types.NetworkAcl, egress bool, peer string, port int32) bool {
	entries := slices.Clone(acl.Entries)
	slices.SortFunc(entries, func(a, b ec2types.NetworkAclEntry) int {
		return int(aws.ToInt32(a.RuleNumber) - aws.ToInt32(b.RuleNumber))
	})
	ip := netip.MustParseAddr(peer)
	for _, e := range entries {
		if aws.ToBool(e.Egress) != egress {
			continue
		}
		cidr := aws.ToString(e.CidrBlock) + aws.ToString(e.Ipv6CidrBlock)
		if p, err := netip.ParsePrefix(cidr); err != nil || !p.Contains(ip) {
			continue
		}
		switch aws.ToString(e.Protocol) {
		case "-1":
		case "6":
			if port < aws.ToInt32(e.PortRange.From) || port > aws.ToInt32(e.PortRange.To) {
				continue
			}
		default:
			continue
		}
		return e.RuleAction == ec2types.RuleActionAllow
	}
	return false
}

// checkNetworkDefaults verifies, through the AWS API, the network's defaults: an empty
// default security group, the two tiers' ACLs (rules, and the subnets on them) letting
// through exactly the design's traffic, and prod's flow logs.
func checkNetworkDefaults(t *testing.T, in *kit.Inputs, env string, inv *netInventory) {
	t.Helper()
	ctx := context.Background()
	vpcID := aws.ToString(inv.vpcs[0].VpcId)
	sgs, err := in.AWS.EC2().DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("%s: the default security group of %s: %v, %v", env, vpcID, sgs, err)
	}
	if rules := netRules(sgs.SecurityGroups[0]); len(rules) != 0 {
		t.Errorf("%s: the default security group has rules %v, want none", env, rules)
	}

	defs, err := in.AWS.EC2().DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("default"), Values: []string{"true"}}}})
	if err != nil || len(defs.NetworkAcls) != 1 {
		t.Fatalf("%s: the default network ACL of %s: %v, %v", env, vpcID, defs, err)
	}
	if rules, subnets := aclLines(defs.NetworkAcls[0]), defs.NetworkAcls[0].Associations; len(rules)+len(subnets) != 0 {
		t.Errorf("%s: the default network ACL has rules %v and subnets %+v, want none", env, rules, subnets)
	}

	pub, priv := inv.acls[network.KeyACLPublic], inv.acls[network.KeyACLPrivate]
	if len(inv.acls) != 2 || pub.NetworkAclId == nil || priv.NetworkAclId == nil {
		t.Fatalf("%s: network ACLs %v, want acl-public and acl-private", env, slices.Sorted(maps.Keys(inv.acls)))
	}
	wantPub := netSorted("in 100 tcp 443-443 0.0.0.0/0", "in 110 tcp 80-80 0.0.0.0/0", "in 120 all 10.0.0.0/16", "in 130 tcp 1024-65535 0.0.0.0/0",
		"out 100 all 10.0.0.0/16", "out 110 tcp 443-443 0.0.0.0/0", "out 120 tcp 1024-65535 0.0.0.0/0")
	wantPriv := netSorted("in 100 all 10.0.0.0/16", "in 110 tcp 1024-65535 0.0.0.0/0", "out 100 all 10.0.0.0/16", "out 110 tcp 443-443 0.0.0.0/0")
	for _, c := range []struct {
		acl  ec2types.NetworkAcl
		want []string
		tier string
	}{{pub, wantPub, "public"}, {priv, wantPriv, "private"}} {
		if got := aclLines(c.acl); !slices.Equal(got, c.want) {
			t.Errorf("%s: %s ACL rules\n%v\nwant\n%v", env, c.tier, got, c.want)
		}
		if aws.ToString(c.acl.VpcId) != vpcID || aws.ToBool(c.acl.IsDefault) {
			t.Errorf("%s: %s ACL in %s (default %v), want a custom ACL of %s", env, c.tier, aws.ToString(c.acl.VpcId), aws.ToBool(c.acl.IsDefault), vpcID)
		}
		var got []string
		for _, a := range c.acl.Associations {
			got = append(got, aws.ToString(a.SubnetId))
		}
		want := netSorted(aws.ToString(inv.subnets["network/subnet-"+c.tier+"-a"].SubnetId), aws.ToString(inv.subnets["network/subnet-"+c.tier+"-b"].SubnetId))
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("%s: %s ACL holds subnets %v, want %v", env, c.tier, got, want)
		}
	}

	// The design's traffic, packet by packet, both ways (ACLs are stateless). The ALB is
	// in public-a, a NAT gateway in public-b, a task in private-a; 203.0.113.7 is a client
	// or a server on the internet; 50000 and 40000 are ephemeral ports.
	const (
		alb, task, nat, internet = "10.0.0.10", "10.0.32.20", "10.0.16.5", "203.0.113.7"
		ephemeral, natPort       = 50000, 40000
	)
	type hop struct {
		acl    ec2types.NetworkAcl
		tier   string
		egress bool
		peer   string
		port   int32
	}
	in_ := func(acl ec2types.NetworkAcl, tier, peer string, port int32) hop {
		return hop{acl, tier, false, peer, port}
	}
	out := func(acl ec2types.NetworkAcl, tier, peer string, port int32) hop {
		return hop{acl, tier, true, peer, port}
	}
	for _, f := range []struct {
		what  string
		hops  []hop
		allow bool
	}{
		{"a client reaches the ALB on 443, and its answer", []hop{in_(pub, "public", internet, 443), out(pub, "public", internet, ephemeral)}, true},
		{"a client reaches the ALB on 80, and its answer", []hop{in_(pub, "public", internet, 80), out(pub, "public", internet, ephemeral)}, true},
		{"the ALB reaches a task on 8000 (requests and health checks), and its answer", []hop{
			out(pub, "public", task, 8000), in_(priv, "private", alb, 8000), out(priv, "private", alb, ephemeral), in_(pub, "public", task, ephemeral)}, true},
		{"a task reaches the internet on 443 through the NAT gateway, and the reply comes back", []hop{
			out(priv, "private", internet, 443), in_(pub, "public", task, 443), out(pub, "public", internet, 443),
			in_(pub, "public", internet, natPort), out(pub, "public", task, ephemeral), in_(priv, "private", internet, ephemeral)}, true},
		{"SSH from the internet into the public subnets", []hop{in_(pub, "public", internet, 22)}, false},
		{"SSH from the internet into the private subnets", []hop{in_(priv, "private", internet, 22)}, false},
		{"a task reaches the internet on 25", []hop{out(priv, "private", internet, 25)}, false},
		{"the NAT gateway forwards to the internet on 25", []hop{out(pub, "public", internet, 25)}, false},
		{"the internet reaches the ALB subnets on 8000", []hop{in_(pub, "public", internet, 8000)}, true}, // ephemeral return range; the ALB's SG refuses it
		{"a client reaches the NAT subnet on 3306", []hop{in_(pub, "public", internet, 3306)}, true},      // likewise: nothing listens, the SGs refuse
		{"the internet on a low port into the private subnets", []hop{in_(priv, "private", internet, 443)}, false},
	} {
		allowed := true
		var refusedAt string
		for _, h := range f.hops {
			if !aclAllows(h.acl, h.egress, h.peer, h.port) {
				allowed = false
				refusedAt = fmt.Sprintf("%s egress=%v peer %s port %d", h.tier, h.egress, h.peer, h.port)
				break
			}
		}
		if allowed != f.allow {
			t.Errorf("%s: %s: allowed %v (refused at %s), want %v", env, f.what, allowed, refusedAt, f.allow)
		}
	}

	if env != "prod" {
		if len(inv.flowLogs) != 0 {
			t.Errorf("%s: flow logs %+v, want none (network.flow_logs is off)", env, inv.flowLogs)
		}
		return
	}
	if len(inv.flowLogs) != 1 {
		t.Fatalf("%s: %d flow logs, want 1", env, len(inv.flowLogs))
	}
	fl := inv.flowLogs[0]
	role := "arn:aws:iam::123456789012:role/fastapi-vars-prod-flow-logs"
	if aws.ToString(fl.ResourceId) != vpcID || fl.TrafficType != ec2types.TrafficTypeAll || fl.LogDestinationType != ec2types.LogDestinationTypeCloudWatchLogs ||
		aws.ToString(fl.LogGroupName) != "/aws/vpc/flow-logs/fastapi-vars-prod" || aws.ToString(fl.DeliverLogsPermissionArn) != role {
		t.Errorf("%s: flow log on %s, %s traffic to %s %s as %s; want %s, ALL to cloud-watch-logs /aws/vpc/flow-logs/fastapi-vars-prod as %s", env,
			aws.ToString(fl.ResourceId), fl.TrafficType, fl.LogDestinationType, aws.ToString(fl.LogGroupName), aws.ToString(fl.DeliverLogsPermissionArn), vpcID, role)
	}
	groups, err := in.AWS.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/vpc/flow-logs/fastapi-vars-prod")})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 30 {
		t.Errorf("%s: flow log groups %+v (%v), want one kept 30 days", env, groups, err)
	}
	r, err := in.AWS.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-flow-logs")})
	if err != nil {
		t.Fatal(err)
	}
	trust, err := kit.DecodePolicy(aws.ToString(r.Role.AssumeRolePolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Principal map[string]string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(trust), &doc); err != nil || len(doc.Statement) != 1 {
		t.Fatalf("%s: flow log role trust %s: %v", env, trust, err)
	}
	st := doc.Statement[0]
	if st.Principal["Service"] != "vpc-flow-logs.amazonaws.com" || st.Condition["StringEquals"]["aws:SourceAccount"] != "123456789012" ||
		st.Condition["ArnLike"]["aws:SourceArn"] != "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*" {
		t.Errorf("%s: flow log role trust %s: want vpc-flow-logs.amazonaws.com for account 123456789012's flow logs only", env, trust)
	}
	pol, err := in.AWS.IAM().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("fastapi-vars-prod-flow-logs"), PolicyName: aws.String(kinds.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := kit.DecodePolicy(aws.ToString(pol.PolicyDocument))
	groupARN := "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/flow-logs/fastapi-vars-prod:*"
	if !strings.Contains(body, `"Resource":["`+groupARN+`"]`) || strings.Contains(body, `"Resource":["*"]`) || strings.Contains(body, "logs:*") {
		t.Errorf("%s: flow log role policy %s: want writes on %s alone", env, body, groupARN)
	}
}

func TestACLEntries(t *testing.T) {
	tests := map[string]struct {
		public   bool
		cidrs    []string
		ports    []int
		ipv6     bool
		wantRule []string
	}{
		"private, the defaults": {cidrs: []string{"0.0.0.0/0"}, ports: []int{443}, wantRule: []string{
			"ingress rule 100 all from 10.0.0.0/16", "ingress rule 110 tcp 1024-65535 from 0.0.0.0/0",
			"egress rule 100 all to 10.0.0.0/16", "egress rule 110 tcp 443 to 0.0.0.0/0"}},
		"public, two egress CIDRs and ports": {public: true, cidrs: []string{"10.20.0.0/16", "192.168.1.7/24"}, ports: []int{443, 5432}, wantRule: []string{
			"ingress rule 100 tcp 443 from 0.0.0.0/0", "ingress rule 110 tcp 80 from 0.0.0.0/0", "ingress rule 120 all from 10.0.0.0/16",
			"ingress rule 130 tcp 1024-65535 from 10.20.0.0/16", "ingress rule 140 tcp 1024-65535 from 192.168.1.0/24",
			"egress rule 100 all to 10.0.0.0/16", "egress rule 110 tcp 443 to 10.20.0.0/16", "egress rule 120 tcp 5432 to 10.20.0.0/16",
			"egress rule 130 tcp 443 to 192.168.1.0/24", "egress rule 140 tcp 5432 to 192.168.1.0/24", "egress rule 150 tcp 1024-65535 to 0.0.0.0/0"}},
		"public with IPv6": {public: true, cidrs: []string{"0.0.0.0/0", "::/0"}, ports: []int{443}, ipv6: true, wantRule: []string{
			"ingress rule 100 tcp 443 from 0.0.0.0/0", "ingress rule 110 tcp 80 from 0.0.0.0/0", "ingress rule 120 tcp 443 from ::/0", "ingress rule 130 tcp 80 from ::/0",
			"ingress rule 140 all from 10.0.0.0/16", "ingress rule 150 tcp 1024-65535 from 0.0.0.0/0", "ingress rule 160 tcp 1024-65535 from ::/0",
			"egress rule 100 all to 10.0.0.0/16", "egress rule 110 tcp 443 to 0.0.0.0/0", "egress rule 120 tcp 443 to ::/0",
			"egress rule 130 tcp 1024-65535 to 0.0.0.0/0", "egress rule 140 tcp 1024-65535 to ::/0"}},
		"the same CIDR twice makes one rule": {cidrs: []string{"10.1.0.0/16", "10.1.0.0/16"}, ports: []int{443}, wantRule: []string{
			"ingress rule 100 all from 10.0.0.0/16", "ingress rule 110 tcp 1024-65535 from 10.1.0.0/16",
			"egress rule 100 all to 10.0.0.0/16", "egress rule 110 tcp 443 to 10.1.0.0/16"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, e := range network.ACLEntries(tt.public, "10.0.0.0/16", tt.cidrs, tt.ports, tt.ipv6) {
				got = append(got, e.Field()+" "+e.String())
			}
			if !slices.Equal(got, tt.wantRule) {
				t.Errorf("rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.wantRule, "\n"))
			}
		})
	}
}

func TestACLDiff(t *testing.T) {
	want := network.ACLEntries(false, "10.0.0.0/16", []string{"0.0.0.0/0"}, []int{443}, false)
	entry := func(egress bool, n int32, proto, cidr string, from, to int32, action ec2types.RuleAction) ec2types.NetworkAclEntry {
		e := ec2types.NetworkAclEntry{Egress: aws.Bool(egress), RuleNumber: aws.Int32(n), Protocol: aws.String(proto), CidrBlock: aws.String(cidr), RuleAction: action}
		if proto != "-1" {
			e.PortRange = &ec2types.PortRange{From: aws.Int32(from), To: aws.Int32(to)}
		}
		return e
	}
	allow, deny := ec2types.RuleActionAllow, ec2types.RuleActionDeny
	converged := []ec2types.NetworkAclEntry{
		entry(false, 100, "-1", "10.0.0.0/16", 0, 0, allow), entry(false, 110, "6", "0.0.0.0/0", 1024, 65535, allow),
		entry(true, 100, "-1", "10.0.0.0/16", 0, 0, allow), entry(true, 110, "6", "0.0.0.0/0", 443, 443, allow),
		entry(false, 32767, "-1", "0.0.0.0/0", 0, 0, deny), entry(true, 32767, "-1", "0.0.0.0/0", 0, 0, deny),
	}
	subnets := []string{"subnet-a", "subnet-b"}
	assoc := []ec2types.NetworkAclAssociation{{SubnetId: aws.String("subnet-a")}, {SubnetId: aws.String("subnet-b")}}
	tests := map[string]struct {
		entries []ec2types.NetworkAclEntry
		assoc   []ec2types.NetworkAclAssociation
		want    []engine.Change
	}{
		"converged": {entries: converged, assoc: assoc},
		"a rule opened to everything, one removed, a deny added, a subnet moved away": {
			entries: append(slices.Clone(converged[:3]), entry(true, 110, "-1", "0.0.0.0/0", 0, 0, allow), entry(false, 90, "6", "0.0.0.0/0", 22, 22, deny))[1:],
			assoc:   assoc[:1],
			want: []engine.Change{
				{Field: "egress rule 110", From: "all to 0.0.0.0/0", To: "tcp 443 to 0.0.0.0/0"},
				{Field: "ingress rule 100", To: "all from 10.0.0.0/16"},
				{Field: "ingress rule 90", From: "proto deny 6 22 from 0.0.0.0/0"},
				{Field: "association", To: "subnet-b"},
			}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			acl := &ec2types.NetworkAcl{Entries: tt.entries, Associations: tt.assoc}
			if got := network.DiffACL(acl, want, subnets).Changes(network.LiveACLEntries(acl)); !slices.Equal(got, tt.want) {
				t.Errorf("changes\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// TestNetworkDefaultsDriftAndDestroy: a rule added to the default group and to the default
// ACL, a subnet put back on the default ACL, an ACL rule deleted and another opened up, and the flow log deleted
// show in the plan on exactly those resources, and up repairs them. Destroy then gives the
// subnets back to the default ACL before deleting each ACL, deletes the ACLs before the
// subnets and VPC, and the flow log before its role and group (the emulator enforces
// none of it, so the order is read from the calls), and leaves the default group to go
// with the VPC.
func TestNetworkDefaultsDriftAndDestroy(t *testing.T) {
	ctx := context.Background()
	in, _ := newTestInputs(t, "prod", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "network")
	e := in.AWS.EC2()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	defSG, privACL, pubACL := doc.Resources[network.KeyDefaultSG].ID, doc.Resources[network.KeyACLPrivate].ID, doc.Resources[network.KeyACLPublic].ID
	must(e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &defSG, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}))
	defACL, err := network.DefaultACL(ctx, e, doc.Resources[kit.KeyVPC].ID)
	must(nil, err)
	if defACL == nil {
		t.Fatal("the VPC has no default network ACL")
	}
	def := aws.ToString(defACL.NetworkAclId)
	must(e.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: &def, RuleNumber: aws.Int32(100), Egress: aws.Bool(false),
		Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionAllow, CidrBlock: aws.String("0.0.0.0/0")}))
	privB := doc.Resources[kit.KeySubnet(false, 1)].ID
	must(nil, network.MoveSubnetACL(ctx, e, privB, def))
	must(e.DeleteNetworkAclEntry(ctx, &ec2.DeleteNetworkAclEntryInput{NetworkAclId: &privACL, RuleNumber: aws.Int32(110), Egress: aws.Bool(false)}))
	must(e.ReplaceNetworkAclEntry(ctx, &ec2.ReplaceNetworkAclEntryInput{NetworkAclId: &pubACL, RuleNumber: aws.Int32(110), Egress: aws.Bool(false),
		Protocol: aws.String("-1"), RuleAction: ec2types.RuleActionAllow, CidrBlock: aws.String("0.0.0.0/0")}))
	must(e.DeleteFlowLogs(ctx, &ec2.DeleteFlowLogsInput{FlowLogIds: []string{doc.Resources[network.KeyFlowLog].ID}}))

	plan, err := newEngine(t, in).Plan(ctx, declared(t, in, "network"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	got := map[string]string{}
	for _, it := range plan.Items {
		if it.Action != engine.NoOp {
			got[it.Key] = fmt.Sprint(it.Action, " ", it.Changes)
		}
	}
	want := map[string]string{
		network.KeyDefaultSG:  fmt.Sprint(engine.Update, " ", []engine.Change{{Field: "ingress", From: "tcp/22 from 0.0.0.0/0"}}),
		network.KeyACLPrivate: fmt.Sprint(engine.Update, " ", []engine.Change{{Field: "ingress rule 110", To: "tcp 1024-65535 from 0.0.0.0/0"}, {Field: "association", To: privB}}),
		network.KeyACLPublic:  fmt.Sprint(engine.Update, " ", []engine.Change{{Field: "ingress rule 110", From: "all from 0.0.0.0/0", To: "tcp 80 from 0.0.0.0/0"}}),
		network.KeyFlowLog:    fmt.Sprint(engine.Create, " ", []engine.Change(nil)),
		network.KeyDefaultACL: fmt.Sprint(engine.Update, " ", []engine.Change{{Field: "ingress rule 100", From: "all from 0.0.0.0/0"}}),
	}
	if !maps.Equal(got, want) {
		t.Errorf("plan\n%v\nwant\n%v", got, want)
	}
	applyPhases(t, in, doc, "network")
	checkNetworkDefaults(t, in, "prod", netDescribe(t, in, "prod"))
	plan, err = newEngine(t, in).Plan(ctx, declared(t, in, "network"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	if plan.Changed() {
		t.Errorf("plan after repair reports changes: %+v", plan.Items)
	}

	ids := map[string]string{}
	for k, v := range doc.Resources {
		ids[k] = v.ID
	}
	// Replacing an association names it, not the subnet: which is which is read now.
	assocOf := map[string]string{}
	acls, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{pubACL, privACL}})
	must(acls, err)
	for _, acl := range acls.NetworkAcls {
		for _, a := range acl.Associations {
			assocOf[aws.ToString(a.SubnetId)] = aws.ToString(a.NetworkAclAssociationId)
		}
	}
	tr := netTraceIDs(in)
	destroyAll(t, in, doc)
	inv := netDescribe(t, in, "prod")
	if len(inv.acls)+len(inv.flowLogs) != 0 {
		t.Errorf("destroy left network ACLs %v and flow logs %v", slices.Collect(maps.Keys(inv.acls)), inv.flowLogs)
	}
	before := func(a, b string) {
		t.Helper()
		opA, idA, _ := strings.Cut(a, " ")
		opB, idB, _ := strings.Cut(b, " ")
		i, j := tr.last(opA, idA), tr.first(opB, idB)
		if i < 0 || j < 0 || i > j {
			t.Errorf("want %s (call %d) before %s (call %d)", a, i, b, j)
		}
	}
	for _, tier := range []struct {
		acl    string
		public bool
	}{{network.KeyACLPublic, true}, {network.KeyACLPrivate, false}} {
		for i := range 2 {
			subnet := ids[kit.KeySubnet(tier.public, i)]
			before("ReplaceNetworkAclAssociation "+assocOf[subnet]+" "+def, "DeleteNetworkAcl "+ids[tier.acl])
			before("DeleteNetworkAcl "+ids[tier.acl], "DeleteSubnet "+subnet)
		}
		before("DeleteNetworkAcl "+ids[tier.acl], "DeleteVpc "+ids[kit.KeyVPC])
	}
	before("DeleteFlowLogs "+ids[network.KeyFlowLog], "DeleteLogGroup "+ids[network.KeyFlowLogGroup])
	before("DeleteFlowLogs "+ids[network.KeyFlowLog], "DeleteRole "+ids[network.KeyFlowLogRole])
	if tr.first("RevokeSecurityGroupIngress", defSG) >= 0 || tr.first("DeleteSecurityGroup", defSG) >= 0 {
		t.Errorf("destroy touched the default security group %s, which goes with the VPC", defSG)
	}
	if t.Failed() {
		t.Logf("destroy calls:\n%s", strings.Join(tr.calls, "\n"))
	}
}

func TestFlowLogsFollowTheSwitch(t *testing.T) {
	for _, tt := range []struct {
		env string
		on  bool
	}{{"prod", true}, {"hml", false}, {"dev", false}} {
		in, _ := newTestInputs(t, tt.env, nil)
		var keys []string
		for _, r := range declared(t, in, "network") {
			keys = append(keys, r.Key())
		}
		if got := slices.Contains(keys, network.KeyFlowLog) && slices.Contains(keys, network.KeyFlowLogGroup) && slices.Contains(keys, network.KeyFlowLogRole); got != tt.on {
			t.Errorf("%s declares the flow log, its group and role: %v, want %v", tt.env, got, tt.on)
		}
		in.Config.Network.FlowLogs = !tt.on
		keys = nil
		for _, r := range declared(t, in, "network") {
			keys = append(keys, r.Key())
		}
		if got := slices.Contains(keys, network.KeyFlowLog); got == tt.on {
			t.Errorf("%s with network.flow_logs %v declares the flow log: %v", tt.env, !tt.on, got)
		}
	}
}

// netParamIDDefaults names the objects the calls of the network defaults act on.
func netParamIDDefaults(p any) (string, bool) {
	switch v := p.(type) {
	case *ec2.ReplaceNetworkAclAssociationInput:
		return aws.ToString(v.AssociationId) + " " + aws.ToString(v.NetworkAclId), true
	case *ec2.DeleteNetworkAclInput:
		return aws.ToString(v.NetworkAclId), true
	case *ec2.DeleteFlowLogsInput:
		return strings.Join(v.FlowLogIds, ","), true
	case *cloudwatchlogs.DeleteLogGroupInput:
		return aws.ToString(v.LogGroupName), true
	case *iam.DeleteRoleInput:
		return aws.ToString(v.RoleName), true
	}
	return "", false
}

// TestNetworkDefaultsLostAnswers: every answer to the creates of the network ACLs and the
// flow log, and to every move of a subnet between ACLs, is lost after the emulator carried
// the call out (a loopback proxy drops the connection). up still converges with one
// object of each and every subnet on its ACL, and destroy, its answers lost the same way,
// leaves no ACL and no flow log: each lost create is followed by a look, not a second
// create, and each lost move by a look, not a blind repeat naming a replaced association.
func TestNetworkDefaultsLostAnswers(t *testing.T) {
	moto.Reset(t)
	lossy := []string{"CreateNetworkAcl", "CreateFlowLogs", "ReplaceNetworkAclAssociation"}
	proxy := testenv.StartLossyProxy(t, moto.Endpoint, 1, 1.0, func(op string) bool { return slices.Contains(lossy, op) })
	t.Setenv("AWS_ENDPOINT_URL", proxy.URL)
	in, _ := inputsBeside(t, "prod", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "network")
	inv := netDescribe(t, in, "prod")
	checkNetworkDefaults(t, in, "prod", inv)
	sent := map[string]int{}
	for _, w := range proxy.Writes() {
		if !w.Lost {
			t.Errorf("%s kept its answer", w.Op)
		}
		sent[w.Op]++
	}
	// Four subnets leave the default ACL; a create is sent once per resource.
	if want := map[string]int{"CreateNetworkAcl": 2, "CreateFlowLogs": 1, "ReplaceNetworkAclAssociation": 4}; !maps.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
	destroyAll(t, in, doc)
	if inv := netDescribe(t, in, "prod"); len(inv.acls)+len(inv.flowLogs) != 0 {
		t.Errorf("destroy left network ACLs %v and flow logs %v", slices.Collect(maps.Keys(inv.acls)), inv.flowLogs)
	}
}
