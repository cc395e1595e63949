package network

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
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type securityGroupRulesAPI interface {
	securityGroupAPI
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	AuthorizeSecurityGroupEgress(ctx context.Context, in *ec2.AuthorizeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupEgressOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupEgress(ctx context.Context, in *ec2.RevokeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
}

// SGRules are all the ingress and egress rules of one group, nothing more: the default
// allow-all egress is revoked, so the tasks reach only what they must and the ALB only
// the tasks. Its ID is the group's.
type SGRules struct {
	In   *kit.Inputs
	api  securityGroupRulesAPI
	Role string
}

func (r *SGRules) Key() string         { return kit.KeySGRules(r.Role) }
func (r *SGRules) Type() string        { return "ec2:security-group-rules" }
func (r *SGRules) DependsOn() []string { return []string{kit.KeySG(kit.SGALB), kit.KeySG(kit.SGECS)} }

// SGRule is one rule in one direction: a protocol, a port range and one peer.
type SGRule struct {
	Egress   bool
	Proto    string // "tcp", "udp", "icmp", or "-1" for all traffic
	From, To int32
	Peer     string // an IPv4 or IPv6 CIDR, a security group ID or a prefix list ID
}

func (s SGRule) String() string {
	ports := s.Proto + "/" + strconv.Itoa(int(s.From))
	switch {
	case s.Proto == "-1":
		ports = "all"
	case s.From != s.To:
		ports += "-" + strconv.Itoa(int(s.To))
	}
	if s.Egress {
		return ports + " to " + s.Peer
	}
	return ports + " from " + s.Peer
}

func (s SGRule) Direction() string {
	if s.Egress {
		return "egress"
	}
	return "ingress"
}

func (s SGRule) Permission() ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(s.Proto)}
	if s.Proto != "-1" {
		p.FromPort, p.ToPort = aws.Int32(s.From), aws.Int32(s.To)
	}
	switch {
	case strings.HasPrefix(s.Peer, "sg-"):
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(s.Peer)}}
	case strings.HasPrefix(s.Peer, "pl-"):
		p.PrefixListIds = []ec2types.PrefixListId{{PrefixListId: aws.String(s.Peer)}}
	case strings.Contains(s.Peer, ":"):
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(s.Peer)}}
	default:
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(s.Peer)}}
	}
	return p
}

// LiveRules flattens a group's permissions into one rule per peer.
func LiveRules(g *ec2types.SecurityGroup) []SGRule {
	var out []SGRule
	for _, dir := range []struct {
		egress bool
		perms  []ec2types.IpPermission
	}{{false, g.IpPermissions}, {true, g.IpPermissionsEgress}} {
		for _, p := range dir.perms {
			base := SGRule{Egress: dir.egress, Proto: aws.ToString(p.IpProtocol)}
			if base.Proto != "-1" {
				base.From, base.To = aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
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
				s.Peer = peer
				out = append(out, s)
			}
		}
	}
	return out
}

// Desired are the rules this group must have, given both groups' IDs; ok is false while
// a group does not exist yet (in a plan).
func (r *SGRules) Desired(deps engine.Deps) (groupID string, rules []SGRule, ok bool) {
	alb, ecs := deps.Get(kit.KeySG(kit.SGALB)), deps.Get(kit.KeySG(kit.SGECS))
	if alb == nil || ecs == nil {
		return "", nil, false
	}
	port := int32(r.In.Config.Service.ContainerPort)
	if r.Role == kit.SGALB {
		sources := []string{"0.0.0.0/0"}
		if r.In.Config.Network.IPv6 {
			sources = append(sources, "::/0")
		}
		for _, p := range []int32{80, 443} {
			for _, src := range sources {
				rules = append(rules, SGRule{Proto: "tcp", From: p, To: p, Peer: src})
			}
		}
		rules = append(rules, SGRule{Egress: true, Proto: "tcp", From: port, To: port, Peer: ecs.ID})
		return alb.ID, rules, true
	}
	rules = append(rules, SGRule{Proto: "tcp", From: port, To: port, Peer: alb.ID})
	for _, p := range r.In.Config.Service.EgressPorts {
		for _, cidr := range r.In.Config.Service.EgressCIDRs {
			// AWS reports CIDRs in canonical form; compare like with like.
			if pfx, err := netip.ParsePrefix(cidr); err == nil {
				cidr = pfx.Masked().String()
			}
			rules = append(rules, SGRule{Egress: true, Proto: "tcp", From: int32(p), To: int32(p), Peer: cidr})
		}
	}
	return ecs.ID, rules, true
}

