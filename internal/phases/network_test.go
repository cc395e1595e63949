package phases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// netInventory is what the AWS API, not state, says one environment's network holds.
type netInventory struct {
	vpcs      []ec2types.Vpc
	subnets   map[string]ec2types.Subnet // by fvdeploy:key
	igws      []ec2types.InternetGateway
	nats      map[string]ec2types.NatGateway
	eips      map[string]ec2types.Address
	rts       map[string]ec2types.RouteTable
	sgs       map[string]ec2types.SecurityGroup
	albs      []elbtypes.LoadBalancer
	tgs       []elbtypes.TargetGroup
	listeners []elbtypes.Listener
	acls      map[string]ec2types.NetworkAcl // by fvdeploy:key
	flowLogs  []ec2types.FlowLog
}

func (n *netInventory) count() int {
	return len(n.vpcs) + len(n.subnets) + len(n.igws) + len(n.nats) + len(n.eips) + len(n.rts) + len(n.sgs) +
		len(n.albs) + len(n.tgs) + len(n.listeners) + len(n.acls) + len(n.flowLogs)
}

func netTagValue(tags []ec2types.Tag, k string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == k {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// netDescribe lists the objects carrying env's tags, one describe per kind.
func netDescribe(t *testing.T, in *kit.Inputs, env string) *netInventory {
	t.Helper()
	ctx := context.Background()
	e, lb := in.AWS.EC2(), in.AWS.ELB()
	filters := []ec2types.Filter{{Name: aws.String("tag:fvdeploy:env"), Values: []string{env}}}
	inv := &netInventory{subnets: map[string]ec2types.Subnet{}, nats: map[string]ec2types.NatGateway{}, eips: map[string]ec2types.Address{},
		rts: map[string]ec2types.RouteTable{}, sgs: map[string]ec2types.SecurityGroup{}, acls: map[string]ec2types.NetworkAcl{}}
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
		inv.acls[netTagValue(a.Tags, "fvdeploy:key")] = a
	}
	fls, err := e.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{Filter: filters})
	must(err)
	inv.flowLogs = fls.FlowLogs
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
			inv.albs = append(inv.albs, a)
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

// checkNetwork verifies, through the AWS API, that env's network is the one of the design.
func checkNetwork(t *testing.T, in *kit.Inputs, env string, nats int, deletionProtection bool) *netInventory {
	t.Helper()
	ctx := context.Background()
	inv := netDescribe(t, in, env)
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
	checkNetworkDefaults(t, in, env, inv)

	if len(inv.albs) != 1 || len(inv.tgs) != 1 || len(inv.listeners) != 1 {
		t.Fatalf("%s: %d ALBs, %d target groups, %d listeners; want 1 of each", env, len(inv.albs), len(inv.tgs), len(inv.listeners))
	}
	lb := inv.albs[0]
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

// TestNetworkApply builds prod and dev side by side in one account and checks each through
// the AWS API: neither adopts nor disturbs the other's objects.
func TestNetworkApply(t *testing.T) {
	prod, _ := newTestInputs(t, "prod", nil)
	dev, _ := inputsBeside(t, "dev", nil)
	prodDoc, devDoc := newDoc(prod), newDoc(dev)
	applyPhases(t, prod, prodDoc, "network")
	prodIDs := netRecordIDs(prodDoc)
	applyPhases(t, dev, devDoc, "network")

	for _, tt := range []struct {
		env                string
		in                 *kit.Inputs
		doc                *state.Document
		nats               int
		deletionProtection bool
	}{
		{"prod", prod, prodDoc, 2, true},
		{"dev", dev, devDoc, 1, false},
	} {
		t.Run(tt.env, func(t *testing.T) {
			inv := checkNetwork(t, tt.in, tt.env, tt.nats, tt.deletionProtection)
			// The two rules resources are parts of the groups, not objects of their own, and
			// the default group and ACL are AWS's, the environment's KMS key is no EC2 object;
			// prod's flow logs add their log group and role.
			extra := 5
			if tt.env == "prod" {
				extra += 2
			}
			if got, want := len(tt.doc.Resources), inv.count()+extra; got != want {
				t.Errorf("state holds %d resources, the account %d EC2 and load balancer objects (+%d)", got, want-extra, extra)
			}
			out := network.NetworkOutputs(tt.doc)
			if dns := aws.ToString(inv.albs[0].DNSName); dns == "" || out["alb_dns"] != dns || out["url"] != "http://"+dns {
				t.Errorf("outputs %v, ALB DNS %q", out, dns)
			}
		})
	}
	for key, id := range netRecordIDs(devDoc) {
		if slices.Contains(slices.Collect(maps.Values(prodIDs)), id) {
			t.Errorf("dev %s is prod's object %s", key, id)
		}
	}
	if got := netRecordIDs(prodDoc); !maps.Equal(got, prodIDs) {
		t.Errorf("prod state changed by dev's apply:\n%v\nwas\n%v", got, prodIDs)
	}
}

// netRecordIDs maps each recorded key to its ID and ARN. The rules' ID is their group's,
// so they are left out.
func netRecordIDs(doc *state.Document) map[string]string {
	out := map[string]string{}
	for k, r := range doc.Resources {
		if r.Type != "ec2:security-group-rules" {
			out[k] = r.ID + " " + r.ARN
		}
	}
	return out
}

// TestNetworkNoOp: a second apply on a converged network changes nothing, calls nothing
// that mutates, and reads in batches.
func TestNetworkNoOp(t *testing.T) {
	first, _ := newTestInputs(t, "prod", nil)
	doc := newDoc(first)
	applyPhases(t, first, doc, "network")

	// A fresh Inputs, as a new fvdeploy process would have: nothing remembered.
	in, rec := inputsBeside(t, "prod", nil)
	resources := declared(t, in, "network")
	before := len(rec.Calls())
	res := applyPhases(t, in, doc, "network")
	if res.Changed() {
		t.Errorf("second apply changed something: %+v", res.Items)
	}
	if m := mutations(rec, before); len(m) > 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}
	reads := len(rec.Calls()) - before
	t.Logf("no-op apply: %d read calls for %d resources", reads, len(resources))
	if limit := len(resources) * 3 / 2; reads > limit {
		t.Errorf("no-op apply made %d read calls for %d resources, want at most %d", reads, len(resources), limit)
	}

	plan, err := newEngine(t, in).Plan(context.Background(), declared(t, in, "network"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	if plan.Changed() {
		t.Errorf("plan after convergence reports changes: %+v", plan.Items)
	}
}

// TestNetworkDrift: an SG rule revoked and an ALB attribute switched off out of band show
// in the plan, on exactly those resources, and apply restores them.
func TestNetworkDrift(t *testing.T) {
	ctx := context.Background()
	in, _ := newTestInputs(t, "prod", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "network")

	sg := doc.Resources["network/sg-alb"].ID
	if _, err := in.AWS.EC2().RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &sg, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	lbARN := doc.Resources[kit.KeyALB].ARN
	if _, err := in.AWS.ELB().ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &lbARN,
		Attributes: []elbtypes.LoadBalancerAttribute{{Key: aws.String(network.AttrDropInvalidHeaders), Value: aws.String("false")}}}); err != nil {
		t.Fatal(err)
	}

	plan, err := newEngine(t, in).Plan(ctx, declared(t, in, "network"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	got := map[string][]engine.Change{}
	for _, it := range plan.Items {
		if it.Action != engine.NoOp {
			if it.Action != engine.Update {
				t.Errorf("%s: %s, want update", it.Key, it.Action)
			}
			got[it.Key] = it.Changes
		}
	}
	want := map[string][]engine.Change{
		"network/sg-alb-rules": {{Field: "ingress", To: "tcp/443 from 0.0.0.0/0"}},
		kit.KeyALB:             {{Field: network.AttrDropInvalidHeaders, From: "false", To: "true"}},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("plan changes\n%v\nwant\n%v", got, want)
	}

	applyPhases(t, in, doc, "network")
	checkNetwork(t, in, "prod", 2, true)
	plan, err = newEngine(t, in).Plan(ctx, declared(t, in, "network"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	if plan.Changed() {
		t.Errorf("plan after repair reports changes: %+v", plan.Items)
	}
}

// TestNetworkAdoption: with state lost, apply finds every object by its tags (or, on the
// load balancer side, by name and tags) and creates nothing.
func TestNetworkAdoption(t *testing.T) {
	for _, env := range []string{"prod", "dev"} {
		t.Run(env, func(t *testing.T) {
			in, rec := newTestInputs(t, env, nil)
			doc := newDoc(in)
			applyPhases(t, in, doc, "network")
			want := netRecordIDs(doc)

			doc.Resources = map[string]*state.Resource{}
			before := len(rec.Calls())
			res := applyPhases(t, in, doc, "network")
			if m := mutations(rec, before); len(m) > 0 {
				t.Errorf("adopting made mutating calls: %v", m)
			}
			if res.Changed() {
				t.Errorf("adopting reports changes: %+v", res.Items)
			}
			if got := netRecordIDs(doc); !maps.Equal(got, want) {
				t.Errorf("state after adoption\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// netTrace records, in order, the operations of a destroy with the ID each one acts on,
// which the call recorder does not keep.
type netTrace struct{ *callTrace } // "Operation id" lines

func netTraceIDs(in *kit.Inputs) *netTrace {
	return &netTrace{traceCalls(in, func(ctx context.Context, params any) string {
		return awsmiddleware.GetOperationName(ctx) + " " + netParamID(params)
	})}
}

func netParamID(p any) string {
	switch v := p.(type) {
	case *ec2.DeleteSecurityGroupInput:
		return aws.ToString(v.GroupId)
	case *ec2.RevokeSecurityGroupIngressInput:
		return aws.ToString(v.GroupId)
	case *ec2.RevokeSecurityGroupEgressInput:
		return aws.ToString(v.GroupId)
	case *ec2.DeleteSubnetInput:
		return aws.ToString(v.SubnetId)
	case *ec2.DeleteNatGatewayInput:
		return aws.ToString(v.NatGatewayId)
	case *ec2.DescribeNatGatewaysInput:
		return strings.Join(v.NatGatewayIds, ",")
	case *ec2.ReleaseAddressInput:
		return aws.ToString(v.AllocationId)
	case *ec2.DeleteRouteTableInput:
		return aws.ToString(v.RouteTableId)
	case *ec2.DetachInternetGatewayInput:
		return aws.ToString(v.InternetGatewayId)
	case *ec2.DeleteInternetGatewayInput:
		return aws.ToString(v.InternetGatewayId)
	case *ec2.DeleteVpcInput:
		return aws.ToString(v.VpcId)
	case *elbv2.ModifyLoadBalancerAttributesInput:
		id := aws.ToString(v.LoadBalancerArn)
		for _, a := range v.Attributes {
			id += " " + aws.ToString(a.Key) + "=" + aws.ToString(a.Value)
		}
		return id
	case *elbv2.DeleteLoadBalancerInput:
		return aws.ToString(v.LoadBalancerArn)
	case *elbv2.DescribeLoadBalancersInput:
		return strings.Join(v.LoadBalancerArns, ",")
	case *elbv2.DeleteListenerInput:
		return aws.ToString(v.ListenerArn)
	case *elbv2.DeleteTargetGroupInput:
		return aws.ToString(v.TargetGroupArn)
	}
	if id, ok := netParamIDDefaults(p); ok {
		return id
	}
	return ""
}

// first and last are the positions of the first and last call of op (on id, when given).
func (tr *netTrace) first(op, id string) int {
	return slices.IndexFunc(tr.calls, func(c string) bool { return c == op+" "+id || id == "" && strings.HasPrefix(c, op+" ") })
}

func (tr *netTrace) last(op, id string) int {
	i := -1
	for j, c := range tr.calls {
		if c == op+" "+id || id == "" && strings.HasPrefix(c, op+" ") {
			i = j
		}
	}
	return i
}

// TestNetworkDestroy: destroy leaves nothing with the env's tags, in an order real AWS
// accepts (the emulator does not enforce it, so the order is read from the calls made),
// and a second destroy does nothing.
func TestNetworkDestroy(t *testing.T) {
	in, rec := newTestInputs(t, "prod", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "network")
	ids := map[string]string{}
	for k, v := range doc.Resources {
		ids[k], ids[k+"#arn"] = v.ID, v.ARN
	}
	// The dev network next door must survive prod's destroy.
	dev, _ := inputsBeside(t, "dev", nil)
	applyPhases(t, dev, newDoc(dev), "network")

	tr := netTraceIDs(in)
	destroyAll(t, in, doc)
	if len(doc.Resources) != 0 {
		t.Errorf("state after destroy still holds %v", slices.Sorted(maps.Keys(doc.Resources)))
	}
	if inv := netDescribe(t, in, "prod"); inv.count() != 0 {
		t.Errorf("destroy left %+v", inv)
	}
	checkNetwork(t, dev, "dev", 1, false)

	before := func(a, b string) {
		t.Helper()
		opA, idA, _ := strings.Cut(a, " ")
		opB, idB, _ := strings.Cut(b, " ")
		i, j := tr.last(opA, idA), tr.first(opB, idB)
		if i < 0 || j < 0 || i > j {
			t.Errorf("want %s (call %d) before %s (call %d)", a, i, b, j)
		}
	}
	alb, listener := "DeleteLoadBalancer "+ids["network/alb#arn"], "DeleteListener "+ids["network/listener-http#arn"]
	before(listener, alb)
	// The emulator deletes a protected load balancer; AWS refuses until protection is off.
	before("ModifyLoadBalancerAttributes "+ids["network/alb#arn"]+" "+network.AttrDeletionProtection+"=false", alb)
	// The wait for the ALB to be gone comes before anything it sat in is deleted.
	before(alb, "DescribeLoadBalancers "+ids["network/alb#arn"])
	for _, k := range []string{"network/subnet-public-a", "network/subnet-public-b"} {
		before("DescribeLoadBalancers "+ids["network/alb#arn"], "DeleteSubnet "+ids[k])
	}
	before(alb, "DeleteSecurityGroup "+ids["network/sg-alb"])
	before(alb, "DetachInternetGateway "+ids["network/igw"])
	for _, l := range []string{"a", "b"} {
		nat := ids["network/nat-"+l]
		before("DeleteNatGateway "+nat, "DescribeNatGateways "+nat)
		before("DescribeNatGateways "+nat, "ReleaseAddress "+ids["network/eip-nat-"+l])
		before("DeleteNatGateway "+nat, "DeleteSubnet "+ids["network/subnet-public-"+l])
		before("DeleteNatGateway "+nat, "DetachInternetGateway "+ids["network/igw"])
	}
	for _, sg := range []string{"network/sg-alb", "network/sg-ecs"} {
		for _, op := range []string{"RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"} {
			before(op+" "+ids[sg], "DeleteSecurityGroup "+ids["network/sg-ecs"])
		}
	}
	before("DeleteSecurityGroup "+ids["network/sg-ecs"], "DeleteSecurityGroup "+ids["network/sg-alb"])
	before("DetachInternetGateway "+ids["network/igw"], "DeleteInternetGateway "+ids["network/igw"])
	vpc := "DeleteVpc " + ids[kit.KeyVPC]
	for k, id := range ids {
		switch {
		case strings.HasPrefix(k, "network/subnet-") && !strings.HasSuffix(k, "#arn"):
			before("DeleteSubnet "+id, vpc)
		case strings.HasPrefix(k, "network/rt-") && !strings.HasSuffix(k, "#arn"):
			before("DeleteRouteTable "+id, vpc)
		}
	}
	before("DeleteInternetGateway "+ids["network/igw"], vpc)
	before("DeleteSecurityGroup "+ids["network/sg-alb"], vpc)
	if t.Failed() {
		t.Logf("destroy calls:\n%s", strings.Join(tr.calls, "\n"))
	}

	calls := len(rec.Calls())
	destroyAll(t, in, doc)
	if n := len(rec.Calls()) - calls; n != 0 {
		t.Errorf("second destroy made %d calls, want none", n)
	}
}

// TestNetworkAdoptionPartial: a run that died halfway through multi-call creates (gateway
// created but not attached, route table without its route and associations, group with
// its default rules) and lost its state converges without creating anything twice.
func TestNetworkAdoptionPartial(t *testing.T) {
	ctx := context.Background()
	in, rec := newTestInputs(t, "prod", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "network")
	want := netRecordIDs(doc)
	e := in.AWS.EC2()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	igwID, vpcID := doc.Resources[network.KeyIGW].ID, doc.Resources[kit.KeyVPC].ID
	must(e.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: &igwID, VpcId: &vpcID}))
	rtID := doc.Resources[network.KeyRTPublic].ID
	rts, err := e.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rtID}})
	must(rts, err)
	for _, a := range rts.RouteTables[0].Associations {
		must(e.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}))
	}
	must(e.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &rtID, DestinationCidrBlock: aws.String("0.0.0.0/0")}))
	sgID := doc.Resources["network/sg-ecs"].ID
	sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sgID}})
	must(sgs, err)
	must(e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &sgID, IpPermissions: sgs.SecurityGroups[0].IpPermissions}))
	must(e.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &sgID, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
	}}))

	doc.Resources = map[string]*state.Resource{}
	before := len(rec.Calls())
	applyPhases(t, in, doc, "network")
	for _, m := range mutations(rec, before) {
		if strings.Contains(m, ".Create") && !strings.HasSuffix(m, ".CreateRoute") || strings.HasSuffix(m, ".AllocateAddress") {
			t.Errorf("converging a partial network created an object: %s", m)
		}
	}
	if got := netRecordIDs(doc); !maps.Equal(got, want) {
		t.Errorf("state after adoption\n%v\nwant\n%v", got, want)
	}
	checkNetwork(t, in, "prod", 2, true)
}
