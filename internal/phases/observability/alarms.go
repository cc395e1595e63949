package observability

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type alarmAPI interface {
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	PutMetricAlarm(ctx context.Context, in *cloudwatch.PutMetricAlarmInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricAlarmOutput, error)
	ListTagsForResource(ctx context.Context, in *cloudwatch.ListTagsForResourceInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.ListTagsForResourceOutput, error)
	TagResource(ctx context.Context, in *cloudwatch.TagResourceInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.TagResourceOutput, error)
	DeleteAlarms(ctx context.Context, in *cloudwatch.DeleteAlarmsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.DeleteAlarmsOutput, error)
}

// TreatMissingData values.
const (
	missingNotBreaching = "notBreaching"
	missingBreaching    = "breaching"
)

// alarmSpec is one alarm: its metric, threshold, what missing data means, and where its
// dimensions come from.
type alarmSpec struct {
	Name        string
	namespace   string
	metric      string
	statistic   cwtypes.Statistic // or extended, e.g. "p95"
	extended    string
	comparison  cwtypes.ComparisonOperator
	threshold   float64
	missing     string
	description string
	// dims are the metric's dimensions, by name, from the records of deps.
	Deps []string
	dims func(deps engine.Deps) map[string]string
}

// albDims are an ALB metric's dimensions: the load balancer's full name and, with tg,
// the target group's, both the tails of their ARNs.
func albDims(tg bool) func(engine.Deps) map[string]string {
	return func(deps engine.Deps) map[string]string {
		d := map[string]string{"LoadBalancer": ARNTail(deps.Get(kit.KeyALB).ARN, ":loadbalancer/")}
		if tg {
			d["TargetGroup"] = ARNTail(deps.Get(kit.KeyTG).ARN, ":")
		}
		return d
	}
}

// ARNTail is what follows the last sep in arn: "app/<name>/<id>" after ":loadbalancer/",
// "targetgroup/<name>/<id>" after the last ":".
func ARNTail(arn, sep string) string { return arn[strings.LastIndex(arn, sep)+len(sep):] }

func serviceDims(deps engine.Deps) map[string]string {
	return map[string]string{"ClusterName": deps.Get(kit.KeyCluster).ID, "ServiceName": deps.Get(kit.KeyService).ID}
}

// The alarms that also judge a deployment: ECS rolls a new revision back when either
// fires while it rolls out (see deploymentConfiguration).
const ()

