package network

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type vpcAPI interface {
	CreateVpc(ctx context.Context, in *ec2.CreateVpcInput, opts ...func(*ec2.Options)) (*ec2.CreateVpcOutput, error)
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeVpcAttribute(ctx context.Context, in *ec2.DescribeVpcAttributeInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcAttributeOutput, error)
	ModifyVpcAttribute(ctx context.Context, in *ec2.ModifyVpcAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifyVpcAttributeOutput, error)
	DeleteVpc(ctx context.Context, in *ec2.DeleteVpcInput, opts ...func(*ec2.Options)) (*ec2.DeleteVpcOutput, error)
}

// vpc is the VPC, with DNS support and hostnames on (tasks resolve AWS endpoints and
// the ALB needs both).
type vpc struct {
	in  *kit.Inputs
	api vpcAPI
}

func (r *vpc) Key() string         { return kit.KeyVPC }
func (r *vpc) Type() string        { return "ec2:vpc" }
func (r *vpc) DependsOn() []string { return nil }

func (r *vpc) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	v, extras, err := r.describe(ctx, rec)
	if err != nil || v == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(v.VpcId), Attrs: map[string]string{"cidr": aws.ToString(v.CidrBlock)}}, Extras: extras}
	if got, want := aws.ToString(v.CidrBlock), r.in.Config.Network.VPCCIDR; got != want {
		found.Changes = append(found.Changes, engine.Change{Field: "cidr_block", From: got, To: want})
		found.Replace = true
	}
	for _, attr := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
		on, err := r.attribute(ctx, aws.ToString(v.VpcId), attr)
		if err != nil {
			return nil, err
		}
		if !on {
			found.Changes = append(found.Changes, engine.Change{Field: string(attr), From: "false", To: "true"})
		}
	}
	return found, nil
}

// describe finds the VPC by its recorded ID, or by tags when state has none or the
// recorded one is gone.
func (r *vpc) describe(ctx context.Context, rec *state.Resource) (*ec2types.Vpc, []state.Resource, error) {
	return kit.FindTagged(ctx, r.in, "VPC", kit.KeyVPC, kit.RecID(rec), func(v ec2types.Vpc) string { return aws.ToString(v.VpcId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.Vpc, error) {
			out, err := r.api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.Vpcs, nil
		})
}

func (r *vpc) attribute(ctx context.Context, id string, attr ec2types.VpcAttributeName) (bool, error) {
	out, err := r.api.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: &id, Attribute: attr})
	if err != nil {
		return false, fmt.Errorf("reading %s of VPC %s: %w", attr, id, err)
	}
	if attr == ec2types.VpcAttributeNameEnableDnsSupport {
		return out.EnableDnsSupport != nil && aws.ToBool(out.EnableDnsSupport.Value), nil
	}
	return out.EnableDnsHostnames != nil && aws.ToBool(out.EnableDnsHostnames.Value), nil
}

func (r *vpc) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	cidr := r.in.Config.Network.VPCCIDR
	out, err := r.api.CreateVpc(ctx, &ec2.CreateVpcInput{
		CidrBlock:         &cidr,
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeVpc, r.in.Tags(kit.KeyVPC)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating VPC %s: %w", cidr, err)
	}
	id := aws.ToString(out.Vpc.VpcId)
	if err := r.enableDNS(ctx, id, true, true); err != nil {
		return nil, err
	}
	return &state.Resource{ID: id, Attrs: map[string]string{"cidr": cidr}}, nil
}

func (r *vpc) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	var support, hostnames bool
	for _, c := range found.Changes {
		support = support || c.Field == string(ec2types.VpcAttributeNameEnableDnsSupport)
		hostnames = hostnames || c.Field == string(ec2types.VpcAttributeNameEnableDnsHostnames)
	}
	if err := r.enableDNS(ctx, found.Record.ID, support, hostnames); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// enableDNS switches DNS support and hostnames on; EC2 takes one attribute per call.
func (r *vpc) enableDNS(ctx context.Context, id string, support, hostnames bool) error {
	on := &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}
	if support {
		if _, err := r.api.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: &id, EnableDnsSupport: on}); err != nil {
			return fmt.Errorf("enabling DNS support on VPC %s: %w", id, err)
		}
	}
	if hostnames {
		if _, err := r.api.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: &id, EnableDnsHostnames: on}); err != nil {
			return fmt.Errorf("enabling DNS hostnames on VPC %s: %w", id, err)
		}
	}
	return nil
}

func (r *vpc) Delete(ctx context.Context, rec *state.Resource) error {
	return r.in.DeleteWaitingForDependents(ctx, "VPC "+rec.ID, 10*time.Minute, func(ctx context.Context) error {
		_, err := r.api.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &rec.ID})
		return err
	})
}
