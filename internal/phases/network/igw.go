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

type igwAPI interface {
	CreateInternetGateway(ctx context.Context, in *ec2.CreateInternetGatewayInput, opts ...func(*ec2.Options)) (*ec2.CreateInternetGatewayOutput, error)
	DescribeInternetGateways(ctx context.Context, in *ec2.DescribeInternetGatewaysInput, opts ...func(*ec2.Options)) (*ec2.DescribeInternetGatewaysOutput, error)
	AttachInternetGateway(ctx context.Context, in *ec2.AttachInternetGatewayInput, opts ...func(*ec2.Options)) (*ec2.AttachInternetGatewayOutput, error)
	DetachInternetGateway(ctx context.Context, in *ec2.DetachInternetGatewayInput, opts ...func(*ec2.Options)) (*ec2.DetachInternetGatewayOutput, error)
	DeleteInternetGateway(ctx context.Context, in *ec2.DeleteInternetGatewayInput, opts ...func(*ec2.Options)) (*ec2.DeleteInternetGatewayOutput, error)
}

// igw is the internet gateway, attached to the VPC: the public subnets' way out and the
// ALB's way in.
type igw struct {
	in  *kit.Inputs
	api igwAPI
}

const KeyIGW = "network/igw"

func (r *igw) Key() string         { return KeyIGW }
func (r *igw) Type() string        { return "ec2:internet-gateway" }
func (r *igw) DependsOn() []string { return []string{kit.KeyVPC} }

func (r *igw) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(kit.KeyVPC)
	if vpc == nil {
		return nil, nil
	}
	g, extras, err := r.describe(ctx, rec)
	if err != nil || g == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(g.InternetGatewayId)}, Extras: extras}
	if attached := attachedVPCs(g); len(attached) != 1 || attached[0] != vpc.ID {
		found.Changes = []engine.Change{{Field: "attached_to", From: fmt.Sprint(attached), To: "[" + vpc.ID + "]"}}
	}
	return found, nil
}

func (r *igw) describe(ctx context.Context, rec *state.Resource) (*ec2types.InternetGateway, []state.Resource, error) {
	return kit.FindTagged(ctx, r.in, "internet gateway", KeyIGW, kit.RecID(rec), func(g ec2types.InternetGateway) string { return aws.ToString(g.InternetGatewayId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.InternetGateway, error) {
			out, err := r.api.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.InternetGateways, nil
		})
}

func attachedVPCs(g *ec2types.InternetGateway) []string {
	var ids []string
	for _, a := range g.Attachments {
		ids = append(ids, aws.ToString(a.VpcId))
	}
	return ids
}

func (r *igw) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	out, err := r.api.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeInternetGateway, r.in.Tags(KeyIGW)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the internet gateway: %w", err)
	}
	id := aws.ToString(out.InternetGateway.InternetGatewayId)
	// A crash here leaves a tagged, detached gateway: the next run finds it and attaches it.
	if err := r.attach(ctx, id, deps.Get(kit.KeyVPC).ID); err != nil {
		return nil, err
	}
	return &state.Resource{ID: id}, nil
}

func (r *igw) attach(ctx context.Context, id, vpcID string) error {
	_, err := r.api.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: &id, VpcId: &vpcID})
	// Already attached: a retry whose first answer was lost. The next Find checks to what.
	if err != nil && kit.ErrorCode(err) != "Resource.AlreadyAssociated" {
		return fmt.Errorf("attaching internet gateway %s to VPC %s: %w", id, vpcID, err)
	}
	return nil
}

// Update moves the gateway to the VPC: a gateway is attached to at most one.
func (r *igw) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.detachAll(ctx, found.Record.ID); err != nil {
		return nil, err
	}
	if err := r.attach(ctx, found.Record.ID, deps.Get(kit.KeyVPC).ID); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// detachAll detaches the gateway from whatever VPC holds it. AWS refuses while public
// addresses in the VPC are still mapped (a NAT's or load balancer's, being released), so
// it retries for a while.
func (r *igw) detachAll(ctx context.Context, id string) error {
	out, err := r.api.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{InternetGatewayIds: []string{id}})
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing internet gateway %s: %w", id, err)
	}
	for _, g := range out.InternetGateways {
		for _, vpcID := range attachedVPCs(&g) {
			err := r.in.RetryWhileInUse(ctx, "public addresses in VPC "+vpcID+" to be released", eniLinger, func(ctx context.Context) error {
				_, err := r.api.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: &id, VpcId: &vpcID})
				if kit.IsNotFound(err) || kit.ErrorCode(err) == "Gateway.NotAttached" {
					return nil
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("detaching internet gateway %s from VPC %s: %w", id, vpcID, err)
			}
		}
	}
	return nil
}

func (r *igw) Delete(ctx context.Context, rec *state.Resource) error {
	if err := r.detachAll(ctx, rec.ID); err != nil {
		return err
	}
	return r.in.DeleteWaitingForDependents(ctx, "internet gateway "+rec.ID, eniLinger, func(ctx context.Context) error {
		_, err := r.api.DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: &rec.ID})
		return err
	})
}
