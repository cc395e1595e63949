package phasetest

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
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
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

// CheckNetworkDefaults verifies, through the AWS API, the network's defaults: an empty
// default security group, the two tiers' ACLs (rules, and the subnets on them) letting
// through exactly the design's traffic, and prod's flow logs.
func CheckNetworkDefaults(t *testing.T, in *kit.Inputs, env string, inv *netInventory) {
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

	pub, priv := inv.Acls[network.KeyACLPublic], inv.Acls[network.KeyACLPrivate]
	if len(inv.Acls) != 2 || pub.NetworkAclId == nil || priv.NetworkAclId == nil {
		t.Fatalf("%s: network ACLs %v, want acl-public and acl-private", env, slices.Sorted(maps.Keys(inv.Acls)))
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
		if len(inv.FlowLogs) != 0 {
			t.Errorf("%s: flow logs %+v, want none (network.flow_logs is off)", env, inv.FlowLogs)
		}
		return
	}
	if len(inv.FlowLogs) != 1 {
		t.Fatalf("%s: %d flow logs, want 1", env, len(inv.FlowLogs))
	}
	fl := inv.FlowLogs[0]
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

// netInventory is what the AWS API, not state, says one environment's network holds.
type netInventory struct {
	vpcs      []ec2types.Vpc
	subnets   map[string]ec2types.Subnet // by fvdeploy:key
	igws      []ec2types.InternetGateway
	nats      map[string]ec2types.NatGateway
	eips      map[string]ec2types.Address
	rts       map[string]ec2types.RouteTable
	sgs       map[string]ec2types.SecurityGroup
	Albs      []elbtypes.LoadBalancer
	tgs       []elbtypes.TargetGroup
	listeners []elbtypes.Listener
	Acls      map[string]ec2types.NetworkAcl // by fvdeploy:key
	FlowLogs  []ec2types.FlowLog
}

func (n *netInventory) Count() int {
	return len(n.vpcs) + len(n.subnets) + len(n.igws) + len(n.nats) + len(n.eips) + len(n.rts) + len(n.sgs) +
		len(n.Albs) + len(n.tgs) + len(n.listeners) + len(n.Acls) + len(n.FlowLogs)
}

func netTagValue(tags []ec2types.Tag, k string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == k {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// NetDescribe lists the objects carrying env's tags, one describe per kind.
func NetDescribe(t *testing.T, in *kit.Inputs, env string) *netInventory {
	t.Helper()
	ctx := context.Background()
	e, lb := in.AWS.EC2(), in.AWS.ELB()
	filters := []ec2types.Filter{{Name: aws.String("tag:fvdeploy:env"), Values: []string{env}}}
	inv := &netInventory{subnets: map[string]ec2types.Subnet{}, nats: map[string]ec2types.NatGateway{}, eips: map[string]ec2types.Address{},
		rts: map[string]ec2types.RouteTable{}, sgs: map[string]ec2types.SecurityGroup{}, Acls: map[string]ec2types.NetworkAcl{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: filters})
	must(err)
	inv.vpcs = vpcs.Vpcs
	subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: filters})
	must(err)
	for _, s := range subnets.Subnets {
		inv.subnets[netTagValue(s.Tags, "fvdeploy:key")] = s
	}
	igws, err := e.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: filters})
	must(err)
	inv.igws = igws.InternetGateways
	// moto ignores tag filters on NAT gateways and keeps deleted ones listed (state
	// "deleted", as AWS does for about an hour): both are filtered here.
	nats, err := e.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{})
	must(err)
	for _, g := range nats.NatGateways {
		if netTagValue(g.Tags, "fvdeploy:env") == env && g.State != ec2types.NatGatewayStateDeleted {
			inv.nats[netTagValue(g.Tags, "fvdeploy:key")] = g
		}
	}
	eips, err := e.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: filters})
	must(err)
	for _, a := range eips.Addresses {
		inv.eips[netTagValue(a.Tags, "fvdeploy:key")] = a
	}
	rts, err := e.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: filters})
	must(err)
	for _, r := range rts.RouteTables {
		inv.rts[netTagValue(r.Tags, "fvdeploy:key")] = r
	}
	sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	must(err)
	for _, g := range sgs.SecurityGroups {
		inv.sgs[netTagValue(g.Tags, "fvdeploy:key")] = g
	}
	acls, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: filters})
	must(err)
	for _, a := range acls.NetworkAcls {
		inv.Acls[netTagValue(a.Tags, "fvdeploy:key")] = a
	}
	fls, err := e.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{Filter: filters})
	must(err)
	inv.FlowLogs = fls.FlowLogs
	ours := func(arn string) bool {
		out, err := lb.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
		must(err)
		for _, d := range out.TagDescriptions {
			for _, tag := range d.Tags {
				if aws.ToString(tag.Key) == "fvdeploy:env" && aws.ToString(tag.Value) == env {
					return true
				}
			}
		}
		return false
	}
	albs, err := lb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	must(err)
	for _, a := range albs.LoadBalancers {
		if ours(aws.ToString(a.LoadBalancerArn)) {
			inv.Albs = append(inv.Albs, a)
			ls, err := lb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: a.LoadBalancerArn})
			must(err)
			inv.listeners = append(inv.listeners, ls.Listeners...)
		}
	}
	tgs, err := lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	must(err)
	for _, g := range tgs.TargetGroups {
		if ours(aws.ToString(g.TargetGroupArn)) {
			inv.tgs = append(inv.tgs, g)
		}
	}
	return inv
}

