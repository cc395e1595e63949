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

type eipAPI interface {
	AllocateAddress(ctx context.Context, in *ec2.AllocateAddressInput, opts ...func(*ec2.Options)) (*ec2.AllocateAddressOutput, error)
	DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error)
	ReleaseAddress(ctx context.Context, in *ec2.ReleaseAddressInput, opts ...func(*ec2.Options)) (*ec2.ReleaseAddressOutput, error)
}

// eip is the Elastic IP of one NAT gateway: the address the service's outbound traffic
// comes from, stable for allow-lists elsewhere.
type eip struct {
	in    *kit.Inputs
	api   eipAPI
	index int
}

func keyEIP(index int) string { return "network/eip-nat-" + kit.AZLetters[index] }

func (r *eip) Key() string         { return keyEIP(r.index) }
func (r *eip) Type() string        { return "ec2:eip" }
func (r *eip) DependsOn() []string { return nil }

func (r *eip) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	a, extras, err := kit.FindTagged(ctx, r.in, "Elastic IP", r.Key(), kit.RecID(rec), func(a ec2types.Address) string { return aws.ToString(a.AllocationId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.Address, error) {
			out, err := r.api.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.Addresses, nil
		})
	if err != nil || a == nil {
		return nil, err
	}
	return &engine.Found{Record: eipRecord(aws.ToString(a.AllocationId), aws.ToString(a.PublicIp)), Extras: extras}, nil
}

func eipRecord(allocationID, publicIP string) state.Resource {
	return state.Resource{ID: allocationID, Attrs: map[string]string{"public_ip": publicIP}}
}

func (r *eip) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	out, err := r.api.AllocateAddress(ctx, &ec2.AllocateAddressInput{
		Domain:            ec2types.DomainTypeVpc,
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeElasticIp, r.in.Tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("allocating an Elastic IP (the default quota is 5 per region): %w", err)
	}
	rec := eipRecord(aws.ToString(out.AllocationId), aws.ToString(out.PublicIp))
	return &rec, nil
}

// Update is never needed: an address has nothing to drift.
func (r *eip) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

func (r *eip) Delete(ctx context.Context, rec *state.Resource) error {
	err := r.in.RetryWhileInUse(ctx, "Elastic IP "+rec.ID+" to be disassociated", eniLinger, func(ctx context.Context) error {
		_, err := r.api.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: &rec.ID})
		if kit.IsNotFound(err) {
			return nil
		}
		return kit.InUseAs(err, "InvalidIPAddress.InUse")
	})
	if err != nil {
		return fmt.Errorf("releasing Elastic IP %s: %w", rec.ID, err)
	}
	return nil
}
