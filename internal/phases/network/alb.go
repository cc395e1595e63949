package network

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type albAPI interface {
	kit.ELBTagsAPI
	CreateLoadBalancer(ctx context.Context, in *elbv2.CreateLoadBalancerInput, opts ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error)
	DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error)
	DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2.DescribeLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancerAttributesOutput, error)
	ModifyLoadBalancerAttributes(ctx context.Context, in *elbv2.ModifyLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyLoadBalancerAttributesOutput, error)
	SetSubnets(ctx context.Context, in *elbv2.SetSubnetsInput, opts ...func(*elbv2.Options)) (*elbv2.SetSubnetsOutput, error)
	SetSecurityGroups(ctx context.Context, in *elbv2.SetSecurityGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.SetSecurityGroupsOutput, error)
	DeleteLoadBalancer(ctx context.Context, in *elbv2.DeleteLoadBalancerInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteLoadBalancerOutput, error)
}

// alb is the public Application Load Balancer in the public subnets, the service's only
// way in. Its name is <app>-<env>: config keeps the app name short enough for AWS's 32.
type alb struct {
	in  *kit.Inputs
	api albAPI
}

const (
	AttrDropInvalidHeaders = "routing.http.drop_invalid_header_fields.enabled"
	AttrDeletionProtection = "deletion_protection.enabled"
)

func (r *alb) Key() string  { return kit.KeyALB }
func (r *alb) Type() string { return "elbv2:load-balancer" }

// DependsOn includes the internet gateway: AWS refuses an internet-facing load balancer
// in a VPC without one, and the gateway cannot be detached while the ALB holds addresses.
func (r *alb) DependsOn() []string { return append(r.subnetKeys(), kit.KeySG(kit.SGALB), KeyIGW) }

func (r *alb) subnetKeys() []string {
	var keys []string
	for i := range r.in.Config.Network.AZCount {
		keys = append(keys, kit.KeySubnet(true, i))
	}
	return keys
}

func (r *alb) name() string { return r.in.Prefix() }

// attributes are the load balancer attributes fvdeploy sets: invalid headers are
// dropped rather than passed to the app (request smuggling), and production cannot be
// deleted by accident.
func (r *alb) attributes() map[string]string {
	return map[string]string{
		AttrDropInvalidHeaders: "true",
		AttrDeletionProtection: strconv.FormatBool(r.in.Config.ALB.DeletionProtection),
	}
}

func (r *alb) Desired(deps engine.Deps) (subnets []string, sg string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return nil, "", false
		}
	}
	for _, k := range r.subnetKeys() {
		subnets = append(subnets, deps.Get(k).ID)
	}
	slices.Sort(subnets)
	return subnets, deps.Get(kit.KeySG(kit.SGALB)).ID, true
}

func (r *alb) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	subnets, sg, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	lb, err := r.describe(ctx, rec)
	if err != nil || lb == nil {
		return nil, err
	}
	found := &engine.Found{Record: ALBRecord(lb)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	change("scheme", string(lb.Scheme), string(elbtypes.LoadBalancerSchemeEnumInternetFacing))
	change("type", string(lb.Type), string(elbtypes.LoadBalancerTypeEnumApplication))
	found.Replace = len(found.Changes) > 0
	var live []string
	for _, az := range lb.AvailabilityZones {
		live = append(live, aws.ToString(az.SubnetId))
	}
	slices.Sort(live)
	change("subnets", strings.Join(live, ","), strings.Join(subnets, ","))
	change("security_groups", strings.Join(slices.Sorted(slices.Values(lb.SecurityGroups)), ","), sg)
	if lb.State != nil && lb.State.Code == elbtypes.LoadBalancerStateEnumProvisioning {
		change("state", string(lb.State.Code), string(elbtypes.LoadBalancerStateEnumActive))
	}
	arn := aws.ToString(lb.LoadBalancerArn)
	out, err := r.api.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of load balancer %s: %w", r.name(), err)
	}
	got := map[string]string{}
	for _, a := range out.Attributes {
		got[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	want := r.attributes()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		change(k, got[k], want[k])
	}
	return found, nil
}

func ALBRecord(lb *elbtypes.LoadBalancer) state.Resource {
	return state.Resource{
		ID:  aws.ToString(lb.LoadBalancerName),
		ARN: aws.ToString(lb.LoadBalancerArn),
		Attrs: map[string]string{
			"dns_name": aws.ToString(lb.DNSName),
			"zone_id":  aws.ToString(lb.CanonicalHostedZoneId),
		},
	}
}

