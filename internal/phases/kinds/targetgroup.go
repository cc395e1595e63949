package kinds

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
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type targetGroupAPI interface {
	kit.ELBTagsAPI
	CreateTargetGroup(ctx context.Context, in *elbv2.CreateTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(ctx context.Context, in *elbv2.DescribeTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
	ModifyTargetGroup(ctx context.Context, in *elbv2.ModifyTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupOutput, error)
	ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error)
	DeleteTargetGroup(ctx context.Context, in *elbv2.DeleteTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error)
}

// TargetGroup holds the service's tasks by IP (Fargate's awsvpc mode). Its health check
// hits the app's unauthenticated health path, tuned for fast rollouts.
type TargetGroup struct {
	In  *kit.Inputs
	API targetGroupAPI
	// Alternate is the second group that the traffic-shifting strategies start a new
	// revision in (cluster/strategy.go): the same group, another key and name.
	Alternate bool
}

const AttrDeregistrationDelay = "deregistration_delay.timeout_seconds"

func (r *TargetGroup) Key() string {
	if r.Alternate {
		return kit.KeyAltTG
	}
	return kit.KeyTG
}

func (r *TargetGroup) Type() string { return "elbv2:target-group" }

func (r *TargetGroup) DependsOn() []string { return []string{kit.KeyVPC} }

func (r *TargetGroup) name() string {
	if r.Alternate {
		return r.In.Prefix() + "-alt"
	}
	return r.In.Prefix()
}

// healthCheck is the part of a target group that Find compares field by field.
type healthCheck struct {
	path                                  string
	interval, timeout, healthy, unhealthy int32
	matcher                               string
}

func (r *TargetGroup) healthCheck() healthCheck {
	s := r.In.Config.Service
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

func (r *TargetGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(kit.KeyVPC)
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
	port := r.In.Config.Service.ContainerPort
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
	out, err := r.API.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of target group %s: %w", r.name(), err)
	}
	var delay string
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == AttrDeregistrationDelay {
			delay = aws.ToString(a.Value)
		}
	}
	change(AttrDeregistrationDelay, delay, strconv.Itoa(r.In.Config.Service.DeregistrationDelay))
	return found, nil
}

func tgRecord(tg *elbtypes.TargetGroup) state.Resource {
	return state.Resource{ID: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn)}
}

// describe finds the target group by its recorded ARN, else by its name (unique in the
// account and region), checking that one found by name is fvdeploy's.
func (r *TargetGroup) describe(ctx context.Context, rec *state.Resource) (*elbtypes.TargetGroup, error) {
	list := func(ctx context.Context, in *elbv2.DescribeTargetGroupsInput) ([]elbtypes.TargetGroup, error) {
		out, err := r.API.DescribeTargetGroups(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.TargetGroups, nil
	}
	return kit.FindByName(ctx, "target group", kit.RecARN(rec), r.name(),
		func(ctx context.Context, arn string) ([]elbtypes.TargetGroup, error) {
			return list(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
		},
		func(ctx context.Context, name string) ([]elbtypes.TargetGroup, error) {
			return list(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
		},
		func(ctx context.Context, tg elbtypes.TargetGroup) error {
			return kit.ELBOwned(ctx, r.In, r.API, "target group", aws.ToString(tg.TargetGroupArn), r.Key())
		})
}

func (r *TargetGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	hc := r.healthCheck()
	out, err := r.API.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:                       aws.String(r.name()),
		Protocol:                   elbtypes.ProtocolEnumHttp,
		Port:                       aws.Int32(int32(r.In.Config.Service.ContainerPort)),
		VpcId:                      aws.String(deps.Get(kit.KeyVPC).ID),
		TargetType:                 elbtypes.TargetTypeEnumIp,
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbtypes.ProtocolEnumHttp,
		HealthCheckPath:            &hc.path,
		HealthCheckIntervalSeconds: &hc.interval,
		HealthCheckTimeoutSeconds:  &hc.timeout,
		HealthyThresholdCount:      &hc.healthy,
		UnhealthyThresholdCount:    &hc.unhealthy,
		Matcher:                    &elbtypes.Matcher{HttpCode: &hc.matcher},
		Tags:                       kit.ELBTags(r.In.Tags(r.Key())),
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

func (r *TargetGroup) setDeregistrationDelay(ctx context.Context, arn string) error {
	_, err := r.API.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: &arn,
		Attributes: []elbtypes.TargetGroupAttribute{{
			Key: aws.String(AttrDeregistrationDelay), Value: aws.String(strconv.Itoa(r.In.Config.Service.DeregistrationDelay)),
		}},
	})
	if err != nil {
		return fmt.Errorf("setting the deregistration delay of target group %s: %w", r.name(), err)
	}
	return nil
}

func (r *TargetGroup) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	hc := r.healthCheck()
	var healthCheck, delay bool
	for _, c := range found.Changes {
		_, isHC := hc.fields()[c.Field]
		healthCheck = healthCheck || isHC
		delay = delay || c.Field == AttrDeregistrationDelay
	}
	if healthCheck {
		_, err := r.API.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
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
func (r *TargetGroup) Delete(ctx context.Context, rec *state.Resource) error {
	return r.In.DeleteWaitingForDependents(ctx, "target group "+rec.ID, 2*time.Minute, func(ctx context.Context) error {
		_, err := r.API.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &rec.ARN})
		return err
	})
}
