package validate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/status"
)

// ServiceAPI is what the service check reads.
type ServiceAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// TargetsAPI is what the target checks read.
type TargetsAPI interface {
	DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
}

// LogsAPI is what the logs check reads.
type LogsAPI interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

func revision(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func describeService(ctx context.Context, api ServiceAPI, cluster, service string) (*ecstypes.Service, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s: %w", service, err)
	}
	for i := range out.Services {
		if aws.ToString(out.Services[i].ServiceName) == service {
			return &out.Services[i], nil
		}
	}
	return nil, fmt.Errorf("ECS service %s not found in cluster %s", service, cluster)
}

// Service proves the service is settled on what state says it runs: one deployment
// (PRIMARY, none left over from a rollout), running = desired, on the task definition
// revision in state. A circuit breaker that rolled back leaves the service "steady" on
// the old revision; comparing with state catches that.
func Service(ctx context.Context, api ServiceAPI, d phases.Deployed) Check {
	const name = "ECS service: PRIMARY deployment only, running = desired, on the task definition in state"
	if d.Service == "" {
		return fail(name, "run `fvdeploy up` to create the service", "state records no ECS service")
	}
	svc, err := describeService(ctx, api, d.Cluster, d.Service)
	if err != nil {
		return fail(name, "check the credentials' ecs:DescribeServices permission, or run `fvdeploy up` if the service was deleted", "%v", err)
	}
	if s := aws.ToString(svc.Status); s != "ACTIVE" {
		return fail(name, "run `fvdeploy up` to create the service again", "service %s is %s", d.Service, s)
	}
	var others []string
	var primary *ecstypes.Deployment
	for i, dep := range svc.Deployments {
		if aws.ToString(dep.Status) == "PRIMARY" {
			primary = &svc.Deployments[i]
		} else {
			others = append(others, fmt.Sprintf("%s %s (%s, running %d)", aws.ToString(dep.Status), aws.ToString(dep.Id), revision(aws.ToString(dep.TaskDefinition)), dep.RunningCount))
		}
	}
	switch {
	case primary == nil:
		return fail(name, "wait for ECS to start a deployment, or run `fvdeploy deploy`", "service %s has no PRIMARY deployment", d.Service)
	case len(others) > 0:
		return fail(name, "a rollout is still under way: wait for it (`fvdeploy status`) and validate again",
			"besides the PRIMARY deployment: %s", strings.Join(others, "; "))
	case aws.ToString(primary.TaskDefinition) != d.TaskDefinition:
		return fail(name, "the service runs another revision than state records (rolled back, or changed by hand): run `fvdeploy deploy` to roll it onto the recorded one",
			"PRIMARY runs %s, state records %s", revision(aws.ToString(primary.TaskDefinition)), revision(d.TaskDefinition))
	case svc.RunningCount != svc.DesiredCount:
		return fail(name, "tasks are failing to start or stay up: read the service events (`fvdeploy status`) and the tasks' logs (`fvdeploy logs`)",
			"running %d of %d desired (pending %d)", svc.RunningCount, svc.DesiredCount, svc.PendingCount)
	}
	return pass(name, "%s: running %d = desired %d, PRIMARY on %s", d.Service, svc.RunningCount, svc.DesiredCount, revision(d.TaskDefinition))
}

// targetHealth counts the target group's targets by health state, leaving out the
// draining ones (deregistered, on their way out).
func targetHealth(ctx context.Context, api TargetsAPI, tg string) (healthy int, unhealthy []string, err error) {
	out, err := api.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return 0, nil, fmt.Errorf("describing the health of target group %s: %w", tg, err)
	}
	for _, th := range out.TargetHealthDescriptions {
		h := th.TargetHealth
		if h == nil {
			continue
		}
		switch h.State {
		case elbtypes.TargetHealthStateEnumHealthy:
			healthy++
		case elbtypes.TargetHealthStateEnumDraining:
		default:
			id := aws.ToString(th.Target.Id)
			if th.Target.Port != nil {
				id = fmt.Sprintf("%s:%d", id, *th.Target.Port)
			}
			unhealthy = append(unhealthy, fmt.Sprintf("%s %s (%s)", id, h.State, aws.ToString(h.Description)))
		}
	}
	return healthy, unhealthy, nil
}