// describe finds the load balancer by its recorded ARN, else by its name, which is
// unique in the account and region; one found by name must carry fvdeploy's tags.
func (r *alb) describe(ctx context.Context, rec *state.Resource) (*elbtypes.LoadBalancer, error) {
	list := func(ctx context.Context, in *elbv2.DescribeLoadBalancersInput) ([]elbtypes.LoadBalancer, error) {
		out, err := r.api.DescribeLoadBalancers(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.LoadBalancers, nil
	}
	return kit.FindByName(ctx, "load balancer", kit.RecARN(rec), r.name(),
		func(ctx context.Context, arn string) ([]elbtypes.LoadBalancer, error) {
			return list(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		},
		func(ctx context.Context, name string) ([]elbtypes.LoadBalancer, error) {
			return list(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
		},
		func(ctx context.Context, lb elbtypes.LoadBalancer) error {
			return kit.ELBOwned(ctx, r.in, r.api, "load balancer", aws.ToString(lb.LoadBalancerArn), kit.KeyALB)
		})
}

func (r *alb) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	subnets, sg, _ := r.Desired(deps)
	out, err := r.api.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:           aws.String(r.name()),
		Type:           elbtypes.LoadBalancerTypeEnumApplication,
		Scheme:         elbtypes.LoadBalancerSchemeEnumInternetFacing,
		IpAddressType:  elbtypes.IpAddressTypeIpv4,
		Subnets:        subnets,
		SecurityGroups: []string{sg},
		Tags:           kit.ELBTags(r.in.Tags(kit.KeyALB)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating load balancer %s: %w", r.name(), err)
	}
	lb := &out.LoadBalancers[0]
	arn := aws.ToString(lb.LoadBalancerArn)
	if err := r.setAttributes(ctx, arn, r.attributes()); err != nil {
		return nil, err
	}
	if err := r.waitActive(ctx, arn); err != nil {
		return nil, err
	}
	rec := ALBRecord(lb)
	return &rec, nil
}

func (r *alb) setAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	var list []elbtypes.LoadBalancerAttribute
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		list = append(list, elbtypes.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := r.api.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &arn, Attributes: list}); err != nil {
		return fmt.Errorf("setting attributes %v of load balancer %s: %w", slices.Sorted(maps.Keys(attrs)), arn, err)
	}
	return nil
}

func (r *alb) waitActive(ctx context.Context, arn string) error {
	return r.in.WaitFor(ctx, "load balancer "+r.name()+" to be active", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			return false, "", err
		}
		if len(out.LoadBalancers) == 0 || out.LoadBalancers[0].State == nil {
			return false, "not listed yet", nil
		}
		st := out.LoadBalancers[0].State
		switch st.Code {
		case elbtypes.LoadBalancerStateEnumActive:
			return true, "", nil
		case elbtypes.LoadBalancerStateEnumFailed:
			return false, "", fmt.Errorf("load balancer %s failed: %s", r.name(), aws.ToString(st.Reason))
		}
		return false, string(st.Code), nil
	})
}

func (r *alb) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	subnets, sg, _ := r.Desired(deps)
	arn := found.Record.ARN
	want := r.attributes()
	attrs := map[string]string{}
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "subnets":
			_, err = r.api.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &arn, Subnets: subnets})
		case "security_groups":
			_, err = r.api.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &arn, SecurityGroups: []string{sg}})
		default:
			if v, ok := want[c.Field]; ok {
				attrs[c.Field] = v
			}
		}
		if err != nil {
			return nil, fmt.Errorf("setting %s of load balancer %s: %w", c.Field, r.name(), err)
		}
	}
	if len(attrs) > 0 {
		if err := r.setAttributes(ctx, arn, attrs); err != nil {
			return nil, err
		}
	}
	if err := r.waitActive(ctx, arn); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// Delete switches deletion protection off first (AWS refuses otherwise; destroy was
// confirmed by the user) and returns once the load balancer is gone. Its network
// interfaces linger for minutes more: the subnets' and security groups' deletes wait.
func (r *alb) Delete(ctx context.Context, rec *state.Resource) error {
	arn := rec.ARN
	err := r.setAttributes(ctx, arn, map[string]string{AttrDeletionProtection: "false"})
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := r.api.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting load balancer %s: %w", rec.ID, err)
	}
	return r.in.WaitFor(ctx, "load balancer "+rec.ID+" to be deleted", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if kit.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		if len(out.LoadBalancers) == 0 {
			return true, "", nil
		}
		return false, "still listed", nil
	})
}
