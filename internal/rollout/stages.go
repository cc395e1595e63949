package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
)

// The stages a rollout goes through, as deploy shows them.
const (
	StageStarting = "new tasks starting"
	StageHealthy  = "new tasks healthy"
	StageShifted  = "traffic shifted"
	StageBaking   = "baking"
	StageCleanUp  = "cleaning up"
	StageDone     = "done"
)

// Stage is where a rollout stands: a stage, what it has reached (tasks running,
// the share of production traffic), and, while baking, how long is left.
type Stage struct {
	Name string
	// Detail is "1/2 running" for tasks, "10 %" for traffic; "" when there is nothing to add.
	Detail string
	// Left is the time left in a bake, as modelled from the configuration and when the
	// bake was first seen; 0 outside one.
	Left time.Duration
}

func (s Stage) String() string {
	out := s.Name
	if s.Detail != "" {
		out += ": " + s.Detail
	}
	// Whole minutes: a progress line that changed every poll would be repeated in CI logs.
	switch {
	case s.Left > time.Minute:
		out += fmt.Sprintf(" (%d min left)", int((s.Left+time.Minute-1)/time.Minute))
	case s.Left > 0:
		out += " (under a minute left)"
	}
	return out
}

// key is what makes a stage new: the time left only counts down.
func (s Stage) key() string { return s.Name + "|" + s.Detail }

// serviceDeploymentsAPI reads ECS's account of one deployment: its lifecycle stage, the
// traffic on the new revision, and what triggered a rollback.
type serviceDeploymentsAPI interface {
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, opts ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
}

// serviceDeployment describes the deployment ECS started. An endpoint without the
// operation (the emulators) leaves the watch to the service's deployments list, which
// tells success and failure as well, only fewer stages.
func (w *rolloutWatch) serviceDeployment(ctx context.Context) (*ecstypes.ServiceDeployment, error) {
	if w.sdARN == "" || w.noSD {
		return nil, nil
	}
	out, err := w.api.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{w.sdARN}})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		w.noSD = true
		if w.opts.Event != nil {
			w.opts.Event(time.Now(), "(ECS gave no service deployment detail: "+err.Error()+"; following the service's deployments)")
		}
		return nil, nil
	}
	for i := range out.ServiceDeployments {
		if aws.ToString(out.ServiceDeployments[i].ServiceDeploymentArn) == w.sdARN {
			return &out.ServiceDeployments[i], nil
		}
	}
	return nil, nil
}

// rolledBack reports whether ECS has given up on the deployment and is (or was) rolling
// back, and why: the alarm it names, or the circuit breaker.
func rolledBack(sd *ecstypes.ServiceDeployment) (bool, string, string) {
	if sd == nil {
		return false, "", ""
	}
	switch sd.Status {
	case ecstypes.ServiceDeploymentStatusRollbackRequested, ecstypes.ServiceDeploymentStatusRollbackInProgress,
		ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
	default:
		return false, "", ""
	}
	alarm := ""
	if a := sd.Alarms; a != nil && len(a.TriggeredAlarmNames) > 0 {
		alarm = strings.Join(a.TriggeredAlarmNames, ", ")
	}
	why := aws.ToString(sd.StatusReason)
	if sd.Rollback != nil && aws.ToString(sd.Rollback.Reason) != "" {
		why = aws.ToString(sd.Rollback.Reason)
	}
	if sd.Status == ecstypes.ServiceDeploymentStatusRollbackFailed {
		why = "the rollback itself failed: " + why
	}
	return true, alarm, why
}

// stage says where the rollout stands, from ECS's service deployment when it gives one,
// else from the deployment's task counts.
func (w *rolloutWatch) stage(d *ecstypes.Deployment, sd *ecstypes.ServiceDeployment, now time.Time) Stage {
	if sd != nil {
		return w.lifecycleStage(sd, now)
	}
	if d == nil {
		return Stage{Name: StageStarting}
	}
	running := fmt.Sprintf("%d/%d running", d.RunningCount, d.DesiredCount)
	switch {
	case d.RolloutState == ecstypes.DeploymentRolloutStateCompleted && d.RunningCount == d.DesiredCount:
		return Stage{Name: StageDone}
	case d.RunningCount >= d.DesiredCount && d.DesiredCount > 0:
		// ECS counts a task running once it passes the target group's health checks.
		return Stage{Name: StageHealthy, Detail: running}
	}
	return Stage{Name: StageStarting, Detail: running}
}

func (w *rolloutWatch) lifecycleStage(sd *ecstypes.ServiceDeployment, now time.Time) Stage {
	if sd.Status == ecstypes.ServiceDeploymentStatusSuccessful {
		return Stage{Name: StageDone}
	}
	rev := sd.TargetServiceRevision
	running := ""
	weight := -1.0
	if rev != nil {
		running = fmt.Sprintf("%d/%d running", rev.RunningTaskCount, rev.RequestedTaskCount)
		if rev.RequestedProductionTrafficWeight != nil {
			weight = *rev.RequestedProductionTrafficWeight
		}
	}
	switch sd.LifecycleStage {
	case ecstypes.ServiceDeploymentLifecycleStageReconcileService, ecstypes.ServiceDeploymentLifecycleStagePreScaleUp,
		ecstypes.ServiceDeploymentLifecycleStageScaleUp:
		return Stage{Name: StageStarting, Detail: running}
	case ecstypes.ServiceDeploymentLifecycleStagePostScaleUp, ecstypes.ServiceDeploymentLifecycleStageTestTrafficShift,
		ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift:
		return Stage{Name: StageHealthy, Detail: running}
	case ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift, ecstypes.ServiceDeploymentLifecycleStagePostProductionTrafficShift:
		s := Stage{Name: StageShifted, Detail: fmt.Sprintf("%g %%", max(weight, 0))}
		// Between shifts of a canary or a linear deployment ECS waits its bake time.
		if weight > 0 && weight < 100 {
			s.Left = w.bakeLeft(s.key(), w.stepBake(), now)
		}
		return s
	case ecstypes.ServiceDeploymentLifecycleStageBakeTime:
		s := Stage{Name: StageBaking, Detail: "both revisions running, all traffic on the new one"}
		s.Left = w.bakeLeft(s.key(), time.Duration(w.opts.Deploy.BakeMinutes)*time.Minute, now)
		return s
	case ecstypes.ServiceDeploymentLifecycleStageCleanUp:
		return Stage{Name: StageCleanUp, Detail: "stopping the old revision"}
	}
	return Stage{Name: StageStarting, Detail: running}
}

// stepBake is the wait between traffic shifts of the configured strategy.
func (w *rolloutWatch) stepBake() time.Duration {
	d := w.opts.Deploy
	switch d.Strategy {
	case config.StrategyCanary:
		return time.Duration(d.CanaryBakeMinutes) * time.Minute
	case config.StrategyLinear:
		return time.Duration(d.LinearStepBakeMinutes) * time.Minute
	}
	return 0
}

// bakeLeft is how much of a bake that began when stage key was first seen is left.
func (w *rolloutWatch) bakeLeft(key string, bake time.Duration, now time.Time) time.Duration {
	if w.since == nil {
		w.since = map[string]time.Time{}
	}
	start, ok := w.since[key]
	if !ok {
		start = now
		w.since[key] = now
	}
	return max(bake-now.Sub(start), time.Second)
}

// showStage passes a stage on when it is new, and keeps it for the status line.
func (w *rolloutWatch) showStage(s Stage) {
	w.current = s
	if s.key() == w.lastStage {
		return
	}
	w.lastStage = s.key()
	if w.opts.Stage != nil {
		w.opts.Stage(s)
	}
}
