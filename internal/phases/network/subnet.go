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

type subnetAPI interface {
	azAPI
	CreateSubnet(ctx context.Context, in *ec2.CreateSubnetInput, opts ...func(*ec2.Options)) (*ec2.CreateSubnetOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	ModifySubnetAttribute(ctx context.Context, in *ec2.ModifySubnetAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifySubnetAttributeOutput, error)
	DeleteSubnet(ctx context.Context, in *ec2.DeleteSubnetInput, opts ...func(*ec2.Options)) (*ec2.DeleteSubnetOutput, error)
}

// subnet is the public or private subnet of one AZ. Public subnets hold the ALB and the
// NAT gateways, private ones the tasks. Nothing launched in them needs a public address
// by default: the ALB and NAT bring their own.
type subnet struct {
	in     *kit.Inputs
	api    subnetAPI
	public bool
	index  int // which AZ: 0 is "a"
}

func (r *subnet) Key() string         { return kit.KeySubnet(r.public, r.index) }
func (r *subnet) Type() string        { return "ec2:subnet" }
func (r *subnet) DependsOn() []string { return []string{kit.KeyVPC} }

// Desired is the AZ and CIDR block of this subnet: public subnets take the first blocks
// of the VPC, private ones the blocks after all the public ones.
func (r *subnet) Desired(ctx context.Context) (az, cidr string, err error) {
	azs, err := availabilityZones(ctx, r.in, r.api)
	if err != nil {
		return "", "", err
	}
	block := r.index
	if !r.public {
		block += r.in.Config.Network.AZCount
	}
	cidr, err = SubnetCIDR(r.in.Config.Network.VPCCIDR, block)
	return azs[r.index], cidr, err
}

func (r *subnet) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(kit.KeyVPC)
	if vpc == nil {
		return nil, nil
	}
	az, cidr, err := r.Desired(ctx)
	if err != nil {
		return nil, err
	}
	s, extras, err := kit.FindTagged(ctx, r.in, "subnet", r.Key(), kit.RecID(rec), func(s ec2types.Subnet) string { return aws.ToString(s.SubnetId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.Subnet, error) {
			out, err := r.api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.Subnets, nil
		})
	if err != nil || s == nil {
		return nil, err
	}
	gotAZ, gotCIDR := aws.ToString(s.AvailabilityZone), aws.ToString(s.CidrBlock)
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(s.SubnetId), Attrs: map[string]string{"az": gotAZ, "cidr": gotCIDR}}, Extras: extras}
	for _, c := range []engine.Change{{Field: "vpc", From: aws.ToString(s.VpcId), To: vpc.ID}, {Field: "availability_zone", From: gotAZ, To: az}, {Field: "cidr_block", From: gotCIDR, To: cidr}} {
		if c.From != c.To {
			found.Changes = append(found.Changes, c)
			found.Replace = true
		}
	}
	if aws.ToBool(s.MapPublicIpOnLaunch) {
		found.Changes = append(found.Changes, engine.Change{Field: "map_public_ip_on_launch", From: "true", To: "false"})
	}
	return found, nil
}

func (r *subnet) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	az, cidr, err := r.Desired(ctx)
	if err != nil {
		return nil, err
	}
	out, err := r.api.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId:             aws.String(deps.Get(kit.KeyVPC).ID),
		AvailabilityZone:  aws.String(az),
		CidrBlock:         aws.String(cidr),
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeSubnet, r.in.Tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating subnet %s in %s: %w", cidr, az, err)
	}
	// A new subnet outside the default VPC does not map public addresses: nothing to switch off.
	return &state.Resource{ID: aws.ToString(out.Subnet.SubnetId), Attrs: map[string]string{"az": az, "cidr": cidr}}, nil
}

// Update can only have a public-address mapping to switch off: everything else replaces.
func (r *subnet) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	id := found.Record.ID
	_, err := r.api.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{
		SubnetId: &id, MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)},
	})
	if err != nil {
		return nil, fmt.Errorf("switching off public addresses on subnet %s: %w", id, err)
	}
	rec := found.Record
	return &rec, nil
}

func (r *subnet) Delete(ctx context.Context, rec *state.Resource) error {
	return r.in.DeleteWaitingForDependents(ctx, "subnet "+rec.ID, eniLinger, func(ctx context.Context) error {
		_, err := r.api.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &rec.ID})
		return err
	})
}