// AlarmSpecs are the service's alarms. Every one notifies the topic on ALARM and on OK,
// and fires when datapoints_to_alarm of the last evaluation_periods minutes breach.
func AlarmSpecs(in *kit.Inputs) []alarmSpec {
	a, env := in.Config.Alarms, in.Config.Env
	lb, lbTG, svc := []string{kit.KeyALB}, []string{kit.KeyALB, kit.KeyTG}, []string{kit.KeyCluster, kit.KeyService}
	window := fmt.Sprintf("in %d of %d minutes", a.DatapointsToAlarm, a.EvaluationPeriods)
	// The deployment alarms must see the new revision: under a traffic-shifting strategy it
	// serves from whichever of the two target groups ECS started it in, so they watch the
	// whole load balancer instead of the primary group.
	deployDeps, deployByTG := lbTG, true
	if kit.ShiftsTraffic(in) {
		deployDeps, deployByTG = lb, false
	}
	specs := []alarmSpec{
		{
			Name: "alb-5xx-elb", namespace: "AWS/ApplicationELB", metric: "HTTPCode_ELB_5XX_Count", statistic: cwtypes.StatisticSum,
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: float64(a.HTTP5xxCount),
			// The ALB reports 5xx counts only when there are some: no data is no errors.
			missing: missingNotBreaching, Deps: lb, dims: albDims(false),
			description: fmt.Sprintf("The load balancer itself answered more than %d 5xx per minute %s: no healthy target, or targets timing out. "+
				"Runbook: `fvdeploy status --env %s` for target health and running tasks; `fvdeploy logs --env %s` for crashes.", a.HTTP5xxCount, window, env, env),
		},
		{
			Name: kit.Alarm5xxTarget, namespace: "AWS/ApplicationELB", metric: "HTTPCode_Target_5XX_Count", statistic: cwtypes.StatisticSum,
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: float64(a.HTTP5xxCount),
			missing: missingNotBreaching, Deps: deployDeps, dims: albDims(deployByTG),
			description: fmt.Sprintf("The service answered more than %d 5xx per minute %s. "+
				"Runbook: `fvdeploy logs --env %s` for the errors; if a deploy just went out, roll it back.", a.HTTP5xxCount, window, env),
		},
		{
			Name: kit.AlarmP95Latency, namespace: "AWS/ApplicationELB", metric: "TargetResponseTime", extended: "p95",
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: float64(a.P95LatencyMS) / 1000,
			// No requests, no latency to judge: an idle service is not a slow one.
			missing: missingNotBreaching, Deps: deployDeps, dims: albDims(deployByTG),
			description: fmt.Sprintf("95th percentile response time above %d ms %s. "+
				"Runbook: check CPU and memory alarms and task count (`fvdeploy status --env %s`); slow dependencies show in `fvdeploy logs --env %s`.", a.P95LatencyMS, window, env, env),
		},
		{
			Name: "ecs-cpu", namespace: "AWS/ECS", metric: "CPUUtilization", statistic: cwtypes.StatisticAverage,
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: float64(a.CPUPercent),
			// No data means no task reports: the running-task alarm pages for that, once.
			missing: missingNotBreaching, Deps: svc, dims: serviceDims,
			description: fmt.Sprintf("Service average CPU above %d%% %s, although autoscaling should have added tasks. "+
				"Runbook: is the service at service.max? Raise it or the task CPU in fvdeploy.yaml, then `fvdeploy up --env %s`.", a.CPUPercent, window, env),
		},
		{
			Name: "ecs-memory", namespace: "AWS/ECS", metric: "MemoryUtilization", statistic: cwtypes.StatisticAverage,
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: float64(a.MemoryPercent),
			missing: missingNotBreaching, Deps: svc, dims: serviceDims,
			description: fmt.Sprintf("Service average memory above %d%% %s: tasks near their limit get killed (OutOfMemory). "+
				"Runbook: look for stopped tasks in `fvdeploy status --env %s`; raise service.memory in fvdeploy.yaml.", a.MemoryPercent, window, env),
		},
		{
			Name: "alb-unhealthy-hosts", namespace: "AWS/ApplicationELB", metric: "UnHealthyHostCount", statistic: cwtypes.StatisticMaximum,
			comparison: cwtypes.ComparisonOperatorGreaterThanThreshold, threshold: 0,
			// Reported while targets are registered; none registered is the running-task alarm's case.
			missing: missingNotBreaching, Deps: lbTG, dims: albDims(true),
			description: fmt.Sprintf("At least one target failed its health check %s. "+
				"Runbook: `fvdeploy status --env %s` for the failing targets; `fvdeploy logs --env %s` for why /health fails.", window, env, env),
		},
	}
	minTasks := in.Config.Service.Min
	running := alarmSpec{
		Name: "ecs-running-tasks", comparison: cwtypes.ComparisonOperatorLessThanThreshold, threshold: float64(minTasks),
		// No data means nothing reports running tasks: that is the very failure to page for.
		missing: missingBreaching,
		description: fmt.Sprintf("Fewer than %d tasks running (service.min) %s: capacity lost, or tasks failing to start. "+
			"Runbook: `fvdeploy status --env %s` for stopped-task reasons; `fvdeploy logs --env %s`; `fvdeploy validate --env %s`.", minTasks, window, env, env, env),
	}
	if in.Config.Observability.ContainerInsights {
		running.namespace, running.metric, running.statistic = "ECS/ContainerInsights", "RunningTaskCount", cwtypes.StatisticAverage
		running.Deps, running.dims = svc, serviceDims
	} else {
		// Without Container Insights there is no task count metric; the target group's
		// healthy hosts are the service's tasks that can take traffic.
		running.namespace, running.metric, running.statistic = "AWS/ApplicationELB", "HealthyHostCount", cwtypes.StatisticMinimum
		running.Deps, running.dims = lbTG, albDims(true)
	}
	return append(specs, running)
}

// alarm is one CloudWatch metric alarm, <app>-<env>-<name>.
type alarm struct {
	in   *kit.Inputs
	api  alarmAPI
	spec alarmSpec
	// listing is shared by the alarms of one walk; looked is set once Find has read
	// this alarm from it (see live).
	listing *alarmListing
	looked  bool
}

func (r *alarm) Key() string         { return keyAlarmPrefix + r.spec.Name }
func (r *alarm) Type() string        { return TypeAlarm }
func (r *alarm) DependsOn() []string { return append([]string{KeyTopic}, r.spec.Deps...) }

