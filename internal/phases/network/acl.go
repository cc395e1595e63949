package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type networkACLAPI interface {
	CreateNetworkAcl(ctx context.Context, in *ec2.CreateNetworkAclInput, opts ...func(*ec2.Options)) (*ec2.CreateNetworkAclOutput, error)
	DescribeNetworkAcls(ctx context.Context, in *ec2.DescribeNetworkAclsInput, opts ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
	CreateNetworkAclEntry(ctx context.Context, in *ec2.CreateNetworkAclEntryInput, opts ...func(*ec2.Options)) (*ec2.CreateNetworkAclEntryOutput, error)
	ReplaceNetworkAclEntry(ctx context.Context, in *ec2.ReplaceNetworkAclEntryInput, opts ...func(*ec2.Options)) (*ec2.ReplaceNetworkAclEntryOutput, error)
	DeleteNetworkAclEntry(ctx context.Context, in *ec2.DeleteNetworkAclEntryInput, opts ...func(*ec2.Options)) (*ec2.DeleteNetworkAclEntryOutput, error)
	ReplaceNetworkAclAssociation(ctx context.Context, in *ec2.ReplaceNetworkAclAssociationInput, opts ...func(*ec2.Options)) (*ec2.ReplaceNetworkAclAssociationOutput, error)
	DeleteNetworkAcl(ctx context.Context, in *ec2.DeleteNetworkAclInput, opts ...func(*ec2.Options)) (*ec2.DeleteNetworkAclOutput, error)
}

// networkACL is the network ACL of one tier of subnets (public or private), its rules and
// its subnets. Network ACLs are stateless: a reply is a packet of its own, which must be
// let in (or out) like the request. Only allow rules: each ACL ends in AWS's own
// deny-all rule (32767, and 32768 for IPv6), which cannot be changed. V is the VPC's
// CIDR, E each of service.egress_cidrs, P each of service.egress_ports; IPv6 twins of the
// rules naming anywhere come with network.ipv6.
//
//	public (the ALB, the NAT gateways)     private (the tasks)
//	in   tcp 443, 80        from anywhere  in   all                from V
//	     all                from V              tcp 1024-65535     from E
//	     tcp 1024-65535     from E         out  all                to V
//	out  all                to V                tcp P              to E
//	     tcp P              to E
//	     tcp 1024-65535     to anywhere
//
// Public in: clients reach the ALB on 80 and 443; from V come the tasks' connections the
// NAT gateways forward and the tasks' answers to the ALB; from E the replies to what the
// NAT gateways forwarded (they use source ports 1024-65535). Public out: the ALB reaches
// the tasks on the container port and checks their health (within V), the NAT gateways
// forward on P to E, and the ALB answers clients on their ephemeral ports. Private in:
// the ALB's requests and health checks come from V, and the replies to the tasks' own
// connections from E (a NAT gateway rewrites only the destination of a reply). Private
// out: answers to the ALB within V, connections out on P to E. Traffic to the VPC's DNS
// resolver, time service and task metadata is never filtered by a network ACL.
type networkACL struct {
	in     *kit.Inputs
	api    networkACLAPI
	public bool
}

const (
	KeyACLPublic  = "network/acl-public"
	KeyACLPrivate = "network/acl-private"
	// Rule numbers: each direction counts from 100 in tens, leaving room to insert one.
	aclFirstRule = 100
	aclRuleStep  = 10
	// aclDefaultRule is the first of AWS's fixed deny-all rules (32767 and 32768).
	aclDefaultRule = 32767
	anyIPv4        = "0.0.0.0/0"
	anyIPv6        = "::/0"
	protoTCP       = "6"
	protoAll       = "-1"
)

func (r *networkACL) Key() string {
	if r.public {
		return KeyACLPublic
	}
	return KeyACLPrivate
}

func (r *networkACL) Type() string { return "ec2:network-acl" }

func (r *networkACL) subnetKeys() []string {
	var keys []string
	for i := range r.in.Config.Network.AZCount {
		keys = append(keys, kit.KeySubnet(r.public, i))
	}
	return keys
}

// DependsOn puts the ACL after its subnets, so that destroy gives the subnets back to the
// VPC's default ACL and deletes this one before it deletes them.
func (r *networkACL) DependsOn() []string { return append([]string{kit.KeyVPC}, r.subnetKeys()...) }

// aclEntry is one rule: allow a protocol ("6" TCP, "-1" all) on a port range from
// (ingress) or to (egress) a CIDR.
type aclEntry struct {
	egress   bool
	number   int32
	proto    string
	from, to int32
	cidr     string
}

func (e aclEntry) String() string {
	what := "all"
	if e.proto != protoAll {
		what = "proto " + e.proto
		if e.proto == protoTCP {
			what = "tcp"
		}
		what += " " + strconv.Itoa(int(e.from))
		if e.from != e.to {
			what += "-" + strconv.Itoa(int(e.to))
		}
	}
	if e.egress {
		return what + " to " + e.cidr
	}
	return what + " from " + e.cidr
}

func (e aclEntry) Field() string {
	dir := "ingress"
	if e.egress {
		dir = "egress"
	}
	return dir + " rule " + strconv.Itoa(int(e.number))
}

// ACLEntries are the rules of one tier's ACL, numbered in order in each direction (see
// networkACL for why each is there).
func ACLEntries(public bool, vpcCIDR string, egressCIDRs []string, egressPorts []int, ipv6 bool) []aclEntry {
	tcp := func(from, to int32, cidr string) aclEntry {
		return aclEntry{proto: protoTCP, from: from, to: to, cidr: canonicalCIDR(cidr)}
	}
	all := func(cidr string) aclEntry { return aclEntry{proto: protoAll, cidr: canonicalCIDR(cidr)} }
	anywhere := []string{anyIPv4}
	if ipv6 {
		anywhere = append(anywhere, anyIPv6)
	}
	var in, out []aclEntry
	if public {
		for _, src := range anywhere {
			in = append(in, tcp(443, 443, src), tcp(80, 80, src))
		}
	}
	in = append(in, all(vpcCIDR))
	for _, e := range egressCIDRs {
		in = append(in, tcp(1024, 65535, e))
	}
	out = append(out, all(vpcCIDR))
	for _, e := range egressCIDRs {
		for _, p := range egressPorts {
			out = append(out, tcp(int32(p), int32(p), e))
		}
	}
	if public {
		for _, dst := range anywhere {
			out = append(out, tcp(1024, 65535, dst))
		}
	}
	var entries []aclEntry
	for _, dir := range []struct {
		egress bool
		list   []aclEntry
	}{{false, in}, {true, out}} {
		n := int32(aclFirstRule)
		var seen []aclEntry
		for _, e := range dir.list {
			e.egress = dir.egress
			if slices.Contains(seen, e) {
				continue // the same CIDR twice in egress_cidrs
			}
			seen = append(seen, e)
			e.number = n
			n += aclRuleStep
			entries = append(entries, e)
		}
	}
	return entries
}

// canonicalCIDR is the CIDR as AWS reports it: host bits cleared.
func canonicalCIDR(cidr string) string {
	if p, err := netip.ParsePrefix(cidr); err == nil {
		return p.Masked().String()
	}
	return cidr
}

func (r *networkACL) entries() []aclEntry {
	c := r.in.Config
	return ACLEntries(r.public, c.Network.VPCCIDR, c.Service.EgressCIDRs, c.Service.EgressPorts, c.Network.IPv6)
}

// LiveACLEntries are the ACL's rules other than AWS's fixed ones. A deny rule keeps its
// action in the protocol, so that it never equals a desired (allow) rule.
func LiveACLEntries(acl *ec2types.NetworkAcl) []aclEntry {
	var out []aclEntry
	for _, e := range acl.Entries {
		n := aws.ToInt32(e.RuleNumber)
		if n >= aclDefaultRule {
			continue
		}
		x := aclEntry{egress: aws.ToBool(e.Egress), number: n, proto: aws.ToString(e.Protocol), cidr: aws.ToString(e.CidrBlock)}
		if x.cidr == "" {
			x.cidr = aws.ToString(e.Ipv6CidrBlock)
		}
		if x.proto != protoAll && e.PortRange != nil {
			x.from, x.to = aws.ToInt32(e.PortRange.From), aws.ToInt32(e.PortRange.To)
		}
		if e.RuleAction != ec2types.RuleActionAllow {
			x.proto = string(e.RuleAction) + " " + x.proto
		}
		out = append(out, x)
	}
	return out
}

// aclDrift is what separates a live ACL from the desired one.
type aclDrift struct {
	create, replace []aclEntry // rules to add, and rules whose number holds another rule
	remove          []aclEntry // rules not desired
	associate       []string   // subnets on another ACL
}

func DiffACL(acl *ec2types.NetworkAcl, want []aclEntry, subnets []string) aclDrift {
	var d aclDrift
	live := LiveACLEntries(acl)
	at := func(list []aclEntry, egress bool, n int32) (aclEntry, bool) {
		i := slices.IndexFunc(list, func(e aclEntry) bool { return e.egress == egress && e.number == n })
		if i < 0 {
			return aclEntry{}, false
		}
		return list[i], true
	}
	for _, w := range want {
		switch l, ok := at(live, w.egress, w.number); {
		case !ok:
			d.create = append(d.create, w)
		case l != w:
			d.replace = append(d.replace, w)
		}
	}
	for _, l := range live {
		if _, ok := at(want, l.egress, l.number); !ok {
			d.remove = append(d.remove, l)
		}
	}
	for _, s := range subnets {
		if !slices.ContainsFunc(acl.Associations, func(a ec2types.NetworkAclAssociation) bool { return aws.ToString(a.SubnetId) == s }) {
			d.associate = append(d.associate, s)
		}
	}
	return d
}

func (d aclDrift) Changes(live []aclEntry) []engine.Change {
	var out []engine.Change
	for _, e := range d.create {
		out = append(out, engine.Change{Field: e.Field(), To: e.String()})
	}
	for _, e := range d.replace {
		from := ""
		if i := slices.IndexFunc(live, func(l aclEntry) bool { return l.egress == e.egress && l.number == e.number }); i >= 0 {
			from = live[i].String()
		}
		out = append(out, engine.Change{Field: e.Field(), From: from, To: e.String()})
	}
	for _, e := range d.remove {
		out = append(out, engine.Change{Field: e.Field(), From: e.String()})
	}
	slices.SortStableFunc(out, func(a, b engine.Change) int { return strings.Compare(a.Field, b.Field) })
	for _, s := range d.associate {
		out = append(out, engine.Change{Field: "association", To: s})
	}
	return out
}

// Desired resolves the VPC and subnet IDs; ok is false while one does not exist yet.
func (r *networkACL) Desired(deps engine.Deps) (vpcID string, subnets []string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return "", nil, false
		}
	}
	for _, k := range r.subnetKeys() {
		subnets = append(subnets, deps.Get(k).ID)
	}
	return deps.Get(kit.KeyVPC).ID, subnets, true
}

