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

const KeyDefaultACL = "network/default-acl"

// defaultNetworkACL is the VPC's default network ACL, emptied of its allow rules: no
// subnet of fvdeploy's uses it (each is on its tier's ACL), and a subnet added to the VPC
// by hand, which AWS puts on it, then passes nothing until it is given an ACL that says
// what it may. AWS's fixed deny-all rules stay; the ACL goes with the VPC.
type defaultNetworkACL struct {
	in  *kit.Inputs
	api networkACLAPI
}

func (r *defaultNetworkACL) Key() string  { return KeyDefaultACL }
func (r *defaultNetworkACL) Type() string { return "ec2:default-network-acl" }

// DependsOn puts it after the tiers' ACLs: a running service's subnets move onto them
// before the ACL they leave stops passing traffic.
func (r *defaultNetworkACL) DependsOn() []string {
	return []string{kit.KeyVPC, KeyACLPublic, KeyACLPrivate}
}

// acl is the VPC's default ACL; nil while the VPC does not exist (in a plan).
func (r *defaultNetworkACL) acl(ctx context.Context, deps engine.Deps) (*ec2types.NetworkAcl, error) {
	vpc := deps.Get(kit.KeyVPC)
	if vpc == nil {
		return nil, nil
	}
	return DefaultACL(ctx, r.api, vpc.ID)
}

// DefaultACL is the ACL AWS made with the VPC, nil when AWS lists none.
func DefaultACL(ctx context.Context, api networkACLAPI, vpcID string) (*ec2types.NetworkAcl, error) {
	out, err := api.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpcID}},
		{Name: aws.String("default"), Values: []string{"true"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("looking up the default network ACL of VPC %s: %w", vpcID, err)
	}
	for i := range out.NetworkAcls {
		if aws.ToBool(out.NetworkAcls[i].IsDefault) {
			return &out.NetworkAcls[i], nil
		}
	}
	return nil, nil
}

// Find reports every rule but AWS's fixed ones as drift.
func (r *defaultNetworkACL) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	acl, err := r.acl(ctx, deps)
	if err != nil || acl == nil {
		return nil, err
	}
	live := LiveACLEntries(acl)
	return &engine.Found{Record: state.Resource{ID: aws.ToString(acl.NetworkAclId)}, Changes: aclDrift{remove: live}.Changes(live)}, nil
}

// Create empties the ACL that came with the VPC.
func (r *defaultNetworkACL) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	acl, err := r.acl(ctx, deps)
	if err != nil {
		return nil, err
	}
	if acl == nil {
		return nil, fmt.Errorf("VPC %s has no default network ACL", deps.Get(kit.KeyVPC).ID)
	}
	id := aws.ToString(acl.NetworkAclId)
	for _, e := range LiveACLEntries(acl) {
		if _, err := r.api.DeleteNetworkAclEntry(ctx, &ec2.DeleteNetworkAclEntryInput{NetworkAclId: &id, RuleNumber: &e.number, Egress: &e.egress}); err != nil && !kit.IsNotFound(err) {
			return nil, fmt.Errorf("removing %s (%s) from the default network ACL %s: %w", e.Field(), e, id, err)
		}
	}
	return &state.Resource{ID: id}, nil
}

func (r *defaultNetworkACL) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete leaves the ACL: AWS deletes it with the VPC and refuses to before.
func (r *defaultNetworkACL) Delete(context.Context, *state.Resource) error { return nil }
