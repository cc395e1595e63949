package rollout

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/progress"
)

// The emulators implement neither the traffic-shifting strategies nor ECS's service
// deployments (DescribeServiceDeployments), so each strategy's rollout is proven here
// against canned ECS answers: the lifecycle stages ECS reports, a rollback by an alarm,
// one by the circuit breaker, and a wait that runs out.

const sdARN = "arn:aws:ecs:us-east-1:123456789012:service-deployment/fastapi-vars-prod/fastapi-vars-prod/sd1"

// sdAt is ECS's service deployment at a stage: the new revision's tasks and its share of
// production traffic (-1: not reported).
func sdAt(stage ecstypes.ServiceDeploymentLifecycleStage, running int32, weight float64) ecstypes.ServiceDeployment {
	rev := &ecstypes.ServiceRevisionSummary{RunningTaskCount: running, RequestedTaskCount: 2}
	if weight >= 0 {
		rev.RequestedProductionTrafficWeight = aws.Float64(weight)
	}
	return ecstypes.ServiceDeployment{ServiceDeploymentArn: aws.String(sdARN), Status: ecstypes.ServiceDeploymentStatusInProgress,
		LifecycleStage: stage, TargetServiceRevision: rev}
}

func sdDone() ecstypes.ServiceDeployment {
	return ecstypes.ServiceDeployment{ServiceDeploymentArn: aws.String(sdARN), Status: ecstypes.ServiceDeploymentStatusSuccessful}
}

// sdRolledBack is a deployment ECS is rolling back: by the named alarms, or (none) by the
// circuit breaker.
func sdRolledBack(alarms ...string) ecstypes.ServiceDeployment {
	sd := ecstypes.ServiceDeployment{ServiceDeploymentArn: aws.String(sdARN), Status: ecstypes.ServiceDeploymentStatusRollbackInProgress,
		DeploymentCircuitBreaker: &ecstypes.ServiceDeploymentCircuitBreaker{Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring},
		Alarms:                   &ecstypes.ServiceDeploymentAlarms{Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring}}
	if len(alarms) > 0 {
		sd.Alarms.Status, sd.Alarms.TriggeredAlarmNames = ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered, alarms
		sd.Rollback = &ecstypes.Rollback{Reason: aws.String("Alarm detected during the deployment.")}
	} else {
		sd.DeploymentCircuitBreaker.Status = ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered
		sd.StatusReason = aws.String("ECS deployment circuit breaker: 3 tasks failed to start.")
	}
	return sd
}

// strategyStages is what ECS reports, poll by poll, for a successful deployment under
// each strategy, and the stages deploy shows for it.
var strategyStages = map[string]struct {
	sds    []ecstypes.ServiceDeployment
	stages []string
}{
	config.StrategyRolling: {
		sds:    []ecstypes.ServiceDeployment{sdAt("SCALE_UP", 0, -1), sdAt("SCALE_UP", 2, -1), sdAt("CLEAN_UP", 2, -1), sdDone()},
		stages: []string{"new tasks starting: 0/2 running", "new tasks starting: 2/2 running", "cleaning up: stopping the old revision", "done"},
	},
	config.StrategyCanary: {
		sds: []ecstypes.ServiceDeployment{sdAt("SCALE_UP", 0, 0), sdAt("SCALE_UP", 2, 0), sdAt("POST_SCALE_UP", 2, 0),
			sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 10), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 10), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 100),
			sdAt("BAKE_TIME", 2, 100), sdAt("CLEAN_UP", 2, 100), sdDone()},
		stages: []string{"new tasks starting: 0/2 running", "new tasks starting: 2/2 running", "new tasks healthy: 2/2 running",
			"traffic shifted: 10 % (5 min left)", "traffic shifted: 100 %",
			"baking: both revisions running, all traffic on the new one (2 min left)", "cleaning up: stopping the old revision", "done"},
	},
	config.StrategyLinear: {
		sds: []ecstypes.ServiceDeployment{sdAt("SCALE_UP", 2, 0), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 25), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 50),
			sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 75), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 100), sdAt("BAKE_TIME", 2, 100), sdDone()},
		stages: []string{"new tasks starting: 2/2 running", "traffic shifted: 25 % (2 min left)", "traffic shifted: 50 % (2 min left)",
			"traffic shifted: 75 % (2 min left)", "traffic shifted: 100 %", "baking: both revisions running, all traffic on the new one (2 min left)", "done"},
	},
	config.StrategyBlueGreen: {
		sds: []ecstypes.ServiceDeployment{sdAt("SCALE_UP", 1, 0), sdAt("TEST_TRAFFIC_SHIFT", 2, 0), sdAt("PRODUCTION_TRAFFIC_SHIFT", 2, 100),
			sdAt("BAKE_TIME", 2, 100), sdDone()},
		stages: []string{"new tasks starting: 1/2 running", "new tasks healthy: 2/2 running", "traffic shifted: 100 %",
			"baking: both revisions running, all traffic on the new one (2 min left)", "done"},
	},
}

