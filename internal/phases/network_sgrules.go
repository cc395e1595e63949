package phases

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type securityGroupRulesAPI interface {
	securityGroupAPI
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	AuthorizeSecurityGroupEgress(ctx context.Context, in *ec2.AuthorizeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupEgressOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupEgress(ctx context.Context, in *ec2.RevokeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
}

// sgRules are all the ingress and egress rules of one group, nothing more: the default
// allow-all egress is revoked, so the tasks reach only what they must and the ALB only
// the tasks. Its ID is the group's.
type sgRules struct {
	in   *Inputs
	api  securityGroupRulesAPI
	role string
}

func (r *sgRules) Key() string         { return keySGRules(r.role) }
func (r *sgRules) Type() string        { return "ec2:security-group-rules" }
func (r *sgRules) DependsOn() []string { return []string{keySG(sgALB), keySG(sgECS)} }

// sgRule is one rule in one direction: a protocol, a port range and one peer.
type sgRule struct {
	egress   bool
	proto    string // "tcp", "udp", "icmp", or "-1" for all traffic
	from, to int32
	peer     string // an IPv4 or IPv6 CIDR, a security group ID or a prefix list ID
}

func (s sgRule) String() string {
	ports := s.proto + "/" + strconv.Itoa(int(s.from))
	switch {
	case s.proto == "-1":
		ports = "all"
	case s.from != s.to:
		ports += "-" + strconv.Itoa(int(s.to))
	}
	if s.egress {
		return ports + " to " + s.peer
	}
	return ports + " from " + s.peer
}

func (s sgRule) direction() string {
	if s.egress {
		return "egress"
	}
	return "ingress"
}

func (s sgRule) permission() ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(s.proto)}
	if s.proto != "-1" {
		p.FromPort, p.ToPort = aws.Int32(s.from), aws.Int32(s.to)
	}
	switch {
	case strings.HasPrefix(s.peer, "sg-"):
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(s.peer)}}
	case strings.HasPrefix(s.peer, "pl-"):
		p.PrefixListIds = []ec2types.PrefixListId{{PrefixListId: aws.String(s.peer)}}
	case strings.Contains(s.peer, ":"):
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(s.peer)}}
	default:
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(s.peer)}}
	}
	return p
}

// liveRules flattens a group's permissions into one rule per peer.
func liveRules(g *ec2types.SecurityGroup) []sgRule {
	var out []sgRule
	for _, dir := range []struct {
		egress bool
		perms  []ec2types.IpPermission
	}{{false, g.IpPermissions}, {true, g.IpPermissionsEgress}} {
		for _, p := range dir.perms {
			base := sgRule{egress: dir.egress, proto: aws.ToString(p.IpProtocol)}
			if base.proto != "-1" {
				base.from, base.to = aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
			}
			var peers []string
			for _, x := range p.IpRanges {
				peers = append(peers, aws.ToString(x.CidrIp))
			}
			for _, x := range p.Ipv6Ranges {
				peers = append(peers, aws.ToString(x.CidrIpv6))
			}
			for _, x := range p.UserIdGroupPairs {
				peers = append(peers, aws.ToString(x.GroupId))
			}
			for _, x := range p.PrefixListIds {
				peers = append(peers, aws.ToString(x.PrefixListId))
			}
			for _, peer := range peers {
				s := base
				s.peer = peer
				out = append(out, s)
			}
		}
	}
	return out
}

// desired are the rules this group must have, given both groups' IDs; ok is false while
// a group does not exist yet (in a plan).
func (r *sgRules) desired(deps engine.Deps) (groupID string, rules []sgRule, ok bool) {
	alb, ecs := deps.Get(keySG(sgALB)), deps.Get(keySG(sgECS))
	if alb == nil || ecs == nil {
		return "", nil, false
	}
	port := int32(r.in.Config.Service.ContainerPort)
	if r.role == sgALB {
		sources := []string{"0.0.0.0/0"}
		if r.in.Config.Network.IPv6 {
			sources = append(sources, "::/0")
		}
		for _, p := range []int32{80, 443} {
			for _, src := range sources {
				rules = append(rules, sgRule{proto: "tcp", from: p, to: p, peer: src})
			}
		}
		rules = append(rules, sgRule{egress: true, proto: "tcp", from: port, to: port, peer: ecs.ID})
		return alb.ID, rules, true
	}
	rules = append(rules, sgRule{proto: "tcp", from: port, to: port, peer: alb.ID})
	for _, p := range r.in.Config.Service.EgressPorts {
		for _, cidr := range r.in.Config.Service.EgressCIDRs {
			// AWS reports CIDRs in canonical form; compare like with like.
			if pfx, err := netip.ParsePrefix(cidr); err == nil {
				cidr = pfx.Masked().String()
			}
			rules = append(rules, sgRule{egress: true, proto: "tcp", from: int32(p), to: int32(p), peer: cidr})
		}
	}
	return ecs.ID, rules, true
}