func (r *networkACL) describe(ctx context.Context, id string) (*ec2types.NetworkAcl, []state.Resource, error) {
	return kit.FindTagged(ctx, r.in, "network ACL", r.Key(), id, func(a ec2types.NetworkAcl) string { return aws.ToString(a.NetworkAclId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.NetworkAcl, error) {
			out, err := r.api.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.NetworkAcls, nil
		})
}

func (r *networkACL) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpcID, subnets, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	acl, extras, err := r.describe(ctx, kit.RecID(rec))
	if err != nil || acl == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(acl.NetworkAclId)}, Extras: extras}
	if got := aws.ToString(acl.VpcId); got != vpcID {
		found.Changes = []engine.Change{{Field: "vpc", From: got, To: vpcID}}
		found.Replace = true
		return found, nil
	}
	found.Changes = DiffACL(acl, r.entries(), subnets).Changes(LiveACLEntries(acl))
	return found, nil
}

func (r *networkACL) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	vpcID, subnets, _ := r.Desired(deps)
	out, err := r.api.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{
		VpcId:             &vpcID,
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeNetworkAcl, r.in.Tags(r.Key())),
		ClientToken:       aws.String(r.in.ClientToken(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating network ACL %s in VPC %s: %w", r.Key(), vpcID, err)
	}
	if err := r.converge(ctx, out.NetworkAcl, subnets); err != nil {
		return nil, err
	}
	return &state.Resource{ID: aws.ToString(out.NetworkAcl.NetworkAclId)}, nil
}