func (r *alarm) name() string { return kit.AlarmName(r.in, r.spec.Name) }

// Desired is the alarm to put; ok is false while a dependency does not exist yet.
func (r *alarm) Desired(deps engine.Deps) (*cloudwatch.PutMetricAlarmInput, bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return nil, false
		}
	}
	topic := deps.Get(KeyTopic).ARN
	dims := r.spec.dims(deps)
	var cwDims []cwtypes.Dimension
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		cwDims = append(cwDims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(dims[k])})
	}
	a := r.in.Config.Alarms
	in := &cloudwatch.PutMetricAlarmInput{
		AlarmName:          aws.String(r.name()),
		AlarmDescription:   aws.String(r.spec.description),
		ActionsEnabled:     aws.Bool(true),
		AlarmActions:       []string{topic},
		OKActions:          []string{topic},
		Namespace:          aws.String(r.spec.namespace),
		MetricName:         aws.String(r.spec.metric),
		Dimensions:         cwDims,
		Period:             aws.Int32(60),
		EvaluationPeriods:  aws.Int32(int32(a.EvaluationPeriods)),
		DatapointsToAlarm:  aws.Int32(int32(a.DatapointsToAlarm)),
		Threshold:          aws.Float64(r.spec.threshold),
		ComparisonOperator: r.spec.comparison,
		TreatMissingData:   aws.String(r.spec.missing),
	}
	if r.spec.extended != "" {
		in.ExtendedStatistic = aws.String(r.spec.extended)
	} else {
		in.Statistic = r.spec.statistic
	}
	return in, true
}

// asMetricAlarm is the desired alarm in the shape DescribeAlarms returns, to compare.
func asMetricAlarm(p *cloudwatch.PutMetricAlarmInput) cwtypes.MetricAlarm {
	return cwtypes.MetricAlarm{
		AlarmDescription: p.AlarmDescription, ActionsEnabled: p.ActionsEnabled, AlarmActions: p.AlarmActions, OKActions: p.OKActions,
		Namespace: p.Namespace, MetricName: p.MetricName, Statistic: p.Statistic, ExtendedStatistic: p.ExtendedStatistic,
		Dimensions: p.Dimensions, Period: p.Period, EvaluationPeriods: p.EvaluationPeriods, DatapointsToAlarm: p.DatapointsToAlarm,
		Threshold: p.Threshold, ComparisonOperator: p.ComparisonOperator, TreatMissingData: p.TreatMissingData,
	}
}