// ruleDiff lists the desired rules the group lacks and the rules it has that are not desired.
func ruleDiff(live, want []sgRule) (missing, extra []sgRule) {
	for _, w := range want {
		if !slices.Contains(live, w) && !slices.Contains(missing, w) {
			missing = append(missing, w)
		}
	}
	for _, l := range live {
		if !slices.Contains(want, l) {
			extra = append(extra, l)
		}
	}
	return missing, extra
}

func ruleChanges(missing, extra []sgRule) []engine.Change {
	var out []engine.Change
	for _, s := range missing {
		out = append(out, engine.Change{Field: s.direction(), To: s.String()})
	}
	for _, s := range extra {
		out = append(out, engine.Change{Field: s.direction(), From: s.String()})
	}
	slices.SortStableFunc(out, func(a, b engine.Change) int { return strings.Compare(a.Field, b.Field) })
	return out
}

func (r *sgRules) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	id, want, ok := r.desired(deps)
	if !ok {
		return nil, nil
	}
	g, err := r.group(ctx, id)
	if err != nil || g == nil {
		return nil, err
	}
	missing, extra := ruleDiff(liveRules(g), want)
	return &engine.Found{Record: state.Resource{ID: id}, Changes: ruleChanges(missing, extra)}, nil
}

// group describes the group; nil when it is gone.
func (r *sgRules) group(ctx context.Context, id string) (*ec2types.SecurityGroup, error) {
	groups, err := describeSecurityGroup(ctx, r.api, id)
	if isNotFound(err) || err == nil && len(groups) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing security group %s: %w", id, err)
	}
	return &groups[0], nil
}

func (r *sgRules) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	id, want, _ := r.desired(deps)
	g, err := r.group(ctx, id)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("security group %s does not exist", id)
	}
	missing, extra := ruleDiff(liveRules(g), want)
	if err := r.apply(ctx, id, missing, extra); err != nil {
		return nil, err
	}
	return &state.Resource{ID: id}, nil
}

func (r *sgRules) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// apply authorizes before it revokes, so that a group being corrected never has fewer
// openings than the desired ones. One rule per call: AWS fails a whole batch on a
// single duplicate.
func (r *sgRules) apply(ctx context.Context, id string, missing, extra []sgRule) error {
	for _, s := range missing {
		perm := []ec2types.IpPermission{s.permission()}
		var err error
		if s.egress {
			_, err = r.api.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &id, IpPermissions: perm})
		} else {
			_, err = r.api.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &id, IpPermissions: perm})
		}
		if err != nil && errorCode(err) != "InvalidPermission.Duplicate" {
			return fmt.Errorf("allowing %s %s on security group %s: %w", s.direction(), s, id, err)
		}
	}
	for _, s := range extra {
		if err := r.revoke(ctx, id, s.egress, []ec2types.IpPermission{s.permission()}); err != nil {
			return fmt.Errorf("revoking %s %s on security group %s: %w", s.direction(), s, id, err)
		}
	}
	return nil
}

func (r *sgRules) revoke(ctx context.Context, id string, egress bool, perms []ec2types.IpPermission) error {
	if len(perms) == 0 {
		return nil
	}
	var err error
	if egress {
		_, err = r.api.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &id, IpPermissions: perms})
	} else {
		_, err = r.api.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id, IpPermissions: perms})
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

// Delete revokes every rule of the group, which lets the other group, referenced by
// them, be deleted.
func (r *sgRules) Delete(ctx context.Context, rec *state.Resource) error {
	g, err := r.group(ctx, rec.ID)
	if err != nil || g == nil {
		return err
	}
	// Permissions are rebuilt from the rules rather than echoed back: described ones carry
	// read-only fields.
	perms := map[bool][]ec2types.IpPermission{}
	for _, s := range liveRules(g) {
		perms[s.egress] = append(perms[s.egress], s.permission())
	}
	for _, egress := range []bool{false, true} {
		if err := r.revoke(ctx, rec.ID, egress, perms[egress]); err != nil {
			return fmt.Errorf("revoking the rules of security group %s: %w", rec.ID, err)
		}
	}
	return nil
}
