// Package rotation rotates the service's admin password without refusing a client that
// uses a valid one. The service accepts ADMIN_PASS and, while it is non-empty,
// ADMIN_PASS_PREVIOUS; tasks read both when they start. A rotation is two stages, each
// stored in the secret and then rolled out to every task:
//
//	A: {ADMIN_PASS: new, ADMIN_PASS_PREVIOUS: old}: old and new tasks both accept old;
//	B: {ADMIN_PASS: new, ADMIN_PASS_PREVIOUS: ""}:  once every task runs it, old is refused.
//
// It knows names and narrow interfaces only, not fvdeploy's phases.
package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// The secret's keys this package reads and writes; every other key is kept as it is.
const (
	KeyUser     = "ADMIN_USER"
	KeyPass     = "ADMIN_PASS"
	KeyPrevious = "ADMIN_PASS_PREVIOUS"
)

// Reader is what reading the credentials needs from Secrets Manager.
type Reader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secrets is what a rotation needs from Secrets Manager.
type Secrets interface {
	Reader
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// Service is what a rotation needs from ECS.
type Service interface {
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// Target names the secret and the service that reads it.
type Target struct {
	Secret           string // name or ARN
	Cluster, Service string
}

// Check says what to run when the target lacks its secret or its service (state records
// none yet); secretName and env name them in the advice.
func (t Target) Check(secretName, env string) error {
	if t.Secret == "" {
		return fmt.Errorf("no secret %s in state: run `fvdeploy up --env %s` first", secretName, env)
	}
	if t.Service == "" {
		return fmt.Errorf("no ECS service in state: run `fvdeploy up --env %s` first", env)
	}
	return nil
}

// Options say how to make a password and how to report and pace the waits.
type Options struct {
	// NewPassword makes the new password.
	NewPassword func() (string, error)
	// Progress tells the person watching what happens (never a value); nil for silence.
	Progress func(format string, args ...any)
	// PollInterval is the first wait between polls of a rollout; it backs off to 15 s.
	// Zero means 2 s.
	PollInterval time.Duration
}

// say reports progress, when anyone is told.
func (o Options) say(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// Result says what a run did.
type Result struct {
	// Resumed says an earlier rotation was found between its stages and was completed
	// instead of a new one begun; its new password, never shown, is as fresh.
	Resumed bool
}

// Run rotates the password: stage A, its rollout, stage B, its rollout. A secret that
// already holds a previous password is a rotation interrupted after stage A (some tasks
// may not run it yet): Run rolls it out again and finishes it with stage B.
func Run(ctx context.Context, sm Secrets, svc Service, t Target, opts Options) (*Result, error) {
	say := opts.say
	v, err := read(ctx, sm, t.Secret)
	if err != nil {
		return nil, err
	}
	res := &Result{Resumed: v.previous() != ""}
	if res.Resumed {
		say("secret %s holds a previous password: an earlier rotation stopped after its first stage; finishing it", t.Secret)
	} else {
		pass, err := opts.NewPassword()
		if err != nil {
			return nil, err
		}
		if pass == "" || pass == v.pass() {
			return nil, errors.New("the new password is empty or the current one")
		}
		v.set(KeyPrevious, v.pass())
		v.set(KeyPass, pass)
		if err := write(ctx, sm, t.Secret, v); err != nil {
			return nil, err
		}
		say("stage A: stored a new password in secret %s; the current one is kept as the previous, which the service accepts too", t.Secret)
	}
	say("rolling service %s so that every task reads the new password (the previous one still answers)", t.Service)
	if err := Roll(ctx, svc, t, opts); err != nil {
		return nil, fmt.Errorf("stage A (both passwords accepted): %w", err)
	}
	if err := FinishStageB(ctx, sm, t.Secret, say); err != nil {
		return nil, err
	}
	say("rolling service %s so that every task drops the previous password", t.Service)
	if err := Roll(ctx, svc, t, opts); err != nil {
		return nil, fmt.Errorf("stage B (the previous password is stored as empty, but tasks still accepting it may run): %w", err)
	}
	return res, nil
}

// FinishStageB clears the previous password in the secret, keeping the current one. It
// does nothing when the previous password is empty already.
func FinishStageB(ctx context.Context, sm Secrets, secret string, say func(string, ...any)) error {
	v, err := read(ctx, sm, secret)
	if err != nil {
		return err
	}
	if v.previous() == "" {
		return nil
	}
	v.set(KeyPrevious, "")
	if err := write(ctx, sm, secret, v); err != nil {
		return err
	}
	say("stage B: cleared the previous password in secret %s", secret)
	return nil
}

// value is the secret's JSON object; every key other than the two is carried as read.
type value map[string]any

func (v value) str(k string) string { s, _ := v[k].(string); return s }
func (v value) pass() string        { return v.str(KeyPass) }
func (v value) previous() string    { return v.str(KeyPrevious) }
func (v value) set(k, s string)     { v[k] = s }

func read(ctx context.Context, sm Secrets, secret string) (value, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	if err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", secret, err)
	}
	return decode(secret, aws.ToString(out.SecretString))
}

// Credentials reads the user and password the service checks, for validate to log in
// with. Callers must never print them.
func Credentials(ctx context.Context, sm Reader, secret string) (user, pass string, err error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
	if err != nil {
		return "", "", fmt.Errorf("reading the admin credentials from secret %s: %w", secret, err)
	}
	// A value that is not a JSON object holds no credentials; the error never quotes it.
	var v value
	_ = json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v)
	if v.str(KeyUser) == "" || v.pass() == "" {
		return "", "", fmt.Errorf("secret %s does not hold {%q, %q}: run `fvdeploy up` to repair it", secret, KeyUser, KeyPass)
	}
	return v.str(KeyUser), v.pass(), nil
}

// decode reads a stored value, which must hold a password.
func decode(secret, s string) (value, error) {
	var v value
	if json.Unmarshal([]byte(s), &v) != nil || v == nil {
		// Never wrap the decoding error: it could quote the value.
		return nil, fmt.Errorf("secret %s does not hold a JSON object: run `fvdeploy up` to repair it", secret)
	}
	if v.pass() == "" {
		return nil, fmt.Errorf("secret %s holds no %s: run `fvdeploy up` to repair it", secret, KeyPass)
	}
	return v, nil
}

func write(ctx context.Context, sm Secrets, secret string, v value) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errors.New("encoding the admin credentials failed") // never wrap: it could quote the value
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secret), SecretString: aws.String(string(b))}); err != nil {
		return fmt.Errorf("storing a new value in secret %s: %w", secret, err)
	}
	return nil
}