func (r *networkACL) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	_, subnets, _ := r.Desired(deps)
	acl, _, err := r.describe(ctx, found.Record.ID)
	if err != nil {
		return nil, err
	}
	if acl == nil {
		return nil, fmt.Errorf("network ACL %s disappeared", found.Record.ID)
	}
	if err := r.converge(ctx, acl, subnets); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// converge writes the rules before it moves the subnets onto the ACL, so that a subnet
// never sits behind an ACL that lacks a rule it needs; a rule being replaced is
// rewritten in place, and rules no longer desired go last.
func (r *networkACL) converge(ctx context.Context, acl *ec2types.NetworkAcl, subnets []string) error {
	id := aws.ToString(acl.NetworkAclId)
	d := DiffACL(acl, r.entries(), subnets)
	for _, e := range d.create {
		_, err := r.api.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: &id, RuleNumber: &e.number, Egress: &e.egress,
			Protocol: &e.proto, RuleAction: ec2types.RuleActionAllow, CidrBlock: e.ipv4(), Ipv6CidrBlock: e.ipv6(), PortRange: e.ports()})
		// There already: a repeat of a create whose answer was lost.
		if kit.ErrorCode(err) == "NetworkAclEntryAlreadyExists" {
			d.replace = append(d.replace, e)
			continue
		}
		if err != nil {
			return fmt.Errorf("adding %s (%s) to network ACL %s: %w", e.Field(), e, id, err)
		}
	}
	for _, e := range d.replace {
		if _, err := r.api.ReplaceNetworkAclEntry(ctx, &ec2.ReplaceNetworkAclEntryInput{NetworkAclId: &id, RuleNumber: &e.number, Egress: &e.egress,
			Protocol: &e.proto, RuleAction: ec2types.RuleActionAllow, CidrBlock: e.ipv4(), Ipv6CidrBlock: e.ipv6(), PortRange: e.ports()}); err != nil {
			return fmt.Errorf("setting %s of network ACL %s to %s: %w", e.Field(), id, e, err)
		}
	}
	for _, s := range d.associate {
		if err := MoveSubnetACL(ctx, r.api, s, id); err != nil {
			return err
		}
	}
	for _, e := range d.remove {
		if _, err := r.api.DeleteNetworkAclEntry(ctx, &ec2.DeleteNetworkAclEntryInput{NetworkAclId: &id, RuleNumber: &e.number, Egress: &e.egress}); err != nil && !kit.IsNotFound(err) {
			return fmt.Errorf("removing %s (%s) from network ACL %s: %w", e.Field(), e, id, err)
		}
	}
	return nil
}