func TestRolloutUnderEachStrategy(t *testing.T) {
	steady := scriptedService(oldTD, nil, deployment("d-old", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	started := scriptedService(newTD, []string{"has started 2 tasks."},
		deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 2, 0),
		deployment("d-old", oldTD, "ACTIVE", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	started.CurrentServiceDeployment = aws.String(sdARN)
	done := scriptedService(newTD, []string{"has started 2 tasks.", "has reached a steady state."},
		deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	// ECS moves the service back to the old revision as it rolls back.
	back := scriptedService(oldTD, []string{"has started 2 tasks.", "rolling back to deployment d-old."},
		deployment("d-old", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 0, 2),
		deployment("d-new", newTD, "ACTIVE", ecstypes.DeploymentRolloutStateFailed, 2, 0, 0))

	const p95 = "fastapi-vars-prod-alb-p95-latency"
	type outcome struct {
		sds       func(success []ecstypes.ServiceDeployment) []ecstypes.ServiceDeployment
		services  func(n int) []ecstypes.Service
		timeout   time.Duration
		wantKind  string
		wantAlarm string
		wantInErr []string
	}
	outcomes := map[string]outcome{
		"success": {
			sds:      func(ok []ecstypes.ServiceDeployment) []ecstypes.ServiceDeployment { return ok },
			services: func(n int) []ecstypes.Service { return append(repeat(started, n), done) },
		},
		"rollback by alarm": {
			sds: func(ok []ecstypes.ServiceDeployment) []ecstypes.ServiceDeployment {
				return []ecstypes.ServiceDeployment{ok[0], ok[1], sdRolledBack(p95)}
			},
			services:  func(int) []ecstypes.Service { return []ecstypes.Service{started, started, back} },
			wantKind:  "rolled back",
			wantAlarm: p95,
			wantInErr: []string{"alarm " + p95 + " went into ALARM and ECS rolled the service back: Alarm detected during the deployment."},
		},
		"rollback by circuit breaker": {
			sds: func(ok []ecstypes.ServiceDeployment) []ecstypes.ServiceDeployment {
				return []ecstypes.ServiceDeployment{ok[0], sdRolledBack()}
			},
			services:  func(int) []ecstypes.Service { return []ecstypes.Service{started, back} },
			wantKind:  "rolled back",
			wantInErr: []string{"the circuit breaker rolled the service back: ECS deployment circuit breaker: 3 tasks failed to start."},
		},
		"timeout": {
			sds:       func(ok []ecstypes.ServiceDeployment) []ecstypes.ServiceDeployment { return ok[:1] },
			services:  func(int) []ecstypes.Service { return []ecstypes.Service{started} },
			timeout:   50 * time.Millisecond,
			wantKind:  "timed out",
			wantInErr: []string{"still not rolled out after 50ms", "new tasks starting"},
		},
	}
	for strategy, script := range strategyStages {
		for name, o := range outcomes {
			t.Run(strategy+"/"+name, func(t *testing.T) {
				s := &ecsScript{services: append([]ecstypes.Service{steady}, o.services(len(script.sds)-1)...), update: started,
					sds: o.sds(script.sds)}
				api, target, opts := stubbed(t, s)
				opts.Deploy.Strategy = strategy
				var stages []string
				opts.Wait, opts.Timeout = true, cmp.Or(o.timeout, time.Minute)
				opts.Stage = func(st Stage) { stages = append(stages, st.String()) }
				res, err := Roll(context.Background(), api, target, newTD, opts)
				if got := strings.Join(s.mutating(), ","); got != "UpdateService" {
					t.Errorf("mutating calls %q, want one UpdateService", got)
				}
				if o.wantKind == "" {
					if err != nil || !res.Completed {
						t.Fatalf("rollout: %+v, %v", res, err)
					}
					if strings.Join(stages, "\n") != strings.Join(script.stages, "\n") {
						t.Errorf("stages\n%s\nwant\n%s", strings.Join(stages, "\n"), strings.Join(script.stages, "\n"))
					}
					return
				}
				var re *Error
				if !errors.As(err, &re) || re.Kind != o.wantKind {
					t.Fatalf("rollout: %v, want a %q rollout.Error", err, o.wantKind)
				}
				if re.Alarm != o.wantAlarm {
					t.Errorf("names alarm %q, want %q", re.Alarm, o.wantAlarm)
				}
				for _, w := range o.wantInErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
			})
		}
	}
}

func repeat(s ecstypes.Service, n int) []ecstypes.Service {
	out := make([]ecstypes.Service, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// The stage view of a canary deploy: each stage printed once, in order, on the progress
// stream, as deploy wires it.
func TestCanaryStagesPrintedInOrder(t *testing.T) {
	steady := scriptedService(oldTD, nil, deployment("d-old", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	started := scriptedService(newTD, nil, deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 2, 0))
	started.CurrentServiceDeployment = aws.String(sdARN)
	done := scriptedService(newTD, nil, deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	script := strategyStages[config.StrategyCanary]
	s := &ecsScript{services: append(append([]ecstypes.Service{steady}, repeat(started, len(script.sds)-1)...), done), update: started, sds: script.sds}
	api, target, opts := stubbed(t, s)
	var out bytes.Buffer
	p := progress.New(&out, progress.Plain, time.Time{}, nil)
	opts.Wait, opts.Timeout = true, time.Minute
	opts.Stage = func(st Stage) { p.Notef("%s", st) }
	if _, err := Roll(context.Background(), api, target, newTD, opts); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	at := 0
	for _, want := range []string{"new tasks starting: 0/2 running", "new tasks healthy: 2/2 running", "traffic shifted: 10 % (5 min left)",
		"traffic shifted: 100 %", "baking: both revisions running, all traffic on the new one (2 min left)", "cleaning up", "done"} {
		i := strings.Index(text[at:], want)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", want, text)
		}
		at += i + len(want)
	}
	if strings.Count(text, "traffic shifted: 10 %") != 1 {
		t.Errorf("a stage printed more than once:\n%s", text)
	}
}