// RuleDiff lists the desired rules the group lacks and the rules it has that are not desired.
func RuleDiff(live, want []SGRule) (missing, extra []SGRule) {
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

func RuleChanges(missing, extra []SGRule) []engine.Change {
	var out []engine.Change
	for _, s := range missing {
		out = append(out, engine.Change{Field: s.Direction(), To: s.String()})
	}
	for _, s := range extra {
		out = append(out, engine.Change{Field: s.Direction(), From: s.String()})
	}
	slices.SortStableFunc(out, func(a, b engine.Change) int { return strings.Compare(a.Field, b.Field) })
	return out
}

func (r *SGRules) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	id, want, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	g, err := r.group(ctx, id)
	if err != nil || g == nil {
		return nil, err
	}
	missing, extra := RuleDiff(LiveRules(g), want)
	return &engine.Found{Record: state.Resource{ID: id}, Changes: RuleChanges(missing, extra)}, nil
}

// group describes the group; nil when it is gone.
func (r *SGRules) group(ctx context.Context, id string) (*ec2types.SecurityGroup, error) {
	groups, err := describeSecurityGroup(ctx, r.api, id)
	if kit.IsNotFound(err) || err == nil && len(groups) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing security group %s: %w", id, err)
	}
	return &groups[0], nil
}

func (r *SGRules) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	id, want, _ := r.Desired(deps)
	g, err := r.group(ctx, id)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("security group %s does not exist", id)
	}
	missing, extra := RuleDiff(LiveRules(g), want)
	if err := r.apply(ctx, id, missing, extra); err != nil {
		return nil, err
	}
	return &state.Resource{ID: id}, nil
}

func (r *SGRules) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// apply authorizes before it revokes, so that a group being corrected never has fewer
// openings than the desired ones. One rule per call: AWS fails a whole batch on a
// single duplicate.
func (r *SGRules) apply(ctx context.Context, id string, missing, extra []SGRule) error {
	for _, s := range missing {
		perm := []ec2types.IpPermission{s.Permission()}
		var err error
		if s.Egress {
			_, err = r.api.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &id, IpPermissions: perm})
		} else {
			_, err = r.api.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &id, IpPermissions: perm})
		}
		if err != nil && kit.ErrorCode(err) != "InvalidPermission.Duplicate" {
			return fmt.Errorf("allowing %s %s on security group %s: %w", s.Direction(), s, id, err)
		}
	}
	for _, s := range extra {
		if err := r.revoke(ctx, id, s.Egress, []ec2types.IpPermission{s.Permission()}); err != nil {
			return fmt.Errorf("revoking %s %s on security group %s: %w", s.Direction(), s, id, err)
		}
	}
	return nil
}

func (r *SGRules) revoke(ctx context.Context, id string, egress bool, perms []ec2types.IpPermission) error {
	if len(perms) == 0 {
		return nil
	}
	var err error
	if egress {
		_, err = r.api.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &id, IpPermissions: perms})
	} else {
		_, err = r.api.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id, IpPermissions: perms})
	}
	if kit.IsNotFound(err) {
		return nil
	}
	return err
}

// Delete revokes every rule of the group, which lets the other group, referenced by
// them, be deleted.
func (r *SGRules) Delete(ctx context.Context, rec *state.Resource) error {
	g, err := r.group(ctx, rec.ID)
	if err != nil || g == nil {
		return err
	}
	// Permissions are rebuilt from the rules rather than echoed back: described ones carry
	// read-only fields.
	perms := map[bool][]ec2types.IpPermission{}
	for _, s := range LiveRules(g) {
		perms[s.Egress] = append(perms[s.Egress], s.Permission())
	}
	for _, egress := range []bool{false, true} {
		if err := r.revoke(ctx, rec.ID, egress, perms[egress]); err != nil {
			return fmt.Errorf("revoking the rules of security group %s: %w", rec.ID, err)
		}
	}
	return nil
}