func (e aclEntry) ipv4() *string {
	if strings.Contains(e.cidr, ":") {
		return nil
	}
	return aws.String(e.cidr)
}

func (e aclEntry) ipv6() *string {
	if !strings.Contains(e.cidr, ":") {
		return nil
	}
	return aws.String(e.cidr)
}

func (e aclEntry) ports() *ec2types.PortRange {
	if e.proto == protoAll {
		return nil
	}
	return &ec2types.PortRange{From: aws.Int32(e.from), To: aws.Int32(e.to)}
}

// MoveSubnetACL puts a subnet on the ACL: every subnet has exactly one, so its current
// association is replaced. The replace is never repeated blind (a repeat would name the
// association the first attempt already replaced): after a lost answer, or an association
// replaced meanwhile, it looks again, a few times.
func MoveSubnetACL(ctx context.Context, api networkACLAPI, subnetID, aclID string) error {
	var err error
	for range 3 {
		var assoc, current string
		assoc, current, err = subnetACL(ctx, api, subnetID)
		if err != nil {
			return err
		}
		if current == aclID {
			return nil
		}
		_, err = api.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: &assoc, NetworkAclId: &aclID})
		if err == nil {
			return nil
		}
		if !kit.IsNotFound(err) && !outcomeUnknown(err) {
			break
		}
	}
	return fmt.Errorf("associating subnet %s with network ACL %s: %w", subnetID, aclID, err)
}

// outcomeUnknown reports whether err is a write whose answer was lost
// (awsclients.OutcomeUnknownError): only a look can say whether it took effect.
func outcomeUnknown(err error) bool {
	var u interface{ OutcomeUnknown() bool }
	return errors.As(err, &u) && u.OutcomeUnknown()
}

// subnetACL is the association of a subnet with its ACL, and that ACL.
func subnetACL(ctx context.Context, api networkACLAPI, subnetID string) (assoc, aclID string, err error) {
	out, err := api.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnetID}}}})
	if err != nil {
		return "", "", fmt.Errorf("looking up the network ACL of subnet %s: %w", subnetID, err)
	}
	for _, acl := range out.NetworkAcls {
		for _, a := range acl.Associations {
			if aws.ToString(a.SubnetId) == subnetID {
				return aws.ToString(a.NetworkAclAssociationId), aws.ToString(acl.NetworkAclId), nil
			}
		}
	}
	return "", "", fmt.Errorf("subnet %s has no network ACL association", subnetID)
}

// Delete gives the ACL's subnets back to the VPC's default ACL, which AWS requires before
// it deletes an ACL, then deletes it.
func (r *networkACL) Delete(ctx context.Context, rec *state.Resource) error {
	out, err := r.api.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{rec.ID}})
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing network ACL %s: %w", rec.ID, err)
	}
	for _, acl := range out.NetworkAcls {
		if len(acl.Associations) == 0 {
			continue
		}
		def, err := DefaultACL(ctx, r.api, aws.ToString(acl.VpcId))
		if err != nil {
			return err
		}
		if def == nil {
			return fmt.Errorf("VPC %s has no default network ACL", aws.ToString(acl.VpcId))
		}
		for _, a := range acl.Associations {
			if err := MoveSubnetACL(ctx, r.api, aws.ToString(a.SubnetId), aws.ToString(def.NetworkAclId)); err != nil {
				return fmt.Errorf("giving subnet %s back to the default network ACL before deleting %s: %w", aws.ToString(a.SubnetId), rec.ID, err)
			}
		}
	}
	return r.in.DeleteWaitingForDependents(ctx, "network ACL "+rec.ID, eniLinger, func(ctx context.Context) error {
		_, err := r.api.DeleteNetworkAcl(ctx, &ec2.DeleteNetworkAclInput{NetworkAclId: &rec.ID})
		return err
	})
}
