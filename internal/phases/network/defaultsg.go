package network

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

const KeyDefaultSG = "network/default-sg"

type defaultSGAPI interface {
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupEgress(ctx context.Context, in *ec2.RevokeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
}

// defaultSG is the VPC's default security group, emptied of every rule. AWS creates it
// with the VPC, lets its members talk to each other and anything out, and puts into it
// whatever is launched without a group: with no rules, such a thing reaches nothing and
// nothing reaches it. It cannot be deleted; it goes with the VPC, so Delete leaves it.
type defaultSG struct {
	in  *kit.Inputs
	api defaultSGAPI
}

func (r *defaultSG) Key() string         { return KeyDefaultSG }
func (r *defaultSG) Type() string        { return "ec2:default-security-group" }
func (r *defaultSG) DependsOn() []string { return []string{kit.KeyVPC} }

// group is the default group of the VPC; nil while the VPC does not exist (in a plan).
func (r *defaultSG) group(ctx context.Context, deps engine.Deps) (*ec2types.SecurityGroup, error) {
	vpc := deps.Get(kit.KeyVPC)
	if vpc == nil {
		return nil, nil
	}
	out, err := r.api.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc.ID}},
		{Name: aws.String("group-name"), Values: []string{"default"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("describing the default security group of VPC %s: %w", vpc.ID, err)
	}
	if len(out.SecurityGroups) != 1 {
		return nil, nil
	}
	return &out.SecurityGroups[0], nil
}

// Find reports every rule of the group as drift: the desired group has none.
func (r *defaultSG) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	g, err := r.group(ctx, deps)
	if err != nil || g == nil {
		return nil, err
	}
	return &engine.Found{Record: state.Resource{ID: aws.ToString(g.GroupId)}, Changes: RuleChanges(nil, LiveRules(g))}, nil
}

// Create empties the group that came with the VPC.
func (r *defaultSG) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	g, err := r.group(ctx, deps)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("VPC %s has no default security group", deps.Get(kit.KeyVPC).ID)
	}
	if err := r.empty(ctx, g); err != nil {
		return nil, err
	}
	return &state.Resource{ID: aws.ToString(g.GroupId)}, nil
}

func (r *defaultSG) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// empty revokes the group's rules one at a time, so that one already gone (revoked
// meanwhile, or by a repeat whose answer was lost) does not keep the others.
func (r *defaultSG) empty(ctx context.Context, g *ec2types.SecurityGroup) error {
	id := aws.ToString(g.GroupId)
	for _, s := range LiveRules(g) {
		perms := []ec2types.IpPermission{s.Permission()}
		var err error
		if s.Egress {
			_, err = r.api.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &id, IpPermissions: perms})
		} else {
			_, err = r.api.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id, IpPermissions: perms})
		}
		if err != nil && !kit.IsNotFound(err) {
			return fmt.Errorf("revoking %s %s on the default security group %s: %w", s.Direction(), s, id, err)
		}
	}
	return nil
}

// Delete leaves the group: AWS deletes it with the VPC and refuses to before.
func (r *defaultSG) Delete(context.Context, *state.Resource) error { return nil }
