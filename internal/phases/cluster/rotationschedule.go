package cluster

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type rotationAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
}

// rotationSchedule is the admin secret's rotation configuration (the function, every
// secrets.rotation_days days) with the function's permission for Secrets Manager. Its
// record's ID is the secret's ARN.
type rotationSchedule struct {
	in     *kit.Inputs
	api    rotationAPI
	lambda kinds.LambdaPermissionAPI
}

func (r *rotationSchedule) Key() string  { return KeyRotationSchedule }
func (r *rotationSchedule) Type() string { return "secretsmanager:rotation" }

// It depends on the rule too: stage A must never start without what ends it.
func (r *rotationSchedule) DependsOn() []string {
	return []string{kit.KeySecretAdmin, KeyRotationFunction, KeyRotationRule}
}

func rotationText(enabled bool, days int64, function string) string {
	if !enabled {
		return "off"
	}
	return fmt.Sprintf("every %d days by %s", days, function)
}

func (r *rotationSchedule) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	secret, fn := deps.Get(kit.KeySecretAdmin), deps.Get(KeyRotationFunction)
	if secret == nil || fn == nil || secret.ARN == "" {
		return nil, nil
	}
	d, err := r.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret.ARN)})
	if err != nil {
		return nil, fmt.Errorf("describing secret %s: %w", secret.ARN, err)
	}
	var days int64
	if d.RotationRules != nil {
		days = aws.ToInt64(d.RotationRules.AutomaticallyAfterDays)
	}
	enabled := aws.ToBool(d.RotationEnabled)
	p := kinds.InvokePermission{Sid: rotationSecretsSid, Principal: "secretsmanager.amazonaws.com", SourceARN: secret.ARN}
	permitted, err := p.Permitted(ctx, r.lambda, fn.ARN, r.in.Account)
	if err != nil {
		return nil, err
	}
	if !enabled && !permitted && rec == nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: secret.ARN, Attrs: map[string]string{"function": fn.ARN}}}
	live := rotationText(enabled, days, aws.ToString(d.RotationLambdaARN))
	if want := rotationText(true, int64(r.in.Config.Secrets.RotationDays), fn.ARN); live != want {
		found.Changes = append(found.Changes, engine.Change{Field: "rotation", From: live, To: want})
	}
	if !permitted {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "secretsmanager.amazonaws.com for " + secret.ARN})
	}
	return found, nil
}

func (r *rotationSchedule) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	return r.Update(ctx, deps, &engine.Found{Changes: []engine.Change{{Field: "permission"}, {Field: "rotation"}}})
}

func (r *rotationSchedule) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	secret, fn := deps.Get(kit.KeySecretAdmin), deps.Get(KeyRotationFunction)
	if secret == nil || fn == nil {
		return nil, fmt.Errorf("turning rotation on: the admin secret or the rotation function does not exist")
	}
	// The permission first: turning rotation on has Secrets Manager call the function.
	for _, c := range found.Changes {
		if c.Field == "permission" {
			p := kinds.InvokePermission{Sid: rotationSecretsSid, Principal: "secretsmanager.amazonaws.com", SourceARN: secret.ARN}
			if err := p.Put(ctx, r.lambda, fn.ARN, r.in.Account); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range found.Changes {
		if c.Field != "rotation" {
			continue
		}
		// Not immediately: up turns rotation on, and the first rotation comes on schedule
		// (Secrets Manager runs the function's testSecret step to check the setup).
		if _, err := r.api.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(secret.ARN), RotationLambdaARN: aws.String(fn.ARN),
			RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(r.in.Config.Secrets.RotationDays))},
			RotateImmediately: aws.Bool(false),
		}); err != nil {
			return nil, fmt.Errorf("turning rotation on for secret %s (every %d days by %s): %w%s", secret.ARN, r.in.Config.Secrets.RotationDays, fn.ID, err, kinds.DeniedBySecretPolicy(err))
		}
	}
	return &state.Resource{ID: secret.ARN, Attrs: map[string]string{"function": fn.ARN}}, nil
}

func (r *rotationSchedule) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(rec.ID)}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("turning rotation off for secret %s: %w%s", rec.ID, err, kinds.DeniedBySecretPolicy(err))
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return kinds.RemovePermission(ctx, r.lambda, fn, rotationSecretsSid)
	}
	return nil
}
