package validate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/phases"
)

func auditDefaultSG(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: the VPC's default security group has no rules"
	if d.VPC == "" {
		return fail(name, "run `fvdeploy up`", "state records no VPC")
	}
	groups, err := describeGroups(ctx, api, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{d.VPC}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil {
		return fail(name, "check the credentials' ec2:DescribeSecurityGroups permission", "%v", err)
	}
	if len(groups) == 0 {
		return fail(name, "check the credentials' ec2:DescribeSecurityGroups permission", "no default security group found in %s", d.VPC)
	}
	g := groups[0]
	id := aws.ToString(g.GroupId)
	var rules []string
	for _, p := range g.IpPermissions {
		rules = append(rules, "in "+portRange(p)+" from "+strings.Join(sources(p), ", "))
	}
	for _, p := range g.IpPermissionsEgress {
		rules = append(rules, "out "+portRange(p)+" to "+strings.Join(sources(p), ", "))
	}
	if len(rules) > 0 {
		return fail(name, fmt.Sprintf("remove every rule of %s (nothing should use it, and anything put in it by mistake must reach nothing): run `fvdeploy up`, or aws ec2 revoke-security-group-ingress / revoke-security-group-egress --group-id %s", id, id),
			"%s has %d rule(s): %s", id, len(rules), strings.Join(rules, "; "))
	}
	return pass(name, "%s: no ingress, no egress", id)
}

// sources names whatever a security group rule admits (or reaches).
func sources(p ec2types.IpPermission) []string {
	var out []string
	for _, pair := range p.UserIdGroupPairs {
		out = append(out, aws.ToString(pair.GroupId))
	}
	for _, r := range p.IpRanges {
		out = append(out, aws.ToString(r.CidrIp))
	}
	for _, r := range p.Ipv6Ranges {
		out = append(out, aws.ToString(r.CidrIpv6))
	}
	for _, r := range p.PrefixListIds {
		out = append(out, aws.ToString(r.PrefixListId))
	}
	return out
}

// Network ACL protocol numbers.
const (
	protoAll  = "-1"
	protoICMP = "1"
	protoTCP  = "6"
	protoUDP  = "17"
)

func auditNetworkACLs(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: subnets have their own network ACLs; public ones admit the internet on 80, 443 and ephemeral ports only"
	subnets := slices.Concat(d.PublicSubnets, d.PrivateSubnets)
	if len(subnets) == 0 {
		return fail(name, "run `fvdeploy up`", "state records no subnet")
	}
	acls := map[string]ec2types.NetworkAcl{} // by subnet
	p := ec2.NewDescribeNetworkAclsPaginator(api.EC2, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: subnets}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fail(name, "check the credentials' ec2:DescribeNetworkAcls permission", "describing network ACLs: %v", err)
		}
		for _, acl := range page.NetworkAcls {
			for _, a := range acl.Associations {
				acls[aws.ToString(a.SubnetId)] = acl
			}
		}
	}
	var findings []string
	for _, s := range subnets {
		acl, ok := acls[s]
		id := aws.ToString(acl.NetworkAclId)
		switch {
		case !ok:
			findings = append(findings, s+" has no network ACL")
			continue
		case aws.ToBool(acl.IsDefault):
			findings = append(findings, fmt.Sprintf("%s uses the VPC's default ACL %s", s, id))
			continue
		}
		public := slices.Contains(d.PublicSubnets, s)
		for _, e := range acl.Entries {
			if problem := aclEntryProblem(e, public); problem != "" {
				findings = append(findings, fmt.Sprintf("%s (%s) rule %d %s", id, s, aws.ToInt32(e.RuleNumber), problem))
			}
		}
	}
	if len(findings) > 0 {
		return fail(name, "give each subnet an ACL of its own that admits only what the design needs (public: 80/443 and ephemeral return traffic; private: the VPC and ephemeral return traffic): run `fvdeploy up`",
			"%s", strings.Join(slices.Compact(findings), "; "))
	}
	return pass(name, "%d public and %d private subnet(s) on their own ACLs; no rule admits all traffic from the internet", len(d.PublicSubnets), len(d.PrivateSubnets))
}

// aclEntryProblem says what is wrong with an inbound rule that lets the internet in, ""
// when nothing is. Outbound rules are left alone: NAT and the tasks' HTTPS need them.
func aclEntryProblem(e ec2types.NetworkAclEntry, public bool) string {
	internet := aws.ToString(e.CidrBlock) == "0.0.0.0/0" || aws.ToString(e.Ipv6CidrBlock) == "::/0"
	if aws.ToBool(e.Egress) || e.RuleAction != ec2types.RuleActionAllow || !internet {
		return ""
	}
	from := aws.ToString(e.CidrBlock)
	if from == "" {
		from = aws.ToString(e.Ipv6CidrBlock)
	}
	proto := aws.ToString(e.Protocol)
	lo, hi := int32(0), int32(65535)
	if e.PortRange != nil {
		lo, hi = aws.ToInt32(e.PortRange.From), aws.ToInt32(e.PortRange.To)
	}
	switch {
	case proto == protoAll:
		return "admits all traffic from " + from
	case (proto == protoTCP || proto == protoUDP) && lo == 0 && hi == 65535:
		return fmt.Sprintf("admits every %s port from %s", protoName(proto), from)
	case !public:
		return ""
	case proto == protoTCP && lo == hi && (lo == 80 || lo == 443):
		return ""
	case (proto == protoTCP || proto == protoUDP) && lo >= 1024:
		return "" // return traffic to ephemeral ports
	case proto == protoICMP && e.IcmpTypeCode != nil && aws.ToInt32(e.IcmpTypeCode.Type) == 3:
		return "" // destination unreachable: path MTU discovery
	}
	if proto == protoTCP || proto == protoUDP {
		return fmt.Sprintf("admits %s %d-%d from %s (want 80, 443 or 1024-65535)", protoName(proto), lo, hi, from)
	}
	return fmt.Sprintf("admits protocol %s from %s", proto, from)
}

func protoName(p string) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	}
	return "protocol " + p
}

func auditFlowLogs(ctx context.Context, api SecurityAPIs, d phases.Deployed, on bool) Check {
	const name = "security: the VPC has an active flow log"
	if !on {
		return skip(name, "flow logs off in this environment (network.flow_logs)")
	}
	if d.VPC == "" {
		return fail(name, "run `fvdeploy up`", "state records no VPC")
	}
	out, err := api.EC2.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{Filter: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{d.VPC}}}})
	if err != nil {
		return fail(name, "check the credentials' ec2:DescribeFlowLogs permission", "describing the flow logs of %s: %v", d.VPC, err)
	}
	var seen []string
	for _, f := range out.FlowLogs {
		if aws.ToString(f.FlowLogStatus) == "ACTIVE" {
			return pass(name, "%s: %s traffic to %s %s", d.VPC, f.TrafficType, f.LogDestinationType, cmp.Or(aws.ToString(f.LogGroupName), aws.ToString(f.LogDestination)))
		}
		seen = append(seen, fmt.Sprintf("%s %s", aws.ToString(f.FlowLogId), aws.ToString(f.FlowLogStatus)))
	}
	evidence := d.VPC + " has no flow log"
	if len(seen) > 0 {
		evidence = d.VPC + " has no active flow log: " + strings.Join(seen, ", ")
	}
	return fail(name, "network.flow_logs is on: run `fvdeploy up` to create the flow log (to CloudWatch Logs, with the environment's retention)", "%s", evidence)
}
