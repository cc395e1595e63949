package secrets

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// secretRef is an existing secret that service.secrets names. It is someone else's: found,
// never created, changed or deleted. Its record holds the full ARN, which the task
// definition's valueFrom with a JSON key and the execution role's policy need.
type secretRef struct {
	in  *kit.Inputs
	api kinds.SecretAPI
	id  string // name or ARN, as configured
}

func (r *secretRef) Key() string         { return kit.KeySecretRef(r.id) }
func (r *secretRef) Type() string        { return "secretsmanager:secret-ref" }
func (r *secretRef) DependsOn() []string { return nil }

func (r *secretRef) Find(ctx context.Context, _ engine.Deps, _ *state.Resource) (*engine.Found, error) {
	// Always by the configured id: a secret deleted and made again has a new ARN.
	out, err := r.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.id)})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing secret %s (service.secrets): %w", r.id, err)
	}
	if out.DeletedDate != nil {
		return nil, nil
	}
	return &engine.Found{Record: state.Resource{ID: aws.ToString(out.Name), ARN: aws.ToString(out.ARN)}}, nil
}

// Create only finds the secret again: fvdeploy does not make the secrets it is told exist.
func (r *secretRef) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	found, err := r.Find(ctx, deps, nil)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("secret %s, which service.secrets names, does not exist (or is scheduled for deletion) in %s: create it first", r.id, r.in.Region)
	}
	return &found.Record, nil
}

func (r *secretRef) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

// Delete leaves the secret: it is not fvdeploy's.
func (r *secretRef) Delete(context.Context, *state.Resource) error { return nil }