// Targets proves every registered target is healthy and there are at least minimum,
// counting both groups of a traffic-shifting strategy.
func Targets(ctx context.Context, api TargetsAPI, d phases.Deployed, minimum int) Check {
	name := fmt.Sprintf("target group: every target healthy, at least %d", minimum)
	if d.TargetGroup == "" {
		return fail(name, "run `fvdeploy up` to create the network phase", "state records no target group")
	}
	healthy, unhealthy, err := targetHealth(ctx, api, d.TargetGroup)
	// A blue/green-family deployment leaves the tasks in whichever group it started them.
	if alt := d.AltTargetGroup; alt != "" && err == nil {
		var h int
		var u []string
		h, u, err = targetHealth(ctx, api, alt)
		healthy, unhealthy = healthy+h, append(unhealthy, u...)
	}
	switch {
	case err != nil:
		return fail(name, "check the credentials' elasticloadbalancing:DescribeTargetHealth permission", "%v", err)
	case len(unhealthy) > 0:
		return fail(name, "targets fail the /health check: read the tasks' logs (`fvdeploy logs`) and check that SG-ECS admits SG-ALB on the container port",
			"%d healthy; not healthy: %s", healthy, strings.Join(unhealthy, "; "))
	case healthy < minimum:
		return fail(name, "ECS registers a target per running task: check that the service runs its tasks (`fvdeploy status`)",
			"%d healthy target(s), want at least %d", healthy, minimum)
	}
	return pass(name, "%d healthy target(s)", healthy)
}

// Logs proves the service's log group receives the access log lines of validate's own
// requests (marked by marker in their User-Agent), polling for up to wait since
// delivery through the awslogs driver takes seconds.
func Logs(ctx context.Context, api LogsAPI, d phases.Deployed, since time.Time, marker string, wait, poll time.Duration) Check {
	const name = "logs: the service's access log lines for validate's requests arrive in CloudWatch"
	if d.LogGroup == "" {
		return fail(name, "run `fvdeploy up` to create the cluster phase", "state records no log group")
	}
	deadline := time.Now().Add(wait)
	b := newBackoff(poll, 10*time.Second)
	start := time.Now()
	for {
		n, stream, err := countEvents(ctx, api, d.LogGroup, since, marker)
		switch {
		case err != nil:
			return fail(name, "check the credentials' logs:FilterLogEvents permission", "%v", err)
		case n > 0:
			return pass(name, "%d line(s) in %s (stream %s) within %s", n, d.LogGroup, stream, time.Since(start).Round(time.Millisecond))
		case time.Now().After(deadline) || ctx.Err() != nil:
			return fail(name, "the tasks' awslogs driver is not delivering: check the task definition's logConfiguration and the execution role's logs:CreateLogStream/PutLogEvents grant",
				"no line containing %q in %s since %s after %s", marker, d.LogGroup, since.UTC().Format(time.TimeOnly), wait)
		}
		select {
		case <-ctx.Done():
		case <-time.After(b.step()):
		}
	}
}

func countEvents(ctx context.Context, api LogsAPI, group string, since time.Time, marker string) (int, string, error) {
	p := cloudwatchlogs.NewFilterLogEventsPaginator(api, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String(group), StartTime: aws.Int64(since.UnixMilli()), FilterPattern: aws.String(`"` + marker + `"`),
	})
	n, stream := 0, ""
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, "", fmt.Errorf("searching log group %s: %w", group, err)
		}
		for _, ev := range page.Events {
			// Matched again here: a pattern an emulator ignores must not pass the check.
			if strings.Contains(aws.ToString(ev.Message), marker) {
				n++
				stream = aws.ToString(ev.LogStreamName)
			}
		}
	}
	return n, stream, nil
}

// Alarms proves no alarm of the environment is firing.
func Alarms(states []status.AlarmState, err error) Check {
	const name = "alarms: none in ALARM"
	if err != nil {
		return fail(name, "check the credentials' cloudwatch:DescribeAlarms permission", "%v", err)
	}
	var firing []string
	for _, s := range states {
		if s.State == "ALARM" || s.State == "MISSING" {
			firing = append(firing, fmt.Sprintf("%s %s: %s", s.Name, s.State, s.Reason))
		}
	}
	if len(firing) > 0 {
		return fail(name, "investigate what the alarm measures (`fvdeploy logs`, the CloudWatch console); a MISSING alarm is put back by `fvdeploy up`",
			"%s", strings.Join(firing, "; "))
	}
	if len(states) == 0 {
		return pass(name, "no alarms deployed (observability phase not run)")
	}
	return pass(name, "%d alarm(s), none in ALARM", len(states))
}
