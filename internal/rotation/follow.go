package rotation

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Managed is what following a rotation that Secrets Manager runs needs from it.
type Managed interface {
	Secrets
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

// RotatedBy names the secret's rotation function when Secrets Manager rotates it; "" when
// it does not (rotation off, or no function).
func RotatedBy(ctx context.Context, sm Managed, secret string) (string, error) {
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return "", fmt.Errorf("describing secret %s: %w", secret, err)
	}
	if !aws.ToBool(d.RotationEnabled) {
		return "", nil
	}
	return aws.ToString(d.RotationLambdaARN), nil
}

// Follow has Secrets Manager rotate the secret now with its rotation function, and waits
// until the function has done both stages, each stored and rolled out: the same
// rotation as Run's, carried out by the function (stage A by the rotation protocol,
// stage B when the service's deployment completes). A secret that holds a previous
// password is a rotation between its stages: Follow waits for it to end instead.
func Follow(ctx context.Context, sm Managed, svc Service, t Target, opts Options) (*Result, error) {
	say := opts.say
	v, err := read(ctx, sm, t.Secret)
	if err != nil {
		return nil, err
	}
	res := &Result{Resumed: v.previous() != ""}
	if res.Resumed {
		say("secret %s holds a previous password: a rotation is between its stages; waiting for it to end", t.Secret)
	} else {
		out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(t.Secret), RotateImmediately: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("asking Secrets Manager to rotate secret %s now: %w", t.Secret, err)
		}
		token := aws.ToString(out.VersionId)
		say("Secrets Manager rotates secret %s with its rotation function (version %s)", t.Secret, token)
		err = poll(ctx, opts, "the rotation function to store stage A (the new password, the current one kept as the previous)", func(ctx context.Context) (bool, string, error) {
			d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(t.Secret)})
			if err != nil {
				return false, "", fmt.Errorf("describing secret %s: %w", t.Secret, err)
			}
			stages := d.VersionIdsToStages[token]
			return slices.Contains(stages, "AWSCURRENT"), fmt.Sprintf("version %s is %v", token, stages), nil
		})
		if err != nil {
			return nil, err
		}
		say("stage A: the function stored a new password in secret %s, the current one kept as the previous, and rolls service %s", t.Secret, t.Service)
	}
	var storedB time.Time
	err = poll(ctx, opts, "stage A to roll out to every task and the function to store stage B (the previous password cleared)", func(ctx context.Context) (bool, string, error) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.Secret), VersionStage: aws.String("AWSCURRENT")})
		if err != nil {
			return false, "", fmt.Errorf("reading secret %s: %w", t.Secret, err)
		}
		cur, err := decode(t.Secret, aws.ToString(out.SecretString))
		if err != nil {
			return false, "", err
		}
		if cur.previous() == "" {
			storedB = aws.ToTime(out.CreatedDate)
			return true, "", nil
		}
		_, status, err := rolledOut(ctx, svc, t, "")
		return false, "service " + t.Service + ": " + status, err
	})
	if err != nil {
		return nil, err
	}
	say("stage B: the function cleared the previous password in secret %s and rolls service %s", t.Secret, t.Service)
	if err := awaitRollout(ctx, svc, t, storedB, opts); err != nil {
		return nil, fmt.Errorf("stage B (the previous password is stored as empty, but tasks still accepting it may run): %w", err)
	}
	return res, nil
}

// awaitRollout waits, without starting one, for a deployment of the service begun at or
// after since to run every task.
func awaitRollout(ctx context.Context, svc Service, t Target, since time.Time, opts Options) error {
	say := opts.say
	return poll(ctx, opts, "service "+t.Service+" to roll out the stored value to every task", func(ctx context.Context) (bool, string, error) {
		out, err := svc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.Cluster), Services: []string{t.Service}})
		if err != nil {
			return false, "", fmt.Errorf("describing ECS service %s: %w", t.Service, err)
		}
		if len(out.Services) == 0 {
			return false, "", fmt.Errorf("ECS service %s does not exist", t.Service)
		}
		for _, d := range out.Services[0].Deployments {
			if aws.ToString(d.Status) != "PRIMARY" {
				continue
			}
			// Secrets Manager's dates have whole seconds: a deployment begun within the
			// second the value was stored counts.
			if aws.ToTime(d.CreatedAt).Before(since.Truncate(time.Second)) {
				return false, "no deployment begun since the value was stored yet", nil
			}
			done, status, err := rolledOut(ctx, svc, t, aws.ToString(d.Id))
			if done {
				say("service %s: %s", t.Service, status)
			}
			return done, "new deployment: " + status, err
		}
		return false, "no primary deployment", nil
	})
}

// poll calls check until it is done, backing off from the poll interval to 15 s and
// telling each new status once.
func poll(ctx context.Context, opts Options, what string, check func(context.Context) (bool, string, error)) error {
	say := opts.say
	delay := opts.PollInterval
	if delay == 0 {
		delay = 2 * time.Second
	}
	last := ""
	for {
		done, status, err := check(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if status != last {
			say("waiting for %s: %s", what, status)
			last = status
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (last seen: %s): %w", what, status, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 15*time.Second)
	}
}
