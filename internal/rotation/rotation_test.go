package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// fakeSecret is one secret's current value.
type fakeSecret struct {
	value string
	puts  []string
}

func (f *fakeSecret) GetSecretValue(_ context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

func (f *fakeSecret) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.value = aws.ToString(in.SecretString)
	f.puts = append(f.puts, f.value)
	return &secretsmanager.PutSecretValueOutput{}, nil
}

// task is a running task: it read the secret when it started, as ECS's valueFrom does.
type task struct {
	deployment     string
	pass, previous string
}

// accepts is the service's rule (api/main.py): the password, or the previous one while
// it is non-empty.
func (t task) accepts(p string) bool { return p == t.pass || (t.previous != "" && p == t.previous) }

// fakeECS rolls a service of two tasks one step per DescribeServices: start a task of the
// new deployment (reading the secret as it is then), or stop one of an older deployment,
// or mark the new one COMPLETED. observe is called after every step with the running tasks.
type fakeECS struct {
	secret  *fakeSecret
	tasks   []task
	deps    []ecstypes.Deployment
	n       int
	fail    bool // the next rollout fails (circuit breaker)
	updates int
	observe func([]task)
}

func (f *fakeECS) UpdateService(_ context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	if !in.ForceNewDeployment {
		return nil, fmt.Errorf("want a forced new deployment")
	}
	f.updates++
	f.n++
	for i := range f.deps {
		f.deps[i].Status = aws.String("ACTIVE")
	}
	f.deps = append(f.deps, ecstypes.Deployment{Id: aws.String(fmt.Sprintf("d%d", f.n)), Status: aws.String("PRIMARY"), DesiredCount: 2,
		RolloutState: ecstypes.DeploymentRolloutStateInProgress, CreatedAt: aws.Time(time.Now())})
	return &ecs.UpdateServiceOutput{Service: &ecstypes.Service{Deployments: f.deps}}, nil
}

func (f *fakeECS) DescribeServices(_ context.Context, _ *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	p := &f.deps[len(f.deps)-1]
	id := aws.ToString(p.Id)
	old := -1
	for i, t := range f.tasks {
		if t.deployment != id {
			old = i
		}
	}
	switch {
	case f.fail:
		p.RolloutState, p.RolloutStateReason = ecstypes.DeploymentRolloutStateFailed, aws.String("tasks failed to start")
	case p.RunningCount < p.DesiredCount:
		var v map[string]string
		_ = json.Unmarshal([]byte(f.secret.value), &v)
		f.tasks = append(f.tasks, task{deployment: id, pass: v[KeyPass], previous: v[KeyPrevious]})
	case old >= 0:
		f.tasks = append(f.tasks[:old], f.tasks[old+1:]...)
	default:
		p.RolloutState = ecstypes.DeploymentRolloutStateCompleted
	}
	var kept []ecstypes.Deployment
	for _, d := range f.deps {
		d.RunningCount = 0
		for _, t := range f.tasks {
			if t.deployment == aws.ToString(d.Id) {
				d.RunningCount++
			}
		}
		if d.RunningCount > 0 || aws.ToString(d.Status) == "PRIMARY" {
			kept = append(kept, d)
		}
	}
	f.deps = kept
	if f.observe != nil {
		f.observe(f.tasks)
	}
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{Deployments: f.deps}}}, nil
}

func newGround(value string) (*fakeSecret, *fakeECS) {
	s := &fakeSecret{value: value}
	e := &fakeECS{secret: s, deps: []ecstypes.Deployment{{Id: aws.String("d0"), Status: aws.String("PRIMARY"), DesiredCount: 2, RunningCount: 2, RolloutState: ecstypes.DeploymentRolloutStateCompleted}}}
	var v map[string]string
	_ = json.Unmarshal([]byte(value), &v)
	e.tasks = []task{{"d0", v[KeyPass], v[KeyPrevious]}, {"d0", v[KeyPass], v[KeyPrevious]}}
	return s, e
}

var target = Target{Secret: "app-dev-admin", Cluster: "app-dev", Service: "app-dev"}

func opts(pass string) Options {
	return Options{NewPassword: func() (string, error) { return pass, nil }, PollInterval: 1}
}