// netRules renders a group's rules independently of the code under test, one line per
// peer: "in tcp 80-80 0.0.0.0/0".
func netRules(g ec2types.SecurityGroup) []string {
	var out []string
	for dir, perms := range map[string][]ec2types.IpPermission{"in": g.IpPermissions, "out": g.IpPermissionsEgress} {
		for _, p := range perms {
			head := fmt.Sprintf("%s %s %d-%d", dir, aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort))
			if aws.ToString(p.IpProtocol) == "-1" {
				head = dir + " all"
			}
			for _, r := range p.IpRanges {
				out = append(out, head+" "+aws.ToString(r.CidrIp))
			}
			for _, r := range p.Ipv6Ranges {
				out = append(out, head+" "+aws.ToString(r.CidrIpv6))
			}
			for _, r := range p.UserIdGroupPairs {
				out = append(out, head+" "+aws.ToString(r.GroupId))
			}
			for _, r := range p.PrefixListIds {
				out = append(out, head+" "+aws.ToString(r.PrefixListId))
			}
		}
	}
	sort.Strings(out)
	return out
}

func netSorted(s ...string) []string { slices.Sort(s); return s }

// CheckNetwork verifies, through the AWS API, that env's network is the one of the design.
func CheckNetwork(t *testing.T, in *kit.Inputs, env string, nats int, deletionProtection bool) *netInventory {
	t.Helper()
	ctx := context.Background()
	inv := NetDescribe(t, in, env)
	if len(inv.vpcs) != 1 {
		t.Fatalf("%s: %d VPCs, want 1", env, len(inv.vpcs))
	}
	vpcID := aws.ToString(inv.vpcs[0].VpcId)
	for _, attr := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
		out, err := in.AWS.EC2().DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: &vpcID, Attribute: attr})
		if err != nil {
			t.Fatal(err)
		}
		on := out.EnableDnsSupport
		if attr == ec2types.VpcAttributeNameEnableDnsHostnames {
			on = out.EnableDnsHostnames
		}
		if on == nil || !aws.ToBool(on.Value) {
			t.Errorf("%s: VPC %s is off", env, attr)
		}
	}

	if len(inv.subnets) != 4 {
		t.Fatalf("%s: subnets %v, want 4", env, slices.Sorted(maps.Keys(inv.subnets)))
	}
	azs := map[string]bool{}
	for _, l := range []string{"a", "b"} {
		pub, priv := inv.subnets["network/subnet-public-"+l], inv.subnets["network/subnet-private-"+l]
		if aws.ToString(pub.AvailabilityZone) == "" || pub.AvailabilityZone == nil || aws.ToString(pub.AvailabilityZone) != aws.ToString(priv.AvailabilityZone) {
			t.Errorf("%s: AZ %s: public subnet in %q, private in %q", env, l, aws.ToString(pub.AvailabilityZone), aws.ToString(priv.AvailabilityZone))
		}
		azs[aws.ToString(pub.AvailabilityZone)] = true
		for _, s := range []ec2types.Subnet{pub, priv} {
			if aws.ToString(s.VpcId) != vpcID || aws.ToBool(s.MapPublicIpOnLaunch) {
				t.Errorf("%s: subnet %s: vpc %s, maps public IPs %v", env, aws.ToString(s.SubnetId), aws.ToString(s.VpcId), aws.ToBool(s.MapPublicIpOnLaunch))
			}
		}
	}
	if len(azs) != 2 {
		t.Errorf("%s: subnets in AZs %v, want 2 distinct", env, slices.Sorted(maps.Keys(azs)))
	}
	cidrs := map[string]string{}
	for k, s := range inv.subnets {
		cidrs[k] = aws.ToString(s.CidrBlock)
	}
	wantCIDRs := map[string]string{"network/subnet-public-a": "10.0.0.0/20", "network/subnet-public-b": "10.0.16.0/20",
		"network/subnet-private-a": "10.0.32.0/20", "network/subnet-private-b": "10.0.48.0/20"}
	if !maps.Equal(cidrs, wantCIDRs) {
		t.Errorf("%s: subnet CIDRs %v, want %v", env, cidrs, wantCIDRs)
	}

	if len(inv.igws) != 1 || len(inv.igws[0].Attachments) != 1 || aws.ToString(inv.igws[0].Attachments[0].VpcId) != vpcID {
		t.Fatalf("%s: internet gateways %+v, want 1 attached to %s", env, inv.igws, vpcID)
	}
	igwID := aws.ToString(inv.igws[0].InternetGatewayId)

	if len(inv.nats) != nats || len(inv.eips) != nats {
		t.Fatalf("%s: %d NAT gateways and %d Elastic IPs, want %d of each", env, len(inv.nats), len(inv.eips), nats)
	}
	natIDs := map[string]string{} // AZ letter -> NAT ID
	for i := range nats {
		l := kit.AZLetters[i]
		g := inv.nats["network/nat-"+l]
		if g.State != ec2types.NatGatewayStateAvailable || aws.ToString(g.SubnetId) != aws.ToString(inv.subnets["network/subnet-public-"+l].SubnetId) {
			t.Errorf("%s: nat-%s is %s in subnet %s, want available in subnet-public-%s", env, l, g.State, aws.ToString(g.SubnetId), l)
		}
		if got, want := network.NATAllocation(&g), aws.ToString(inv.eips["network/eip-nat-"+l].AllocationId); got != want || want == "" {
			t.Errorf("%s: nat-%s uses Elastic IP %q, want eip-nat-%s (%q)", env, l, got, l, want)
		}
		natIDs[l] = aws.ToString(g.NatGatewayId)
	}

	if len(inv.rts) != 3 {
		t.Fatalf("%s: route tables %v, want 3", env, slices.Sorted(maps.Keys(inv.rts)))
	}
	checkRT := func(key, target string, subnetKeys ...string) {
		t.Helper()
		rt := inv.rts[key]
		var routes []string
		for _, r := range rt.Routes {
			if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" {
				routes = append(routes, network.RouteTarget(r))
			}
		}
		if !slices.Equal(routes, []string{target}) {
			t.Errorf("%s: %s routes 0.0.0.0/0 to %v, want [%s]", env, key, routes, target)
		}
		var got, want []string
		for _, a := range rt.Associations {
			if !aws.ToBool(a.Main) {
				got = append(got, aws.ToString(a.SubnetId))
			}
		}
		for _, k := range subnetKeys {
			want = append(want, aws.ToString(inv.subnets[k].SubnetId))
		}
		if slices.Sort(got); !slices.Equal(got, netSorted(want...)) {
			t.Errorf("%s: %s is associated with %v, want %v", env, key, got, want)
		}
	}
	checkRT("network/rt-public", igwID, "network/subnet-public-a", "network/subnet-public-b")
	for i, l := range []string{"a", "b"} {
		nat := natIDs[kit.AZLetters[min(i, nats-1)]]
		checkRT("network/rt-private-"+l, nat, "network/subnet-private-"+l)
	}

	sgALB, sgECS := inv.sgs["network/sg-alb"], inv.sgs["network/sg-ecs"]
	if len(inv.sgs) != 2 || sgALB.GroupId == nil || sgECS.GroupId == nil {
		t.Fatalf("%s: security groups %v, want sg-alb and sg-ecs", env, slices.Sorted(maps.Keys(inv.sgs)))
	}
	albID, ecsID := aws.ToString(sgALB.GroupId), aws.ToString(sgECS.GroupId)
	if got, want := netRules(sgALB), netSorted("in tcp 80-80 0.0.0.0/0", "in tcp 443-443 0.0.0.0/0", "out tcp 8000-8000 "+ecsID); !slices.Equal(got, want) {
		t.Errorf("%s: SG-ALB rules\n%v\nwant\n%v", env, got, want)
	}
	if got, want := netRules(sgECS), netSorted("in tcp 8000-8000 "+albID, "out tcp 443-443 0.0.0.0/0"); !slices.Equal(got, want) {
		t.Errorf("%s: SG-ECS rules\n%v\nwant\n%v", env, got, want)
	}
	if aws.ToString(sgALB.GroupName) != "fastapi-vars-"+env+"-alb" || aws.ToString(sgECS.GroupName) != "fastapi-vars-"+env+"-ecs" {
		t.Errorf("%s: group names %s, %s", env, aws.ToString(sgALB.GroupName), aws.ToString(sgECS.GroupName))
	}
	CheckNetworkDefaults(t, in, env, inv)

	if len(inv.Albs) != 1 || len(inv.tgs) != 1 || len(inv.listeners) != 1 {
		t.Fatalf("%s: %d ALBs, %d target groups, %d listeners; want 1 of each", env, len(inv.Albs), len(inv.tgs), len(inv.listeners))
	}
	lb := inv.Albs[0]
	var lbSubnets []string
	for _, az := range lb.AvailabilityZones {
		lbSubnets = append(lbSubnets, aws.ToString(az.SubnetId))
	}
	slices.Sort(lbSubnets)
	wantSubnets := netSorted(aws.ToString(inv.subnets["network/subnet-public-a"].SubnetId), aws.ToString(inv.subnets["network/subnet-public-b"].SubnetId))
	if aws.ToString(lb.LoadBalancerName) != "fastapi-vars-"+env || lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternetFacing ||
		lb.Type != elbtypes.LoadBalancerTypeEnumApplication || !slices.Equal(lbSubnets, wantSubnets) || !slices.Equal(lb.SecurityGroups, []string{albID}) {
		t.Errorf("%s: ALB %s %s %s in %v with %v; want fastapi-vars-%s internet-facing application in %v with [%s]", env,
			aws.ToString(lb.LoadBalancerName), lb.Scheme, lb.Type, lbSubnets, lb.SecurityGroups, env, wantSubnets, albID)
	}
	attrs, err := in.AWS.ELB().DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: lb.LoadBalancerArn})
	if err != nil {
		t.Fatal(err)
	}
	gotAttrs := map[string]string{}
	for _, a := range attrs.Attributes {
		gotAttrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if gotAttrs[network.AttrDropInvalidHeaders] != "true" || gotAttrs[network.AttrDeletionProtection] != fmt.Sprint(deletionProtection) {
		t.Errorf("%s: ALB attributes drop invalid headers %q, deletion protection %q; want true, %v", env,
			gotAttrs[network.AttrDropInvalidHeaders], gotAttrs[network.AttrDeletionProtection], deletionProtection)
	}

	tg := inv.tgs[0]
	if tg.Protocol != elbtypes.ProtocolEnumHttp || aws.ToInt32(tg.Port) != 8000 || tg.TargetType != elbtypes.TargetTypeEnumIp || aws.ToString(tg.VpcId) != vpcID ||
		aws.ToString(tg.HealthCheckPath) != "/health" || aws.ToInt32(tg.HealthCheckIntervalSeconds) != 5 || aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 4 || aws.ToInt32(tg.HealthyThresholdCount) != 2 ||
		aws.ToInt32(tg.UnhealthyThresholdCount) != 3 || tg.Matcher == nil || aws.ToString(tg.Matcher.HttpCode) != "200" {
		t.Errorf("%s: target group %+v", env, tg)
	}
	tgAttrs, err := in.AWS.ELB().DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range tgAttrs.Attributes {
		if aws.ToString(a.Key) == kinds.AttrDeregistrationDelay && aws.ToString(a.Value) != "5" {
			t.Errorf("%s: deregistration delay %s, want 5", env, aws.ToString(a.Value))
		}
	}

	l := inv.listeners[0]
	if aws.ToInt32(l.Port) != 80 || l.Protocol != elbtypes.ProtocolEnumHttp || kit.ActionString(l.DefaultActions) != "forward "+aws.ToString(tg.TargetGroupArn) {
		t.Errorf("%s: listener %d %s %s, want 80 HTTP forward to %s", env, aws.ToInt32(l.Port), l.Protocol, kit.ActionString(l.DefaultActions), aws.ToString(tg.TargetGroupArn))
	}
	return inv
}
