package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
)

// The emulator's UpdateService never starts a deployment and its services never run a
// task, so the rollout state machine is proven here against canned ECS answers: smithy
// middleware that answers each operation before anything is sent (the way ecspresso
// tests), with no network and no emulator.

const (
	oldTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:6"
	newTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:7"
)

// ecsScript answers DescribeServices with its services in turn (the last one repeats)
// and UpdateService with update; it records the operations called.
type ecsScript struct {
	mu       sync.Mutex
	services []ecstypes.Service
	update   ecstypes.Service
	tasks    []ecstypes.Task
	calls    []string
	// sds answer DescribeServiceDeployments in turn, the last one repeating.
	sds []ecstypes.ServiceDeployment
}

func (s *ecsScript) stub(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ecsScript",
		func(ctx context.Context, in middleware.InitializeInput, _ middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			op := awsmiddleware.GetOperationName(ctx)
			s.calls = append(s.calls, op)
			var out any
			switch op {
			case "DescribeServices":
				svc := s.services[0]
				if len(s.services) > 1 {
					s.services = s.services[1:]
				}
				out = &ecs.DescribeServicesOutput{Services: []ecstypes.Service{svc}}
			case "UpdateService":
				if td := aws.ToString(in.Parameters.(*ecs.UpdateServiceInput).TaskDefinition); td != aws.ToString(s.update.TaskDefinition) {
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("UpdateService to %s, script expects %s", td, aws.ToString(s.update.TaskDefinition))
				}
				out = &ecs.UpdateServiceOutput{Service: &s.update}
			case "ListTasks":
				var arns []string
				for _, t := range s.tasks {
					arns = append(arns, aws.ToString(t.TaskArn))
				}
				out = &ecs.ListTasksOutput{TaskArns: arns}
			case "DescribeTasks":
				out = &ecs.DescribeTasksOutput{Tasks: s.tasks}
			case "DescribeServiceDeployments":
				if len(s.sds) == 0 {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("UnknownOperationException: DescribeServiceDeployments")
				}
				sd := s.sds[0]
				if len(s.sds) > 1 {
					s.sds = s.sds[1:]
				}
				out = &ecs.DescribeServiceDeploymentsOutput{ServiceDeployments: []ecstypes.ServiceDeployment{sd}}
			default:
				return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("unscripted call %s", op)
			}
			return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
		}), middleware.Before)
}

func (s *ecsScript) mutating() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		if (awsclients.Call{Operation: c}).Mutating() {
			out = append(out, c)
		}
	}
	return out
}

func deployment(id, td, status string, rollout ecstypes.DeploymentRolloutState, desired, pending, running int32) ecstypes.Deployment {
	return ecstypes.Deployment{Id: aws.String(id), TaskDefinition: aws.String(td), Status: aws.String(status), RolloutState: rollout,
		DesiredCount: desired, PendingCount: pending, RunningCount: running}
}

var eventTime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func scriptedService(td string, events []string, deployments ...ecstypes.Deployment) ecstypes.Service {
	s := ecstypes.Service{ServiceName: aws.String("fastapi-vars-prod"), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(td), Deployments: deployments}
	// Newest first, as ECS lists them.
	for i := len(events) - 1; i >= 0; i-- {
		s.Events = append(s.Events, ecstypes.ServiceEvent{Id: aws.String(fmt.Sprint("ev", i)), Message: aws.String(events[i]), CreatedAt: aws.Time(eventTime.Add(time.Duration(i) * time.Second))})
	}
	return s
}

// stubbed is an ECS client whose calls all go to the script, the prod service as the
// target, and the prod defaults' strategy.
func stubbed(t *testing.T, s *ecsScript) (*ecs.Client, Target, Options) {
	t.Helper()
	cfg, err := config.Defaults("prod")
	if err != nil {
		t.Fatal(err)
	}
	api := ecs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{},
		APIOptions: []func(*middleware.Stack) error{s.stub}})
	target := Target{Cluster: "fastapi-vars-prod", Service: "fastapi-vars-prod", Env: "prod",
		Alarms: []string{"fastapi-vars-prod-alb-5xx-target", "fastapi-vars-prod-alb-p95-latency"}}
	return api, target, Options{Deploy: cfg.Deploy, PollInterval: time.Millisecond}
}

