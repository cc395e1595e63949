package validate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// ChaosAPI is what the chaos test calls on ECS.
type ChaosAPI interface {
	ServiceAPI
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, opts ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// ChaosOptions bound and pace the chaos test.
type ChaosOptions struct {
	// Timeout fails the test when the service is not whole again after this long.
	Timeout time.Duration
	// Poll is the wait between looks at the service.
	Poll time.Duration
	// Wait reports what is being waited for, each poll; may be nil.
	Wait func(status string)
	// Now and Sleep are the clock; nil means the real one. Tests replace them so that
	// timing is exact.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// StopReason is what ECS records as why validate stopped the task.
const StopReason = "fvdeploy validate --chaos: stopped on purpose to measure recovery"

// Chaos stops one running task of the service and measures the time until the service
// is whole again: the stopped task gone, as many tasks running as desired, and at least
// that many healthy targets with none unhealthy (draining ones are on their way out).
func Chaos(ctx context.Context, api ChaosAPI, targets TargetsAPI, d phases.Deployed, opts ChaosOptions) Check {
	const name = "chaos: a stopped task is replaced and the service is whole again"
	now, sleep := opts.Now, opts.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}
	}
	if d.Service == "" {
		return fail(name, "run `fvdeploy up` to create the service", "state records no ECS service")
	}
	before, err := runningTasks(ctx, api, d)
	if err != nil {
		return fail(name, "check the credentials' ecs:ListTasks permission", "%v", err)
	}
	if len(before) == 0 {
		return fail(name, "the service runs no task to stop: check `fvdeploy status` first", "no RUNNING task in service %s", d.Service)
	}
	victim := before[0]
	if _, err := api.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(d.Cluster), Task: aws.String(victim), Reason: aws.String(StopReason)}); err != nil {
		return fail(name, "check the credentials' ecs:StopTask permission", "stopping task %s: %v", revision(victim), err)
	}
	start := now()
	last := "nothing seen yet"
	for {
		whole, status, err := chaosWhole(ctx, api, targets, d, victim)
		if err != nil {
			return fail(name, "the stopped task may not have been replaced: check `fvdeploy status`", "after stopping %s: %v", revision(victim), err)
		}
		last = status
		elapsed := now().Sub(start)
		if whole {
			c := pass(name, "stopped %s; whole again after %.1f s: %s", revision(victim), elapsed.Seconds(), status)
			c.Seconds = elapsed.Seconds()
			return c
		}
		if opts.Wait != nil {
			opts.Wait(status)
		}
		if elapsed >= opts.Timeout {
			c := fail(name, "the service did not recover in time: read the service events (`fvdeploy status`) and the tasks' logs (`fvdeploy logs`); raise --timeout if recovery is merely slow",
				"stopped %s; not whole after %.1f s (limit %s): %s", revision(victim), elapsed.Seconds(), opts.Timeout, last)
			c.Seconds = elapsed.Seconds()
			return c
		}
		if err := sleep(ctx, opts.Poll); err != nil {
			return fail(name, "run validate --chaos again", "interrupted after %.1f s: %v (last seen: %s)", elapsed.Seconds(), err, last)
		}
	}
}

func runningTasks(ctx context.Context, api ChaosAPI, d phases.Deployed) ([]string, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(api, &ecs.ListTasksInput{Cluster: aws.String(d.Cluster), ServiceName: aws.String(d.Service), DesiredStatus: ecstypes.DesiredStatusRunning})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the running tasks of service %s: %w", d.Service, err)
		}
		arns = append(arns, page.TaskArns...)
	}
	slices.Sort(arns)
	return arns, nil
}

func chaosWhole(ctx context.Context, api ChaosAPI, targets TargetsAPI, d phases.Deployed, victim string) (bool, string, error) {
	svc, err := describeService(ctx, api, d.Cluster, d.Service)
	if err != nil {
		return false, "", err
	}
	tasks, err := runningTasks(ctx, api, d)
	if err != nil {
		return false, "", err
	}
	healthy, unhealthy, err := targetHealth(ctx, targets, d.TargetGroup)
	if err != nil {
		return false, "", err
	}
	desired := int(svc.DesiredCount)
	status := fmt.Sprintf("running %d of %d desired, %d task(s) listed, %d healthy target(s), %d not healthy",
		svc.RunningCount, desired, len(tasks), healthy, len(unhealthy))
	whole := !slices.Contains(tasks, victim) && len(tasks) >= desired && int(svc.RunningCount) == desired &&
		healthy >= desired && len(unhealthy) == 0
	return whole, status, nil
}
