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

type securityGroupAPI interface {
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
}

// The two security groups: the ALB's, open to the world on 80/443, and the tasks',
// reachable only from the ALB's.
const ()

// securityGroup is the group alone; its rules are a resource of their own
// (sgRules), because the two groups' rules refer to each other and a group must exist
// before another group's rule can name it.
type securityGroup struct {
	in   *kit.Inputs
	api  securityGroupAPI
	role string
}

func (r *securityGroup) Key() string  { return kit.KeySG(r.role) }
func (r *securityGroup) Type() string { return "ec2:security-group" }

// DependsOn puts SG-ECS after SG-ALB, so that teardown removes SG-ECS first: the order
// in which AWS lets referencing groups go.
func (r *securityGroup) DependsOn() []string {
	if r.role == kit.SGECS {
		return []string{kit.KeyVPC, kit.KeySG(kit.SGALB)}
	}
	return []string{kit.KeyVPC}
}

func (r *securityGroup) name() string { return r.in.Prefix() + "-" + r.role }

func (r *securityGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(kit.KeyVPC)
	if vpc == nil {
		return nil, nil
	}
	g, extras, err := kit.FindEC2(ctx, "security group", r.Key(), kit.RecID(rec), func(g ec2types.SecurityGroup) string { return aws.ToString(g.GroupId) },
		func(ctx context.Context, id string) ([]ec2types.SecurityGroup, error) {
			return describeSecurityGroup(ctx, r.api, id)
		},
		func(ctx context.Context) ([]ec2types.SecurityGroup, error) {
			out, err := r.api.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: kit.EC2TagFilters(r.in.Tags(r.Key()))})
			if err != nil {
				return nil, err
			}
			return out.SecurityGroups, nil
		})
	if err != nil || g == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(g.GroupId), Attrs: map[string]string{"name": aws.ToString(g.GroupName)}}, Extras: extras}
	// Name and VPC cannot change in place. The description cannot either, and is not
	// compared: rewording it in a later version must not replace anyone's groups.
	for _, c := range []engine.Change{{Field: "vpc", From: aws.ToString(g.VpcId), To: vpc.ID}, {Field: "name", From: aws.ToString(g.GroupName), To: r.name()}} {
		if c.From != c.To {
			found.Changes = append(found.Changes, c)
			found.Replace = true
		}
	}
	return found, nil
}

func describeSecurityGroup(ctx context.Context, api securityGroupAPI, id string) ([]ec2types.SecurityGroup, error) {
	out, err := api.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil {
		return nil, err
	}
	return out.SecurityGroups, nil
}

func (r *securityGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	what := map[string]string{kit.SGALB: "the public load balancer", kit.SGECS: "the service's tasks, reachable only from the load balancer"}[r.role]
	out, err := r.api.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(r.name()),
		Description:       aws.String("fvdeploy " + r.in.Prefix() + ": " + what),
		VpcId:             aws.String(deps.Get(kit.KeyVPC).ID),
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeSecurityGroup, r.in.Tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating security group %s: %w", r.name(), err)
	}
	return &state.Resource{ID: aws.ToString(out.GroupId), Attrs: map[string]string{"name": r.name()}}, nil
}

// Update is never needed: what can drift on a group is replaced, and its rules are sgRules'.
func (r *securityGroup) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

// Delete retries while network interfaces (ALB, tasks) or other groups' rules still use it.
func (r *securityGroup) Delete(ctx context.Context, rec *state.Resource) error {
	return r.in.DeleteWaitingForDependents(ctx, "security group "+rec.ID, eniLinger, func(ctx context.Context) error {
		_, err := r.api.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &rec.ID})
		return err
	})
}
