package network_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// TestNetworkApply builds prod and dev side by side in one account and checks each through
// the AWS API: neither adopts nor disturbs the other's objects.
func TestNetworkApply(t *testing.T) {
	prod, _ := phasetest.NewTestInputs(t, "prod", nil)
	dev, _ := phasetest.InputsBeside(t, "dev", nil)
	prodDoc, devDoc := phasetest.NewDoc(prod), phasetest.NewDoc(dev)
	phasetest.ApplyPhases(t, prod, prodDoc, "network")
	prodIDs := netRecordIDs(prodDoc)
	phasetest.ApplyPhases(t, dev, devDoc, "network")

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
			inv := phasetest.CheckNetwork(t, tt.in, tt.env, tt.nats, tt.deletionProtection)
			// The two rules resources are parts of the groups, not objects of their own, and
			// the default group and ACL are AWS's, the environment's KMS key is no EC2 object;
			// prod's flow logs add their log group and role.
			extra := 5
			if tt.env == "prod" {
				extra += 2
			}
			if got, want := len(tt.doc.Resources), inv.Count()+extra; got != want {
				t.Errorf("state holds %d resources, the account %d EC2 and load balancer objects (+%d)", got, want-extra, extra)
			}
			out := network.NetworkOutputs(tt.doc)
			if dns := aws.ToString(inv.Albs[0].DNSName); dns == "" || out["alb_dns"] != dns || out["url"] != "http://"+dns {
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
	first, _ := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(first)
	phasetest.ApplyPhases(t, first, doc, "network")

	// A fresh Inputs, as a new fvdeploy process would have: nothing remembered.
	in, rec := phasetest.InputsBeside(t, "prod", nil)
	resources := phasetest.Declared(t, in, "network")
	before := len(rec.Calls())
	res := phasetest.ApplyPhases(t, in, doc, "network")
	if res.Changed() {
		t.Errorf("second apply changed something: %+v", res.Items)
	}
	if m := phasetest.Mutations(rec, before); len(m) > 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}
	reads := len(rec.Calls()) - before
	t.Logf("no-op apply: %d read calls for %d resources", reads, len(resources))
	if limit := len(resources) * 3 / 2; reads > limit {
		t.Errorf("no-op apply made %d read calls for %d resources, want at most %d", reads, len(resources), limit)
	}

	plan, err := phasetest.NewEngine(t, in).Plan(context.Background(), phasetest.Declared(t, in, "network"), doc)
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
	in, _ := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network")

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

	plan, err := phasetest.NewEngine(t, in).Plan(ctx, phasetest.Declared(t, in, "network"), doc)
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

	phasetest.ApplyPhases(t, in, doc, "network")
	phasetest.CheckNetwork(t, in, "prod", 2, true)
	plan, err = phasetest.NewEngine(t, in).Plan(ctx, phasetest.Declared(t, in, "network"), doc)
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
			in, rec := phasetest.NewTestInputs(t, env, nil)
			doc := phasetest.NewDoc(in)
			phasetest.ApplyPhases(t, in, doc, "network")
			want := netRecordIDs(doc)

			doc.Resources = map[string]*state.Resource{}
			before := len(rec.Calls())
			res := phasetest.ApplyPhases(t, in, doc, "network")
			if m := phasetest.Mutations(rec, before); len(m) > 0 {
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
type netTrace struct{ *phasetest.CallTrace } // "Operation id" lines

func netTraceIDs(in *kit.Inputs) *netTrace {
	return &netTrace{phasetest.TraceCalls(in, func(ctx context.Context, params any) string {
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
	return slices.IndexFunc(tr.Calls, func(c string) bool { return c == op+" "+id || id == "" && strings.HasPrefix(c, op+" ") })
}

func (tr *netTrace) last(op, id string) int {
	i := -1
	for j, c := range tr.Calls {
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
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network")
	ids := map[string]string{}
	for k, v := range doc.Resources {
		ids[k], ids[k+"#arn"] = v.ID, v.ARN
	}
	// The dev network next door must survive prod's destroy.
	dev, _ := phasetest.InputsBeside(t, "dev", nil)
	phasetest.ApplyPhases(t, dev, phasetest.NewDoc(dev), "network")

	tr := netTraceIDs(in)
	phasetest.DestroyAll(t, in, doc)
	if len(doc.Resources) != 0 {
		t.Errorf("state after destroy still holds %v", slices.Sorted(maps.Keys(doc.Resources)))
	}
	if inv := phasetest.NetDescribe(t, in, "prod"); inv.Count() != 0 {
		t.Errorf("destroy left %+v", inv)
	}
	phasetest.CheckNetwork(t, dev, "dev", 1, false)

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
		t.Logf("destroy calls:\n%s", strings.Join(tr.Calls, "\n"))
	}

	calls := len(rec.Calls())
	phasetest.DestroyAll(t, in, doc)
	if n := len(rec.Calls()) - calls; n != 0 {
		t.Errorf("second destroy made %d calls, want none", n)
	}
}

// TestNetworkAdoptionPartial: a run that died halfway through multi-call creates (gateway
// created but not attached, route table without its route and associations, group with
// its default rules) and lost its state converges without creating anything twice.
func TestNetworkAdoptionPartial(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network")
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
	phasetest.ApplyPhases(t, in, doc, "network")
	for _, m := range phasetest.Mutations(rec, before) {
		if strings.Contains(m, ".Create") && !strings.HasSuffix(m, ".CreateRoute") || strings.HasSuffix(m, ".AllocateAddress") {
			t.Errorf("converging a partial network created an object: %s", m)
		}
	}
	if got := netRecordIDs(doc); !maps.Equal(got, want) {
		t.Errorf("state after adoption\n%v\nwant\n%v", got, want)
	}
	phasetest.CheckNetwork(t, in, "prod", 2, true)
}
