package observability

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type accessLogsAPI interface {
	DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2.DescribeLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancerAttributesOutput, error)
	ModifyLoadBalancerAttributes(ctx context.Context, in *elbv2.ModifyLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyLoadBalancerAttributesOutput, error)
}

// albAccessLogs switches the ALB's access logs on into the access-log bucket. It owns
// only the access_logs.s3.* attributes; network/alb compares only its own.
type albAccessLogs struct {
	in  *kit.Inputs
	api accessLogsAPI
}

const (
	AttrAccessLogsEnabled = "access_logs.s3.enabled"
	AttrAccessLogsBucket  = "access_logs.s3.bucket"
	attrAccessLogsPrefix  = "access_logs.s3.prefix"
)

func (r *albAccessLogs) Key() string         { return keyALBAccessLogs }
func (r *albAccessLogs) Type() string        { return "elbv2:access-logs" }
func (r *albAccessLogs) DependsOn() []string { return []string{kit.KeyALB, KeyALBLogsBucket} }

func (r *albAccessLogs) want(bucket string) map[string]string {
	// No prefix: the bucket is this load balancer's alone.
	return map[string]string{AttrAccessLogsEnabled: "true", AttrAccessLogsBucket: bucket, attrAccessLogsPrefix: ""}
}

// Find reports access logs that are off as absent, so that switching them on reads as
// a creation in a plan.
func (r *albAccessLogs) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	lb, bucket := deps.Get(kit.KeyALB), deps.Get(KeyALBLogsBucket)
	if lb == nil || bucket == nil {
		return nil, nil
	}
	out, err := r.api.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &lb.ARN})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of load balancer %s: %w", lb.ID, err)
	}
	live := map[string]string{}
	for _, a := range out.Attributes {
		live[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if live[AttrAccessLogsEnabled] != "true" {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: lb.ID, ARN: lb.ARN, Attrs: map[string]string{"bucket": bucket.ID}}}
	want := r.want(bucket.ID)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if live[k] != want[k] {
			found.Changes = append(found.Changes, engine.Change{Field: k, From: live[k], To: want[k]})
		}
	}
	return found, nil
}

func (r *albAccessLogs) set(ctx context.Context, lbARN string, attrs map[string]string) error {
	var list []elbtypes.LoadBalancerAttribute
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		list = append(list, elbtypes.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	_, err := r.api.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &lbARN, Attributes: list})
	return err
}

func (r *albAccessLogs) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	lb, bucket := deps.Get(kit.KeyALB), deps.Get(KeyALBLogsBucket)
	// ELB writes a test object to the bucket to check its policy before accepting this.
	if err := r.set(ctx, lb.ARN, r.want(bucket.ID)); err != nil {
		return nil, fmt.Errorf("sending the access logs of load balancer %s to bucket %s: %w", lb.ID, bucket.ID, err)
	}
	return &state.Resource{ID: lb.ID, ARN: lb.ARN, Attrs: map[string]string{"bucket": bucket.ID}}, nil
}

func (r *albAccessLogs) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete switches access logs off, so that the bucket can go; a load balancer already
// gone has none.
func (r *albAccessLogs) Delete(ctx context.Context, rec *state.Resource) error {
	err := r.set(ctx, rec.ARN, map[string]string{AttrAccessLogsEnabled: "false"})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("switching off the access logs of load balancer %s: %w", rec.ID, err)
	}
	return nil
}
