package rotation

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// managedSecret plays Secrets Manager with the rotation function (internal/secretrotation)
// behind it, as the emulators cannot (neither runs the function's code): RotateSecret
// stores stage A as AWSCURRENT and rolls the service; when a deployment completes, as
// EventBridge would report, stage B is stored and the service rolled again.
type managedSecret struct {
	*fakeSecret
	ecs       *fakeECS
	token     string
	created   time.Time
	completed map[string]bool
	rotations int
}

func (m *managedSecret) DescribeSecret(_ context.Context, _ *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	stages := map[string][]string{}
	if m.token != "" {
		stages[m.token] = []string{"AWSCURRENT", "AWSPENDING"}
	}
	return &secretsmanager.DescribeSecretOutput{RotationEnabled: aws.Bool(true), RotationLambdaARN: aws.String("arn:fn"), VersionIdsToStages: stages}, nil
}

func (m *managedSecret) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := m.fakeSecret.GetSecretValue(ctx, in, o...)
	if err == nil {
		out.CreatedDate = aws.Time(m.created)
	}
	return out, err
}

func (m *managedSecret) store(v map[string]any) {
	b, _ := json.Marshal(v)
	m.value, m.created = string(b), time.Now()
	m.puts = append(m.puts, m.value)
}

func (m *managedSecret) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	if !aws.ToBool(in.RotateImmediately) {
		panic("want an immediate rotation")
	}
	m.rotations++
	var v map[string]any
	_ = json.Unmarshal([]byte(m.value), &v)
	v[KeyPrevious], v[KeyPass] = v[KeyPass], "new"
	m.token = "v-a"
	m.store(v)
	_, err := m.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{ForceNewDeployment: true})
	return &secretsmanager.RotateSecretOutput{VersionId: aws.String(m.token)}, err
}

// deploymentsChanged is EventBridge: each deployment's completion once.
func (m *managedSecret) deploymentsChanged() {
	for _, d := range m.ecs.deps {
		id := aws.ToString(d.Id)
		if d.RolloutState != ecstypes.DeploymentRolloutStateCompleted || m.completed[id] {
			continue
		}
		m.completed[id] = true
		var v map[string]any
		_ = json.Unmarshal([]byte(m.value), &v)
		if v[KeyPrevious] == "" {
			continue
		}
		v[KeyPrevious] = ""
		m.store(v)
		_, _ = m.ecs.UpdateService(context.Background(), &ecs.UpdateServiceInput{ForceNewDeployment: true})
	}
}

func newManaged(value string) (*managedSecret, *fakeECS) {
	s, e := newGround(value)
	m := &managedSecret{fakeSecret: s, ecs: e, completed: map[string]bool{"d0": true}}
	return m, e
}

// Followed to its end, the function's rotation refuses the old password to no task
// before stage B is stored, and afterwards every task accepts only the new one; Follow
// itself writes nothing and starts no deployment.
func TestFollowWaitsForBothStagesRolledOut(t *testing.T) {
	m, e := newManaged(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":""}`)
	refusedEarly, steps := 0, 0
	e.observe = func(tasks []task) {
		steps++
		for _, tk := range tasks {
			if len(m.puts) < 2 && !tk.accepts("old") {
				refusedEarly++
			}
		}
		m.deploymentsChanged()
	}
	var said []string
	o := opts("unused")
	o.Progress = func(f string, a ...any) { said = append(said, f) }
	res, err := Follow(context.Background(), m, e, target, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || m.rotations != 1 || e.updates != 2 || len(m.puts) != 2 {
		t.Fatalf("resumed %v, %d rotations, %d rollouts, %d stores; want 1, 2 and 2", res.Resumed, m.rotations, e.updates, len(m.puts))
	}
	if refusedEarly != 0 || steps < 8 {
		t.Errorf("a task refused the old password %d times before stage B (%d steps)", refusedEarly, steps)
	}
	for _, tk := range e.tasks {
		if tk.accepts("old") || !tk.accepts("new") {
			t.Errorf("at the end a task accepts old %v, new %v", tk.accepts("old"), tk.accepts("new"))
		}
	}
	if len(e.tasks) != 2 || e.deps[len(e.deps)-1].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		t.Errorf("Follow returned before stage B's deployment completed: %d tasks, %+v", len(e.tasks), e.deps)
	}
	if !strings.Contains(strings.Join(said, "\n"), "stage B") {
		t.Errorf("progress never told of stage B: %v", said)
	}
}

// A rotation between its stages is waited for, not begun again.
func TestFollowResumesWithoutRotatingAgain(t *testing.T) {
	m, e := newManaged(`{"ADMIN_USER":"admin","ADMIN_PASS":"new","ADMIN_PASS_PREVIOUS":"old"}`)
	// Stage A's deployment is under way.
	if _, err := e.UpdateService(context.Background(), &ecs.UpdateServiceInput{ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	e.observe = func([]task) { m.deploymentsChanged() }
	res, err := Follow(context.Background(), m, e, target, opts("unused"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || m.rotations != 0 || len(m.puts) != 1 || !strings.Contains(m.puts[0], `"ADMIN_PASS_PREVIOUS":""`) {
		t.Fatalf("resumed %v, %d rotations, stores %v", res.Resumed, m.rotations, m.puts)
	}
}

// A function that never stores stage B leaves Follow waiting until the deadline, which
// it names.
func TestFollowTimesOutNamingTheStage(t *testing.T) {
	m, e := newManaged(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":""}`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Follow(ctx, m, e, target, opts("unused"))
	if err == nil || !strings.Contains(err.Error(), "store stage B") {
		t.Fatalf("err = %v; want a timeout waiting for stage B", err)
	}
}
