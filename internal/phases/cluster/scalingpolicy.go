package cluster

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// scalingPolicy tracks the service's average CPU at the configured target: more tasks
// above it, fewer below, within the scalable target's range.
type scalingPolicy struct {
	in  *kit.Inputs
	api scalingAPI
}

func (r *scalingPolicy) Key() string         { return KeyScalingPolicy }
func (r *scalingPolicy) Type() string        { return "application-autoscaling:scaling-policy" }
func (r *scalingPolicy) DependsOn() []string { return []string{KeyScalableTarget} }

func scalingPolicyName(in *kit.Inputs) string { return in.Prefix() + "-cpu" }

func (r *scalingPolicy) config() *aastypes.TargetTrackingScalingPolicyConfiguration {
	cfg := r.in.Config.Service
	return &aastypes.TargetTrackingScalingPolicyConfiguration{
		TargetValue: aws.Float64(float64(cfg.CPUTarget)),
		PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{
			PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization,
		},
		ScaleInCooldown:  aws.Int32(int32(cfg.ScaleInCooldown)),
		ScaleOutCooldown: aws.Int32(int32(cfg.ScaleOutCooldown)),
		DisableScaleIn:   aws.Bool(false),
	}
}

func (r *scalingPolicy) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	target := deps.Get(KeyScalableTarget)
	if target == nil {
		return nil, nil
	}
	name := scalingPolicyName(r.in)
	out, err := r.api.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(target.ID), ScalableDimension: ECSDesiredCount,
		PolicyNames: []string{name},
	})
	if err != nil {
		return nil, fmt.Errorf("describing scaling policy %s: %w", name, err)
	}
	for _, p := range out.ScalingPolicies {
		if aws.ToString(p.PolicyName) != name {
			continue
		}
		found := &engine.Found{Record: state.Resource{ID: name, ARN: aws.ToString(p.PolicyARN), Attrs: map[string]string{"resource_id": target.ID}}}
		found.Changes = DiffRendered(renderTargetTracking(string(p.PolicyType), p.TargetTrackingScalingPolicyConfiguration),
			renderTargetTracking(string(aastypes.PolicyTypeTargetTrackingScaling), r.config()))
		return found, nil
	}
	return nil, nil
}

func renderTargetTracking(policyType string, c *aastypes.TargetTrackingScalingPolicyConfiguration) []renderedField {
	out := []renderedField{{"policy_type", policyType}}
	if c == nil {
		return out
	}
	metric := "custom"
	if c.PredefinedMetricSpecification != nil {
		metric = string(c.PredefinedMetricSpecification.PredefinedMetricType)
	}
	return append(out,
		renderedField{"metric", metric},
		renderedField{"target_value", strconv.FormatFloat(aws.ToFloat64(c.TargetValue), 'f', -1, 64)},
		renderedField{"scale_in_cooldown", strconv.Itoa(int(aws.ToInt32(c.ScaleInCooldown)))},
		renderedField{"scale_out_cooldown", strconv.Itoa(int(aws.ToInt32(c.ScaleOutCooldown)))},
		renderedField{"disable_scale_in", strconv.FormatBool(aws.ToBool(c.DisableScaleIn))},
	)
}

func (r *scalingPolicy) Put(ctx context.Context, resourceID string) (*state.Resource, error) {
	name := scalingPolicyName(r.in)
	out, err := r.api.PutScalingPolicy(ctx, &applicationautoscaling.PutScalingPolicyInput{
		PolicyName:                               aws.String(name),
		ServiceNamespace:                         aastypes.ServiceNamespaceEcs,
		ResourceId:                               aws.String(resourceID),
		ScalableDimension:                        ECSDesiredCount,
		PolicyType:                               aastypes.PolicyTypeTargetTrackingScaling,
		TargetTrackingScalingPolicyConfiguration: r.config(),
	})
	if err != nil {
		return nil, fmt.Errorf("putting scaling policy %s on %s: %w", name, resourceID, err)
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.PolicyARN), Attrs: map[string]string{"resource_id": resourceID}}, nil
}

func (r *scalingPolicy) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	target := deps.Get(KeyScalableTarget)
	if target == nil {
		return nil, fmt.Errorf("scaling policy: the scalable target does not exist")
	}
	return r.Put(ctx, target.ID)
}

// Update puts the policy again: PutScalingPolicy replaces a policy of the same name.
func (r *scalingPolicy) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	return r.Put(ctx, found.Record.Attrs["resource_id"])
}

func (r *scalingPolicy) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeleteScalingPolicy(ctx, &applicationautoscaling.DeleteScalingPolicyInput{
		PolicyName: aws.String(rec.ID), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String(rec.Attrs["resource_id"]), ScalableDimension: ECSDesiredCount,
	})
	if err != nil && !isScalingNotFound(err) {
		return fmt.Errorf("deleting scaling policy %s: %w", rec.ID, err)
	}
	return nil
}
