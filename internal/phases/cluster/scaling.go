package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type scalingAPI interface {
	DescribeScalableTargets(ctx context.Context, in *applicationautoscaling.DescribeScalableTargetsInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DescribeScalableTargetsOutput, error)
	RegisterScalableTarget(ctx context.Context, in *applicationautoscaling.RegisterScalableTargetInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.RegisterScalableTargetOutput, error)
	DeregisterScalableTarget(ctx context.Context, in *applicationautoscaling.DeregisterScalableTargetInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DeregisterScalableTargetOutput, error)
	DescribeScalingPolicies(ctx context.Context, in *applicationautoscaling.DescribeScalingPoliciesInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DescribeScalingPoliciesOutput, error)
	PutScalingPolicy(ctx context.Context, in *applicationautoscaling.PutScalingPolicyInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.PutScalingPolicyOutput, error)
	DeleteScalingPolicy(ctx context.Context, in *applicationautoscaling.DeleteScalingPolicyInput, opts ...func(*applicationautoscaling.Options)) (*applicationautoscaling.DeleteScalingPolicyOutput, error)
}

const ECSDesiredCount = aastypes.ScalableDimensionECSServiceDesiredCount

// serviceResourceID is Application Auto Scaling's name for the ECS service.
func serviceResourceID(svc *state.Resource) string {
	return "service/" + svc.Attrs["cluster"] + "/" + svc.ID
}

// scalableTarget lets Application Auto Scaling move the service's desired count
// between the configured min and max.
type scalableTarget struct {
	in  *kit.Inputs
	api scalingAPI
}

func (r *scalableTarget) Key() string         { return KeyScalableTarget }
func (r *scalableTarget) Type() string        { return "application-autoscaling:scalable-target" }
func (r *scalableTarget) DependsOn() []string { return []string{kit.KeyService} }

func (r *scalableTarget) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	svc := deps.Get(kit.KeyService)
	if svc == nil {
		return nil, nil
	}
	id := serviceResourceID(svc)
	out, err := r.api.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceIds: []string{id}, ScalableDimension: ECSDesiredCount,
	})
	if err != nil {
		return nil, fmt.Errorf("describing the scalable target of %s: %w", id, err)
	}
	for _, t := range out.ScalableTargets {
		if aws.ToString(t.ResourceId) != id {
			continue
		}
		found := &engine.Found{Record: state.Resource{ID: id, ARN: aws.ToString(t.ScalableTargetARN)}}
		cfg := r.in.Config.Service
		if got := int(aws.ToInt32(t.MinCapacity)); got != cfg.Min {
			found.Changes = append(found.Changes, engine.Change{Field: "min_capacity", From: strconv.Itoa(got), To: strconv.Itoa(cfg.Min)})
		}
		if got := int(aws.ToInt32(t.MaxCapacity)); got != cfg.Max {
			found.Changes = append(found.Changes, engine.Change{Field: "max_capacity", From: strconv.Itoa(got), To: strconv.Itoa(cfg.Max)})
		}
		if s := t.SuspendedState; s != nil && (aws.ToBool(s.DynamicScalingInSuspended) || aws.ToBool(s.DynamicScalingOutSuspended) || aws.ToBool(s.ScheduledScalingSuspended)) {
			found.Changes = append(found.Changes, engine.Change{Field: "suspended", From: "true", To: "false"})
		}
		return found, nil
	}
	return nil, nil
}

func (r *scalableTarget) register(ctx context.Context, id string, tags map[string]string) (*state.Resource, error) {
	cfg := r.in.Config.Service
	out, err := r.api.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
		ServiceNamespace:  aastypes.ServiceNamespaceEcs,
		ResourceId:        aws.String(id),
		ScalableDimension: ECSDesiredCount,
		MinCapacity:       aws.Int32(int32(cfg.Min)),
		MaxCapacity:       aws.Int32(int32(cfg.Max)),
		SuspendedState: &aastypes.SuspendedState{
			DynamicScalingInSuspended: aws.Bool(false), DynamicScalingOutSuspended: aws.Bool(false), ScheduledScalingSuspended: aws.Bool(false),
		},
		Tags: tags, // only honoured when the target is new
	})
	if err != nil {
		return nil, fmt.Errorf("registering %s as a scalable target (%d..%d tasks): %w", id, cfg.Min, cfg.Max, err)
	}
	return &state.Resource{ID: id, ARN: aws.ToString(out.ScalableTargetARN)}, nil
}

func (r *scalableTarget) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	svc := deps.Get(kit.KeyService)
	if svc == nil {
		return nil, fmt.Errorf("scalable target: the ECS service does not exist")
	}
	return r.register(ctx, serviceResourceID(svc), r.in.Tags(KeyScalableTarget))
}

func (r *scalableTarget) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec, err := r.register(ctx, found.Record.ID, nil)
	if err != nil {
		return nil, err
	}
	if rec.ARN == "" {
		rec.ARN = found.Record.ARN
	}
	return rec, nil
}

// Delete deregisters the target, which also removes any policies left on it.
func (r *scalableTarget) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeregisterScalableTarget(ctx, &applicationautoscaling.DeregisterScalableTargetInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(rec.ID), ScalableDimension: ECSDesiredCount,
	})
	if err != nil && !isScalingNotFound(err) {
		return fmt.Errorf("deregistering scalable target %s: %w", rec.ID, err)
	}
	return nil
}

// isScalingNotFound: AWS says ObjectNotFoundException; the emulator says
// ValidationException "No scaling policy found ..." / "No scalable target found ...".
func isScalingNotFound(err error) bool {
	return kit.IsNotFound(err) || kit.ErrorCode(err) == "ValidationException" && strings.Contains(err.Error(), "No scal")
}