// Through the whole rotation, until the secret stops carrying the old password, every
// running task accepts it; at the end only the new one is accepted, by every task. The
// other keys of the secret are kept.
func TestRunNeverRefusesTheOldPasswordUntilEveryTaskRunsTheNewOne(t *testing.T) {
	s, e := newGround(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":"","API_TOKEN":"tok"}`)
	steps, refusedEarly := 0, 0
	e.observe = func(tasks []task) {
		steps++
		stageB := len(s.puts) == 2
		for _, tk := range tasks {
			if !stageB && !tk.accepts("old") {
				refusedEarly++
			}
		}
	}
	res, err := Run(context.Background(), s, e, target, opts("new"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || e.updates != 2 || len(s.puts) != 2 {
		t.Fatalf("resumed %v, %d rollouts, %d puts; want a fresh rotation, 2 and 2", res.Resumed, e.updates, len(s.puts))
	}
	want := []string{
		`{"ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"old","ADMIN_USER":"admin","API_TOKEN":"tok"}`,
		`{"ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"","ADMIN_USER":"admin","API_TOKEN":"tok"}`,
	}
	for i := range want {
		if s.puts[i] != want[i] {
			t.Errorf("put %d = %s, want %s", i, s.puts[i], want[i])
		}
	}
	if refusedEarly != 0 || steps < 8 {
		t.Errorf("a task refused the old password %d times before stage B was stored (%d steps observed)", refusedEarly, steps)
	}
	if len(e.tasks) != 2 {
		t.Fatalf("%d tasks at the end, want 2", len(e.tasks))
	}
	for _, tk := range e.tasks {
		if tk.accepts("old") || !tk.accepts("new") {
			t.Errorf("at the end a task accepts old %v, new %v", tk.accepts("old"), tk.accepts("new"))
		}
	}
}

// A rotation interrupted after stage A is finished, not started over: its new password
// stays, the previous one is dropped only after a rollout puts every task on stage A.
func TestRunResumesARotationStoppedBetweenItsStages(t *testing.T) {
	s, e := newGround(`{"ADMIN_USER":"admin","ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"old"}`)
	e.tasks[0] = task{"d0", "old", ""} // the interrupted rollout never reached this one
	generated := false
	o := opts("another")
	o.NewPassword = func() (string, error) { generated = true; return "another", nil }
	res, err := Run(context.Background(), s, e, target, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || generated || e.updates != 2 {
		t.Fatalf("resumed %v, generated %v, %d rollouts", res.Resumed, generated, e.updates)
	}
	if len(s.puts) != 1 || s.puts[0] != `{"ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"","ADMIN_USER":"admin"}` {
		t.Fatalf("puts %v", s.puts)
	}
}

// A stage A rollout that fails leaves the secret with both passwords (nobody refused)
// and says which stage failed; stage B is not stored.
func TestRunStopsAtAFailedRollout(t *testing.T) {
	s, e := newGround(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":""}`)
	e.fail = true
	_, err := Run(context.Background(), s, e, target, opts("new"))
	if err == nil || !strings.Contains(err.Error(), "stage A") || !strings.Contains(err.Error(), "circuit breaker") {
		t.Fatalf("err = %v", err)
	}
	if len(s.puts) != 1 || !strings.Contains(s.puts[0], `"ADMIN_PASS_PREVIOUS":"old"`) {
		t.Fatalf("puts %v", s.puts)
	}
}

func TestRunRefusesASecretItCannotRead(t *testing.T) {
	for name, v := range map[string]string{
		"not JSON":    `admin:hunter2`,
		"no password": `{"ADMIN_USER":"admin"}`,
	} {
		t.Run(name, func(t *testing.T) {
			s, e := newGround(v)
			_, err := Run(context.Background(), s, e, target, opts("new"))
			if err == nil || !strings.Contains(err.Error(), "fvdeploy up") || strings.Contains(err.Error(), "hunter2") || len(s.puts) != 0 {
				t.Fatalf("err = %v, puts %v", err, s.puts)
			}
		})
	}
}

// Stage B on its own (what the rotation function does when the deployment completes) is
// idempotent: with the previous password already empty it writes nothing.
func TestFinishStageBIsIdempotent(t *testing.T) {
	s := &fakeSecret{value: `{"ADMIN_USER":"admin","ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"old"}`}
	for range 2 {
		if err := FinishStageB(context.Background(), s, "x", func(string, ...any) {}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.puts) != 1 || !strings.Contains(s.puts[0], `"ADMIN_PASS_PREVIOUS":""`) || !strings.Contains(s.puts[0], `"ADMIN_PASS":"new"`) {
		t.Fatalf("puts %v", s.puts)
	}
}