// Roll starts a new deployment of the service (its tasks then read the secret again) and
// waits until every task runs it: the deployment's rollout COMPLETED, as many tasks
// running as it wants, and no task of an older deployment still running.
func Roll(ctx context.Context, svc Service, t Target, opts Options) error {
	out, err := svc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(t.Cluster), Service: aws.String(t.Service), ForceNewDeployment: true})
	if err != nil {
		return fmt.Errorf("starting a new deployment of ECS service %s: %w", t.Service, err)
	}
	id := ""
	if out.Service != nil {
		for _, d := range out.Service.Deployments {
			if aws.ToString(d.Status) == "PRIMARY" {
				id = aws.ToString(d.Id)
			}
		}
	}
	say := opts.say
	delay := opts.PollInterval
	if delay == 0 {
		delay = 2 * time.Second
	}
	last := ""
	for {
		done, status, err := rolledOut(ctx, svc, t, id)
		if err != nil {
			return err
		}
		if done {
			say("service %s: %s", t.Service, status)
			return nil
		}
		if status != last {
			say("service %s: %s", t.Service, status)
			last = status
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for ECS service %s to roll out (last seen: %s): %w", t.Service, status, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 15*time.Second)
	}
}

// rolledOut reports whether deployment id ("" for whichever is PRIMARY) runs every task.
func rolledOut(ctx context.Context, svc Service, t Target, id string) (bool, string, error) {
	out, err := svc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.Cluster), Services: []string{t.Service}})
	if err != nil {
		return false, "", fmt.Errorf("describing ECS service %s: %w", t.Service, err)
	}
	if len(out.Services) == 0 {
		return false, "", fmt.Errorf("ECS service %s does not exist", t.Service)
	}
	s := out.Services[0]
	var d *ecstypes.Deployment
	others := int32(0)
	for i := range s.Deployments {
		dep := &s.Deployments[i]
		if (id != "" && aws.ToString(dep.Id) == id) || (id == "" && aws.ToString(dep.Status) == "PRIMARY") {
			d = dep
		} else {
			others += dep.RunningCount
		}
	}
	if d == nil {
		return false, "", fmt.Errorf("deployment %s of ECS service %s was replaced before it completed (rolled back or superseded)", id, t.Service)
	}
	status := fmt.Sprintf("new deployment %d/%d tasks running, %d older tasks running", d.RunningCount, d.DesiredCount, others)
	switch d.RolloutState {
	case ecstypes.DeploymentRolloutStateFailed:
		return false, "", fmt.Errorf("deployment %s of ECS service %s failed and is rolled back by the circuit breaker: %s", aws.ToString(d.Id), t.Service, aws.ToString(d.RolloutStateReason))
	case ecstypes.DeploymentRolloutStateInProgress:
		return false, status + ", rollout in progress", nil
	}
	return d.RunningCount >= d.DesiredCount && others == 0, status, nil
}
