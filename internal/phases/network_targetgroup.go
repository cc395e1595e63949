package phases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

const keyTG = "network/tg"

type targetGroupAPI interface {
	elbTagsAPI
	CreateTargetGroup(ctx context.Context, in *elbv2.CreateTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(ctx context.Context, in *elbv2.DescribeTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
	ModifyTargetGroup(ctx context.Context, in *elbv2.ModifyTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupOutput, error)
	ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error)
	DeleteTargetGroup(ctx context.Context, in *elbv2.DeleteTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error)
}

// targetGroup holds the service's tasks by IP (Fargate's awsvpc mode). Its health check
// hits the app's unauthenticated health path, tuned for fast rollouts.
type targetGroup struct {
	in  *Inputs
	api targetGroupAPI
	// alternate is the second group that the traffic-shifting strategies start a new
	// revision in (cluster_strategy.go): the same group, another key and name.
	alternate bool
}

const attrDeregistrationDelay = "deregistration_delay.timeout_seconds"

func (r *targetGroup) Key() string {
	if r.alternate {
		return keyAltTG
	}
	return keyTG
}
func (r *targetGroup) Type() string        { return "elbv2:target-group" }
func (r *targetGroup) DependsOn() []string { return []string{keyVPC} }

func (r *targetGroup) name() string {
	if r.alternate {
		return r.in.prefix() + "-alt"
	}
	return r.in.prefix()
}

// healthCheck is the part of a target group that Find compares field by field.
type healthCheck struct {
	path                                  string
	interval, timeout, healthy, unhealthy int32
	matcher                               string
}

func (r *targetGroup) healthCheck() healthCheck {
	s := r.in.Config.Service
	return healthCheck{
		path:     s.HealthCheckPath,
		interval: int32(s.HealthCheckInterval),
		// AWS wants the timeout below the interval; 5 s is its default.
		timeout:   int32(min(5, s.HealthCheckInterval-1)),
		healthy:   int32(s.HealthyThreshold),
		unhealthy: 3,
		matcher:   "200",
	}
}

func liveHealthCheck(tg *elbtypes.TargetGroup) healthCheck {
	h := healthCheck{
		path:      aws.ToString(tg.HealthCheckPath),
		interval:  aws.ToInt32(tg.HealthCheckIntervalSeconds),
		timeout:   aws.ToInt32(tg.HealthCheckTimeoutSeconds),
		healthy:   aws.ToInt32(tg.HealthyThresholdCount),
		unhealthy: aws.ToInt32(tg.UnhealthyThresholdCount),
	}
	if tg.Matcher != nil {
		h.matcher = aws.ToString(tg.Matcher.HttpCode)
	}
	return h
}

func (h healthCheck) fields() map[string]string {
	return map[string]string{
		"health_check_path":     h.path,
		"health_check_interval": strconv.Itoa(int(h.interval)),
		"health_check_timeout":  strconv.Itoa(int(h.timeout)),
		"healthy_threshold":     strconv.Itoa(int(h.healthy)),
		"unhealthy_threshold":   strconv.Itoa(int(h.unhealthy)),
		"matcher":               h.matcher,
	}
}

func (r *targetGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(keyVPC)
	if vpc == nil {
		return nil, nil
	}
	tg, err := r.describe(ctx, rec)
	if err != nil || tg == nil {
		return nil, err
	}
	found := &engine.Found{Record: tgRecord(tg)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	port := r.in.Config.Service.ContainerPort
	change("protocol", string(tg.Protocol), string(elbtypes.ProtocolEnumHttp))
	change("port", strconv.Itoa(int(aws.ToInt32(tg.Port))), strconv.Itoa(port))
	change("target_type", string(tg.TargetType), string(elbtypes.TargetTypeEnumIp))
	change("vpc", aws.ToString(tg.VpcId), vpc.ID)
	found.Replace = len(found.Changes) > 0
	live, want := liveHealthCheck(tg).fields(), r.healthCheck().fields()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		change(k, live[k], want[k])
	}
	arn := aws.ToString(tg.TargetGroupArn)
	out, err := r.api.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of target group %s: %w", r.name(), err)
	}
	var delay string
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrDeregistrationDelay {
			delay = aws.ToString(a.Value)
		}
	}
	change(attrDeregistrationDelay, delay, strconv.Itoa(r.in.Config.Service.DeregistrationDelay))
	return found, nil
}

