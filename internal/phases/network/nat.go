package network

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type natAPI interface {
	CreateNatGateway(ctx context.Context, in *ec2.CreateNatGatewayInput, opts ...func(*ec2.Options)) (*ec2.CreateNatGatewayOutput, error)
	DescribeNatGateways(ctx context.Context, in *ec2.DescribeNatGatewaysInput, opts ...func(*ec2.Options)) (*ec2.DescribeNatGatewaysOutput, error)
	DeleteNatGateway(ctx context.Context, in *ec2.DeleteNatGatewayInput, opts ...func(*ec2.Options)) (*ec2.DeleteNatGatewayOutput, error)
}

// nat is the NAT gateway in the public subnet of one AZ, through which the private
// subnets reach ECR, Secrets Manager and CloudWatch Logs.
type nat struct {
	in    *kit.Inputs
	api   natAPI
	index int
}

func keyNAT(index int) string { return "network/nat-" + kit.AZLetters[index] }

func (r *nat) Key() string  { return keyNAT(r.index) }
func (r *nat) Type() string { return "ec2:nat-gateway" }

// DependsOn includes the internet gateway: a public NAT gateway created before it fails.
func (r *nat) DependsOn() []string {
	return []string{kit.KeySubnet(true, r.index), keyEIP(r.index), KeyIGW}
}

// NATLive are the states of a NAT gateway that still exists or is coming; deleted ones
// stay listed for about an hour, failed ones until AWS cleans them up.
var NATLive = []string{string(ec2types.NatGatewayStatePending), string(ec2types.NatGatewayStateAvailable)}

func isNATNotFound(err error) bool {
	return kit.IsNotFound(err) || kit.ErrorCode(err) == "NatGatewayNotFound"
}

func (r *nat) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	sub, addr := deps.Get(kit.KeySubnet(true, r.index)), deps.Get(keyEIP(r.index))
	if sub == nil || addr == nil {
		return nil, nil
	}
	live := func(all []ec2types.NatGateway) []ec2types.NatGateway {
		return slices.DeleteFunc(all, func(g ec2types.NatGateway) bool { return !slices.Contains(NATLive, string(g.State)) })
	}
	g, extras, err := kit.FindEC2(ctx, "NAT gateway", r.Key(), kit.RecID(rec), func(g ec2types.NatGateway) string { return aws.ToString(g.NatGatewayId) },
		func(ctx context.Context, id string) ([]ec2types.NatGateway, error) {
			out, err := r.api.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}})
			if isNATNotFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return live(out.NatGateways), nil
		},
		func(ctx context.Context) ([]ec2types.NatGateway, error) {
			// The tags are checked again on what comes back: moto ignores tag filters here.
			out, err := r.api.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: append(kit.EC2TagFilters(r.in.Tags(r.Key())),
				ec2types.Filter{Name: aws.String("state"), Values: NATLive})})
			if err != nil {
				return nil, err
			}
			return slices.DeleteFunc(live(out.NatGateways), func(g ec2types.NatGateway) bool { return !r.in.Owns(r.Key(), kit.EC2TagMap(g.Tags)) }), nil
		})
	if err != nil || g == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(g.NatGatewayId)}, Extras: extras}
	if got := aws.ToString(g.SubnetId); got != sub.ID {
		found.Changes = append(found.Changes, engine.Change{Field: "subnet", From: got, To: sub.ID})
		found.Replace = true
	}
	if got := NATAllocation(g); got != addr.ID {
		found.Changes = append(found.Changes, engine.Change{Field: "allocation_id", From: got, To: addr.ID})
		found.Replace = true
	}
	if !found.Replace && g.State == ec2types.NatGatewayStatePending {
		// A run stopped while the gateway was starting: Update waits for it.
		found.Changes = append(found.Changes, engine.Change{Field: "state", From: string(g.State), To: string(ec2types.NatGatewayStateAvailable)})
	}
	return found, nil
}

func NATAllocation(g *ec2types.NatGateway) string {
	for _, a := range g.NatGatewayAddresses {
		if aws.ToBool(a.IsPrimary) || len(g.NatGatewayAddresses) == 1 {
			return aws.ToString(a.AllocationId)
		}
	}
	return ""
}

func (r *nat) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	sub, addr := deps.Get(kit.KeySubnet(true, r.index)).ID, deps.Get(keyEIP(r.index)).ID
	// The idempotency token is the SDK's: one per call, reused by its retries. A crash
	// after the call is covered by the tags; a fixed token would, after an out-of-band
	// delete, hand back the deleted gateway.
	out, err := r.api.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{
		SubnetId:          &sub,
		AllocationId:      &addr,
		ConnectivityType:  ec2types.ConnectivityTypePublic,
		ClientToken:       aws.String(r.in.ClientToken(r.Key())),
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeNatgateway, r.in.Tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating NAT gateway in subnet %s: %w", sub, err)
	}
	id := aws.ToString(out.NatGateway.NatGatewayId)
	if err := r.waitAvailable(ctx, id); err != nil {
		return nil, err
	}
	return &state.Resource{ID: id}, nil
}

// Update only ever waits for a pending gateway: everything else replaces.
func (r *nat) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.waitAvailable(ctx, found.Record.ID); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

func (r *nat) waitAvailable(ctx context.Context, id string) error {
	return r.in.WaitFor(ctx, "NAT gateway "+id+" to be available", func(ctx context.Context) (bool, string, error) {
		g, err := r.state(ctx, id)
		if err != nil {
			return false, "", err
		}
		switch {
		case g == nil:
			return false, "", fmt.Errorf("NAT gateway %s disappeared", id)
		case g.State == ec2types.NatGatewayStateAvailable:
			return true, "", nil
		case g.State != ec2types.NatGatewayStatePending:
			return false, "", fmt.Errorf("NAT gateway %s is %s: %s", id, g.State, aws.ToString(g.FailureMessage))
		}
		return false, string(g.State), nil
	})
}

// state describes one gateway; nil means AWS no longer knows it.
func (r *nat) state(ctx context.Context, id string) (*ec2types.NatGateway, error) {
	out, err := r.api.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}})
	if isNATNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing NAT gateway %s: %w", id, err)
	}
	if len(out.NatGateways) == 0 {
		return nil, nil
	}
	return &out.NatGateways[0], nil
}

// Delete returns only once the gateway is deleted: until then its Elastic IP is still
// associated and its network interface still sits in the subnet.
func (r *nat) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.DeleteNatGateway(ctx, &ec2.DeleteNatGatewayInput{NatGatewayId: &rec.ID}); err != nil && !isNATNotFound(err) {
		return fmt.Errorf("deleting NAT gateway %s: %w", rec.ID, err)
	}
	return r.in.WaitFor(ctx, "NAT gateway "+rec.ID+" to be deleted", func(ctx context.Context) (bool, string, error) {
		g, err := r.state(ctx, rec.ID)
		if err != nil {
			return false, "", err
		}
		if g == nil || g.State == ec2types.NatGatewayStateDeleted || g.State == ec2types.NatGatewayStateFailed {
			return true, "", nil
		}
		return false, string(g.State), nil
	})
}