func TestRolloutStateMachine(t *testing.T) {
	steady := scriptedService(oldTD, []string{"has reached a steady state."}, deployment("d-old", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	started := scriptedService(newTD, []string{"has reached a steady state.", "has started 2 tasks."},
		deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 2, 0),
		deployment("d-old", oldTD, "ACTIVE", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	halfway := scriptedService(newTD, []string{"has reached a steady state.", "has started 2 tasks.", "registered 1 targets."},
		deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 1, 1),
		deployment("d-old", oldTD, "ACTIVE", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	// ECS can say COMPLETED a moment before the counts agree: not done yet.
	countsLag := scriptedService(newTD, nil, deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 1, 1))
	done := scriptedService(newTD, []string{"has reached a steady state.", "has started 2 tasks.", "registered 1 targets.", "has reached a steady state."},
		deployment("d-new", newTD, "PRIMARY", ecstypes.DeploymentRolloutStateCompleted, 2, 0, 2))
	rolledBack := scriptedService(oldTD, []string{"has reached a steady state.", "has started 2 tasks.", "deployment d-new deployment failed: tasks failed to start.", "rolling back to deployment d-rollback."},
		deployment("d-rollback", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 0, 2),
		deployment("d-new", newTD, "ACTIVE", ecstypes.DeploymentRolloutStateFailed, 2, 0, 0))
	rolledBack.Deployments[1].RolloutStateReason = aws.String("ECS deployment circuit breaker: tasks failed to start.")
	// ECS names the alarm in the failed deployment's reason and in a service event.
	byAlarm := scriptedService(oldTD, []string{"has reached a steady state.", "has started 2 tasks.", "registered 2 targets.",
		"(deployment d-new) deployment failed: alarm detected.", "rolling back to deployment d-rollback."},
		deployment("d-rollback", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 0, 2),
		deployment("d-new", newTD, "ACTIVE", ecstypes.DeploymentRolloutStateFailed, 2, 0, 2))
	byAlarm.Deployments[1].RolloutStateReason = aws.String("ECS deployment d-new rolled back. Alarm fastapi-vars-prod-alb-p95-latency in ALARM state.")
	byAlarmEvent := scriptedService(oldTD, []string{"has reached a steady state.", "has started 2 tasks.",
		"(deployment d-new) deployment failed: alarm fastapi-vars-prod-alb-5xx-target in ALARM state.", "rolling back to deployment d-rollback."},
		deployment("d-rollback", oldTD, "PRIMARY", ecstypes.DeploymentRolloutStateInProgress, 2, 0, 2),
		deployment("d-new", newTD, "ACTIVE", ecstypes.DeploymentRolloutStateFailed, 2, 0, 2))
	failedTask := ecstypes.Task{TaskArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task/fastapi-vars-prod/abc123"), TaskDefinitionArn: aws.String(newTD),
		StoppedReason: aws.String("Essential container in task exited"),
		Containers:    []ecstypes.Container{{Name: aws.String("app"), ExitCode: aws.Int32(3)}}}
	oldTask := ecstypes.Task{TaskArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task/fastapi-vars-prod/old1"), TaskDefinitionArn: aws.String(oldTD), StoppedReason: aws.String("Scaling activity")}

	tests := map[string]struct {
		services  []ecstypes.Service
		update    ecstypes.Service
		target    string
		wait      bool
		timeout   time.Duration
		wantKind  string // "" means success
		wantAlarm string // the alarm a failure names
		wantInErr []string
		wantCalls []string
		wantEvent []string
		updated   bool
	}{
		"rolls out and waits for running = desired": {
			services: []ecstypes.Service{steady, started, halfway, countsLag, countsLag, done}, update: started, target: newTD, wait: true,
			wantCalls: []string{"UpdateService"}, updated: true,
			wantEvent: []string{"has started 2 tasks.", "registered 1 targets.", "has reached a steady state."},
		},
		"circuit breaker rollback fails": {
			services: []ecstypes.Service{steady, started, rolledBack}, update: started, target: newTD, wait: true,
			wantKind: "rolled back", wantCalls: []string{"UpdateService"},
			wantInErr: []string{"rolled the service back to fastapi-vars-prod:6", "ECS deployment circuit breaker: tasks failed to start.",
				"deployment d-new deployment failed", "abc123: Essential container in task exited; app exited 3"},
		},
		"deployment alarm rollback names the alarm": {
			services: []ecstypes.Service{steady, started, halfway, byAlarm}, update: started, target: newTD, wait: true,
			wantKind: "rolled back", wantAlarm: "fastapi-vars-prod-alb-p95-latency", wantCalls: []string{"UpdateService"},
			wantInErr: []string{"alarm fastapi-vars-prod-alb-p95-latency went into ALARM and ECS rolled the service back to fastapi-vars-prod:6",
				"deployment failed: alarm detected."},
		},
		"an alarm named only in the events is found": {
			services: []ecstypes.Service{steady, started, byAlarmEvent}, update: started, target: newTD, wait: true,
			wantKind: "rolled back", wantAlarm: "fastapi-vars-prod-alb-5xx-target", wantCalls: []string{"UpdateService"},
			wantInErr: []string{"alarm fastapi-vars-prod-alb-5xx-target went into ALARM and ECS rolled the service back to fastapi-vars-prod:6"},
		},
		"a wait that runs out fails": {
			services: []ecstypes.Service{steady, started, halfway}, update: started, target: newTD, wait: true, timeout: 50 * time.Millisecond,
			wantKind: "timed out", wantCalls: []string{"UpdateService"},
			wantInErr: []string{"still not rolled out after 50ms", "desired 2, pending 1, running 1", "registered 1 targets."},
		},
		"the running revision is not rolled again": {
			services: []ecstypes.Service{done}, target: newTD, wait: true,
		},
		"no-wait returns after UpdateService": {
			services: []ecstypes.Service{steady}, update: started, target: newTD, wait: false, wantCalls: []string{"UpdateService"}, updated: true,
		},
		"no deployment started is no success": {
			// The emulator's answer: UpdateService leaves the old deployment PRIMARY.
			services: []ecstypes.Service{steady}, update: steady, target: newTD, wait: true,
			wantKind: "failed", wantInErr: []string{"started no deployment"}, wantCalls: []string{"UpdateService"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			script := &ecsScript{services: tc.services, update: tc.update, tasks: []ecstypes.Task{oldTask, failedTask}}
			if aws.ToString(tc.update.TaskDefinition) == oldTD {
				script.update.TaskDefinition = aws.String(tc.target)
			}
			api, target, opts := stubbed(t, script)
			var events []string
			var statuses []Status
			opts.Wait, opts.Timeout = tc.wait, cmp.Or(tc.timeout, time.Minute)
			opts.Event = func(_ time.Time, msg string) { events = append(events, msg) }
			opts.Status = func(s Status) { statuses = append(statuses, s) }
			res, err := Roll(context.Background(), api, target, tc.target, opts)
			if got := strings.Join(script.mutating(), ","); got != strings.Join(tc.wantCalls, ",") {
				t.Errorf("mutating calls %q, want %q", got, strings.Join(tc.wantCalls, ","))
			}
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("rollout: %v", err)
				}
				if res.Updated != tc.updated || res.Completed != tc.wait || res.TaskDefinition != tc.target {
					t.Errorf("result %+v", res)
				}
				if tc.wantEvent != nil && strings.Join(events, "|") != strings.Join(tc.wantEvent, "|") {
					t.Errorf("events %q, want each new one once: %q", events, tc.wantEvent)
				}
				if tc.wait && tc.updated && (len(statuses) == 0 || statuses[len(statuses)-1].State != "COMPLETED") {
					t.Errorf("statuses %v", statuses)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.Kind != tc.wantKind {
				t.Fatalf("rollout: %v (%T), want a %q rollout.Error", err, err, tc.wantKind)
			}
			if re.Alarm != tc.wantAlarm {
				t.Errorf("the failure names alarm %q, want %q", re.Alarm, tc.wantAlarm)
			}
			if tc.wantAlarm == "" && strings.Contains(err.Error(), "went into ALARM") {
				t.Errorf("a failure no alarm caused blames one:\n%v", err)
			}
			for _, w := range tc.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "old1") {
				t.Errorf("the error shows tasks of another revision:\n%v", err)
			}
		})
	}
}