// alarmFields renders what fvdeploy sets on an alarm, for comparison and plans.
func alarmFields(m cwtypes.MetricAlarm) map[string]string {
	var dims []string
	for _, d := range m.Dimensions {
		dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	slices.Sort(dims)
	statistic := string(m.Statistic)
	if e := aws.ToString(m.ExtendedStatistic); e != "" {
		statistic = e
	}
	return map[string]string{
		"description":         aws.ToString(m.AlarmDescription),
		"metric":              aws.ToString(m.Namespace) + "/" + aws.ToString(m.MetricName),
		"statistic":           statistic,
		"dimensions":          strings.Join(dims, ","),
		"period":              strconv.Itoa(int(aws.ToInt32(m.Period))),
		"evaluation_periods":  strconv.Itoa(int(aws.ToInt32(m.EvaluationPeriods))),
		"datapoints_to_alarm": strconv.Itoa(int(aws.ToInt32(m.DatapointsToAlarm))),
		"threshold":           strconv.FormatFloat(aws.ToFloat64(m.Threshold), 'g', -1, 64),
		"comparison":          string(m.ComparisonOperator),
		"treat_missing_data":  aws.ToString(m.TreatMissingData),
		"actions_enabled":     strconv.FormatBool(aws.ToBool(m.ActionsEnabled)),
		"alarm_actions":       strings.Join(slices.Sorted(slices.Values(m.AlarmActions)), ","),
		"ok_actions":          strings.Join(slices.Sorted(slices.Values(m.OKActions)), ","),
	}
}

func (r *alarm) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	want, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	m, err := r.live(ctx)
	if err != nil || m == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: r.name(), ARN: aws.ToString(m.AlarmArn)}}
	live, wanted := alarmFields(*m), alarmFields(asMetricAlarm(want))
	for _, k := range slices.Sorted(maps.Keys(wanted)) {
		if live[k] != wanted[k] {
			found.Changes = append(found.Changes, engine.Change{Field: k, From: live[k], To: wanted[k]})
		}
	}
	tags, err := r.api.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: m.AlarmArn})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of alarm %s: %w", r.name(), err)
	}
	have := kit.TagMap(tags.Tags, func(t cwtypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := r.in.Claim(rec, "alarm", r.name(), r.Key(), have); err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(r.in.Tags(r.Key()), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

// live is the alarm as it is. Alarm names are unique in the account and region, so the
// name is the lookup. Each alarm's first look in a walk comes from one listing of every
// alarm of the environment (one call, not one per alarm); a second look, after a write,
// asks again.
func (r *alarm) live(ctx context.Context) (*cwtypes.MetricAlarm, error) {
	var all map[string]cwtypes.MetricAlarm
	var err error
	if r.listing != nil && !r.looked {
		r.looked = true
		all, err = r.listing.read(ctx, r.in, r.api)
		if err != nil {
			return nil, fmt.Errorf("listing the alarms of %s: %w", r.in.Prefix(), err)
		}
	} else if all, err = DescribeAlarms(ctx, r.api, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{r.name()}}); err != nil {
		return nil, fmt.Errorf("describing alarm %s: %w", r.name(), err)
	}
	if m, ok := all[r.name()]; ok {
		return &m, nil
	}
	return nil, nil
}

// alarmListing is every alarm of the environment, read once for the alarms of one walk.
type alarmListing struct {
	mu     sync.Mutex
	alarms map[string]cwtypes.MetricAlarm
}

func (l *alarmListing) read(ctx context.Context, in *kit.Inputs, api alarmAPI) (map[string]cwtypes.MetricAlarm, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.alarms == nil {
		all, err := DescribeAlarms(ctx, api, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(in.Prefix() + "-")})
		if err != nil {
			return nil, err
		}
		l.alarms = all
	}
	return l.alarms, nil
}

// DescribeAlarms reads every page of metric alarms that in selects, by name.
func DescribeAlarms(ctx context.Context, api alarmAPI, in *cloudwatch.DescribeAlarmsInput) (map[string]cwtypes.MetricAlarm, error) {
	in.AlarmTypes = []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}
	out := map[string]cwtypes.MetricAlarm{}
	p := cloudwatch.NewDescribeAlarmsPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range page.MetricAlarms {
			out[aws.ToString(m.AlarmName)] = m
		}
	}
	return out, nil
}

func (r *alarm) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	want, _ := r.Desired(deps)
	want.Tags = CWTags(r.in.Tags(r.Key()))
	if _, err := r.api.PutMetricAlarm(ctx, want); err != nil {
		return nil, fmt.Errorf("creating alarm %s: %w", r.name(), err)
	}
	// PutMetricAlarm returns nothing; the ARN is needed for tags and status.
	out, err := r.api.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{r.name()}})
	if err != nil {
		return nil, fmt.Errorf("reading alarm %s back after creating it: %w", r.name(), err)
	}
	if len(out.MetricAlarms) == 0 {
		return nil, fmt.Errorf("alarm %s not listed right after creating it", r.name())
	}
	return &state.Resource{ID: r.name(), ARN: aws.ToString(out.MetricAlarms[0].AlarmArn)}, nil
}

// Update puts the whole alarm again (PutMetricAlarm replaces its definition) and tags
// it apart: PutMetricAlarm ignores tags on an alarm that exists.
func (r *alarm) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	definition, tags := false, false
	for _, c := range found.Changes {
		if c.Field == "tags" {
			tags = true
		} else {
			definition = true
		}
	}
	if definition {
		want, _ := r.Desired(deps)
		if _, err := r.api.PutMetricAlarm(ctx, want); err != nil {
			return nil, fmt.Errorf("updating alarm %s: %w", r.name(), err)
		}
	}
	if tags {
		if _, err := r.api.TagResource(ctx, &cloudwatch.TagResourceInput{ResourceARN: aws.String(found.Record.ARN), Tags: CWTags(r.in.Tags(r.Key()))}); err != nil {
			return nil, fmt.Errorf("tagging alarm %s: %w", r.name(), err)
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *alarm) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{rec.ID}}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting alarm %s: %w", rec.ID, err)
	}
	return nil
}

func CWTags(tags map[string]string) []cwtypes.Tag {
	return kit.TagList(tags, func(k, v *string) cwtypes.Tag { return cwtypes.Tag{Key: k, Value: v} })
}