func tgRecord(tg *elbtypes.TargetGroup) state.Resource {
	return state.Resource{ID: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn)}
}

// describe finds the target group by its recorded ARN, else by its name (unique in the
// account and region), checking that one found by name is fvdeploy's.
func (r *targetGroup) describe(ctx context.Context, rec *state.Resource) (*elbtypes.TargetGroup, error) {
	list := func(ctx context.Context, in *elbv2.DescribeTargetGroupsInput) ([]elbtypes.TargetGroup, error) {
		out, err := r.api.DescribeTargetGroups(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.TargetGroups, nil
	}
	return findByName(ctx, "target group", recARN(rec), r.name(),
		func(ctx context.Context, arn string) ([]elbtypes.TargetGroup, error) {
			return list(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
		},
		func(ctx context.Context, name string) ([]elbtypes.TargetGroup, error) {
			return list(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
		},
		func(ctx context.Context, tg elbtypes.TargetGroup) error {
			return elbOwned(ctx, r.in, r.api, "target group", aws.ToString(tg.TargetGroupArn), r.Key())
		})
}

func (r *targetGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	hc := r.healthCheck()
	out, err := r.api.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:                       aws.String(r.name()),
		Protocol:                   elbtypes.ProtocolEnumHttp,
		Port:                       aws.Int32(int32(r.in.Config.Service.ContainerPort)),
		VpcId:                      aws.String(deps.Get(keyVPC).ID),
		TargetType:                 elbtypes.TargetTypeEnumIp,
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbtypes.ProtocolEnumHttp,
		HealthCheckPath:            &hc.path,
		HealthCheckIntervalSeconds: &hc.interval,
		HealthCheckTimeoutSeconds:  &hc.timeout,
		HealthyThresholdCount:      &hc.healthy,
		UnhealthyThresholdCount:    &hc.unhealthy,
		Matcher:                    &elbtypes.Matcher{HttpCode: &hc.matcher},
		Tags:                       elbTags(r.in.tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating target group %s: %w", r.name(), err)
	}
	tg := &out.TargetGroups[0]
	if err := r.setDeregistrationDelay(ctx, aws.ToString(tg.TargetGroupArn)); err != nil {
		return nil, err
	}
	rec := tgRecord(tg)
	return &rec, nil
}

func (r *targetGroup) setDeregistrationDelay(ctx context.Context, arn string) error {
	_, err := r.api.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: &arn,
		Attributes: []elbtypes.TargetGroupAttribute{{
			Key: aws.String(attrDeregistrationDelay), Value: aws.String(strconv.Itoa(r.in.Config.Service.DeregistrationDelay)),
		}},
	})
	if err != nil {
		return fmt.Errorf("setting the deregistration delay of target group %s: %w", r.name(), err)
	}
	return nil
}

func (r *targetGroup) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	hc := r.healthCheck()
	var healthCheck, delay bool
	for _, c := range found.Changes {
		_, isHC := hc.fields()[c.Field]
		healthCheck = healthCheck || isHC
		delay = delay || c.Field == attrDeregistrationDelay
	}
	if healthCheck {
		_, err := r.api.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
			TargetGroupArn:             &arn,
			HealthCheckEnabled:         aws.Bool(true),
			HealthCheckProtocol:        elbtypes.ProtocolEnumHttp,
			HealthCheckPath:            &hc.path,
			HealthCheckIntervalSeconds: &hc.interval,
			HealthCheckTimeoutSeconds:  &hc.timeout,
			HealthyThresholdCount:      &hc.healthy,
			UnhealthyThresholdCount:    &hc.unhealthy,
			Matcher:                    &elbtypes.Matcher{HttpCode: &hc.matcher},
		})
		if err != nil {
			return nil, fmt.Errorf("setting the health check of target group %s: %w", r.name(), err)
		}
	}
	if delay {
		if err := r.setDeregistrationDelay(ctx, arn); err != nil {
			return nil, err
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete retries briefly while a listener or rule still forwards to the group: teardown
// deletes those first, and AWS may take a moment to see it. Longer would only delay the
// error when something fvdeploy does not manage holds the group.
func (r *targetGroup) Delete(ctx context.Context, rec *state.Resource) error {
	return r.in.deleteWaitingForDependents(ctx, "target group "+rec.ID, 2*time.Minute, func(ctx context.Context) error {
		_, err := r.api.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &rec.ARN})
		return err
	})
}
