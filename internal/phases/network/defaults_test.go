package network_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

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
	in, _ := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network")
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

	plan, err := phasetest.NewEngine(t, in).Plan(ctx, phasetest.Declared(t, in, "network"), doc)
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
	phasetest.ApplyPhases(t, in, doc, "network")
	phasetest.CheckNetworkDefaults(t, in, "prod", phasetest.NetDescribe(t, in, "prod"))
	plan, err = phasetest.NewEngine(t, in).Plan(ctx, phasetest.Declared(t, in, "network"), doc)
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
	phasetest.DestroyAll(t, in, doc)
	inv := phasetest.NetDescribe(t, in, "prod")
	if len(inv.Acls)+len(inv.FlowLogs) != 0 {
		t.Errorf("destroy left network ACLs %v and flow logs %v", slices.Collect(maps.Keys(inv.Acls)), inv.FlowLogs)
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
		t.Logf("destroy calls:\n%s", strings.Join(tr.Calls, "\n"))
	}
}

func TestFlowLogsFollowTheSwitch(t *testing.T) {
	for _, tt := range []struct {
		env string
		on  bool
	}{{"prod", true}, {"hml", false}, {"dev", false}} {
		in, _ := phasetest.NewTestInputs(t, tt.env, nil)
		var keys []string
		for _, r := range phasetest.Declared(t, in, "network") {
			keys = append(keys, r.Key())
		}
		if got := slices.Contains(keys, network.KeyFlowLog) && slices.Contains(keys, network.KeyFlowLogGroup) && slices.Contains(keys, network.KeyFlowLogRole); got != tt.on {
			t.Errorf("%s declares the flow log, its group and role: %v, want %v", tt.env, got, tt.on)
		}
		in.Config.Network.FlowLogs = !tt.on
		keys = nil
		for _, r := range phasetest.Declared(t, in, "network") {
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
	phasetest.Moto.Reset(t)
	lossy := []string{"CreateNetworkAcl", "CreateFlowLogs", "ReplaceNetworkAclAssociation"}
	proxy := testenv.StartLossyProxy(t, phasetest.Moto.Endpoint, 1, 1.0, func(op string) bool { return slices.Contains(lossy, op) })
	t.Setenv("AWS_ENDPOINT_URL", proxy.URL)
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network")
	inv := phasetest.NetDescribe(t, in, "prod")
	phasetest.CheckNetworkDefaults(t, in, "prod", inv)
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
	phasetest.DestroyAll(t, in, doc)
	if inv := phasetest.NetDescribe(t, in, "prod"); len(inv.Acls)+len(inv.FlowLogs) != 0 {
		t.Errorf("destroy left network ACLs %v and flow logs %v", slices.Collect(maps.Keys(inv.Acls)), inv.FlowLogs)
	}
}
