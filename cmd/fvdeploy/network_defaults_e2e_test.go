package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// TestNetworkDefaultsThroughTheBinary: up --env prod leaves the VPC's default security
// group without rules, every subnet on its tier's network ACL and the VPC's flow logs on;
// a rule added to the default group and a subnet put back on the default ACL show in plan
// and the next up repairs them; network.flow_logs: false removes the flow log, its group
// and its role; destroy gives each subnet back to the default ACL before deleting an ACL,
// and the ACLs go before their subnets (the emulator enforces neither: the order is read
// from the calls made and the progress lines).
func TestNetworkDefaultsThroughTheBinary(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	e := testClients(t).EC2()
	args := []string{"up", "--env", "prod", "--phases", "network"}
	mustRun(t, c, args...)
	doc := readState(t, c, "prod")
	id := func(key string) string {
		t.Helper()
		r := doc.Resources[key]
		if r == nil {
			t.Fatalf("state has no %s", key)
		}
		return r.ID
	}
	vpc, defSG := id("network/vpc"), id("network/default-sg")
	if got := takeInventory(t, "fastapi-vars", "prod"); got.NACLs != 2 || got.FlowLogs != 1 || got.FlowLogGroups != 1 {
		t.Errorf("prod network: %d network ACLs, %d flow logs, %d flow log groups; want 2, 1, 1", got.NACLs, got.FlowLogs, got.FlowLogGroups)
	}
	sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{defSG}})
	if err != nil || len(sgs.SecurityGroups) != 1 || aws.ToString(sgs.SecurityGroups[0].GroupName) != "default" || aws.ToString(sgs.SecurityGroups[0].VpcId) != vpc {
		t.Fatalf("network/default-sg %s is not the default group of %s: %+v, %v", defSG, vpc, sgs, err)
	}
	if g := sgs.SecurityGroups[0]; len(g.IpPermissions)+len(g.IpPermissionsEgress) != 0 {
		t.Errorf("the default security group keeps rules: in %+v, out %+v", g.IpPermissions, g.IpPermissionsEgress)
	}
	aclOf := func(subnet string) (acl, assoc string) {
		t.Helper()
		out, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
		if err != nil || len(out.NetworkAcls) != 1 {
			t.Fatalf("the network ACL of subnet %s: %+v, %v", subnet, out, err)
		}
		for _, a := range out.NetworkAcls[0].Associations {
			if aws.ToString(a.SubnetId) == subnet {
				return aws.ToString(out.NetworkAcls[0].NetworkAclId), aws.ToString(a.NetworkAclAssociationId)
			}
		}
		t.Fatalf("subnet %s is not among its ACL's associations", subnet)
		return "", ""
	}
	for _, tier := range []string{"public", "private"} {
		for _, az := range []string{"a", "b"} {
			if got, _ := aclOf(id("network/subnet-" + tier + "-" + az)); got != id("network/acl-"+tier) {
				t.Errorf("subnet-%s-%s is on network ACL %s, want network/acl-%s (%s)", tier, az, got, tier, id("network/acl-"+tier))
			}
		}
	}
	fls, err := e.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{FlowLogIds: []string{id("network/flow-log")}})
	if err != nil || len(fls.FlowLogs) != 1 || aws.ToString(fls.FlowLogs[0].ResourceId) != vpc || fls.FlowLogs[0].TrafficType != ec2types.TrafficTypeAll ||
		aws.ToString(fls.FlowLogs[0].LogGroupName) != "/aws/vpc/flow-logs/fastapi-vars-prod" {
		t.Errorf("flow log: %+v, %v; want ALL traffic of %s to /aws/vpc/flow-logs/fastapi-vars-prod", fls, err, vpc)
	}

	// Drift, out of band: SSH opened on the default group, a private subnet back on the
	// VPC's default ACL.
	if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &defSG, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	defs, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("default"), Values: []string{"true"}}}})
	if err != nil || len(defs.NetworkAcls) != 1 {
		t.Fatalf("the default ACL of %s: %+v, %v", vpc, defs, err)
	}
	defACL := aws.ToString(defs.NetworkAcls[0].NetworkAclId)
	privB := id("network/subnet-private-b")
	_, assoc := aclOf(privB)
	if _, err := e.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: &assoc, NetworkAclId: &defACL}); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, c, "plan", "--env", "prod", "--phases", "network")
	for _, want := range []string{"network/default-sg", "tcp/22 from 0.0.0.0/0", "network/acl-private", privB, "Plan: 0 to create, 2 to update"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("plan after drift lacks %q:\n%s", want, res.Stdout)
		}
	}
	mustRun(t, c, args...)
	if got, _ := aclOf(privB); got != id("network/acl-private") {
		t.Errorf("after up, subnet-private-b is on %s, want network/acl-private", got)
	}
	sgs, err = e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{defSG}})
	if err != nil || len(sgs.SecurityGroups[0].IpPermissions) != 0 {
		t.Errorf("after up, the default group keeps %+v (%v)", sgs, err)
	}
	trace := filepath.Join(c.Dir, "up-again")
	mustRun(t, c, append(args, "--trace-calls", trace)...)
	if m := mutatingCalls(traced(t, trace)); len(m) != 0 {
		t.Errorf("up after the repair made mutating calls: %v", m)
	}

	// The switch: off removes the flow log, its group and its role.
	writeConfig(t, c, "environments:\n  prod:\n    network: {flow_logs: false}\n")
	res = mustRun(t, c, args...)
	if got := takeInventory(t, "fastapi-vars", "prod"); got.FlowLogs != 0 || got.FlowLogGroups != 0 || got.NACLs != 2 {
		t.Errorf("with flow_logs off: %d flow logs, %d flow log groups, %d ACLs; want 0, 0, 2\n%s", got.FlowLogs, got.FlowLogGroups, got.NACLs, res.Stderr)
	}
	if _, err := testClients(t).IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-flow-logs")}); err == nil {
		t.Error("with flow_logs off, the flow log role is still there")
	}
	writeConfig(t, c, "")
	mustRun(t, c, args...)

	trace = filepath.Join(c.Dir, "destroy")
	res = mustRun(t, c, "destroy", "--env", "prod", "--yes", "--trace-calls", trace)
	if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
		t.Errorf("left behind after destroy: %+v", got)
	}
	var ops []string
	for _, call := range traced(t, trace) {
		ops = append(ops, call.Operation)
	}
	// Each ACL's two subnets go back to the default ACL before it is deleted.
	for n, i := 0, 0; i < len(ops); i++ {
		switch ops[i] {
		case "ReplaceNetworkAclAssociation":
			n++
		case "DeleteNetworkAcl":
			if n < 2 {
				t.Errorf("DeleteNetworkAcl (call %d) after only %d subnets went back to the default ACL", i, n)
			}
			n -= 2
		}
	}
	if i, j := slices.Index(ops, "DeleteFlowLogs"), slices.Index(ops, "DeleteRole"); i < 0 || j < 0 || i > j {
		t.Errorf("DeleteFlowLogs (call %d) must come before the role goes (call %d)", i, j)
	}
	deleted := func(key string) int { return strings.Index(res.Stderr, "deleted "+key+" (") }
	deleting := func(key string) int { return strings.Index(res.Stderr, "deleting "+key+" ...") }
	for _, p := range [][2]string{
		{"network/acl-public", "network/subnet-public-a"}, {"network/acl-public", "network/subnet-public-b"},
		{"network/acl-private", "network/subnet-private-a"}, {"network/acl-private", "network/subnet-private-b"},
		{"network/flow-log", "network/flow-log-group"}, {"network/flow-log", "network/flow-log-role"}, {"network/flow-log", "network/vpc"},
	} {
		if first, second := deleted(p[0]), deleting(p[1]); first < 0 || second < 0 || first > second {
			t.Errorf("%s must be deleted before %s starts (positions %d, %d)", p[0], p[1], first, second)
		}
	}
	if t.Failed() {
		t.Logf("destroy:\n%s", res.Stderr)
	}
}
