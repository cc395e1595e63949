package kinds

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type SecretAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	RestoreSecret(ctx context.Context, in *secretsmanager.RestoreSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	SecretPolicyAPI
}

// The words plan shows for a value change: never the value itself.
const SensitiveFrom = "(sensitive)"

func DescribeSecret(ctx context.Context, api SecretAPI, name string, rec *state.Resource) (*secretsmanager.DescribeSecretOutput, error) {
	ids := []string{name}
	if rec != nil && rec.ARN != "" {
		ids = []string{rec.ARN, name}
	}
	for _, id := range ids {
		out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
		if kit.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing secret %s: %w", id, err)
		}
		return out, nil
	}
	return nil, nil
}

// FoundSecret is a described secret as found, with its tags compared to want. A secret
// scheduled for deletion still holds the name but is unusable: to the plan it is absent
// (nil), and Create restores it.
// foundSecret is the secret of key as described, nil when it is scheduled for deletion.
// Found by name alone (rec is nil), it must carry key's ownership tags.
func FoundSecret(in *kit.Inputs, key string, d *secretsmanager.DescribeSecretOutput, rec *state.Resource) (*engine.Found, error) {
	if d.DeletedDate != nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(d.Name), ARN: aws.ToString(d.ARN)}}
	have := kit.TagMap(d.Tags, func(t smtypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := in.Claim(rec, "secret", found.Record.ID, key, have); err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(in.Tags(key), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

// AdoptSecret takes over a secret of the resource's name that exists already: created by
// a run that crashed before saving, or scheduled for deletion (a destroy by other means,
// or by hand), which is restored with its value, as creating the name again fails until
// the recovery window ends. Then it is brought in line like any found one.
func AdoptSecret(ctx context.Context, in *kit.Inputs, api SecretAPI, r engine.Resource, d *secretsmanager.DescribeSecretOutput) (*state.Resource, error) {
	name := aws.ToString(d.Name)
	if d.DeletedDate != nil {
		if _, err := api.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: d.ARN}); err != nil {
			return nil, fmt.Errorf("restoring secret %s, which was scheduled for deletion: %w", name, err)
		}
		in.Progress("restored secret %s, which was scheduled for deletion; it keeps its stored value", name)
	}
	found, err := r.Find(ctx, nil, &state.Resource{ARN: aws.ToString(d.ARN)})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("secret %s disappeared while being adopted", name)
	}
	return r.Update(ctx, nil, found)
}

func DeleteSecretNow(ctx context.Context, api SecretAPI, rec *state.Resource) error {
	id := rec.ARN
	if id == "" {
		id = rec.ID
	}
	_, err := api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(id), ForceDeleteWithoutRecovery: aws.Bool(true)})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting secret %s: %w", id, err)
	}
	return nil
}

// FieldResourcePolicy is the change of a secret whose resource policy differs.
const FieldResourcePolicy = "resource_policy"

// SecretPolicy is the resource policy of a secret fvdeploy creates: only readers (and
// writers) read its value, only writers store new values, and only the managers do
// anything else; the managers may do all of it.
func SecretPolicy(in *kit.Inputs, access SecretAccess) string {
	managers := secretManagers(in)
	readers := sortedUnique(slices.Concat(access.Readers, access.Writers, managers))
	writers := sortedUnique(slices.Concat(access.Writers, managers))
	deny := func(sid string, actions, except []string) kit.Stmt {
		return kit.Stmt{Sid: sid, Effect: "Deny", Principal: "*", Action: actions, Resource: []string{"*"},
			Condition: map[string]map[string]any{"ArnNotLike": {"aws:PrincipalArn": except}}}
	}
	return kit.PolicyDoc(
		deny("DenyReadingButReaders", secretReadActions, readers),
		deny("DenyWritingButWriters", secretWriteActions, writers),
		deny("DenyManagingButManagers", secretManageActions, managers),
	)
}

type SecretPolicyAPI interface {
	GetResourcePolicy(ctx context.Context, in *secretsmanager.GetResourcePolicyInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
	PutResourcePolicy(ctx context.Context, in *secretsmanager.PutResourcePolicyInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error)
}

// SecretPolicyDrift is the change that brings the secret's live resource policy to want;
// nil when it is in line.
func SecretPolicyDrift(ctx context.Context, api SecretPolicyAPI, arn, want string) (*engine.Change, error) {
	out, err := api.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading the resource policy of secret %s: %w", arn, err)
	}
	live := aws.ToString(out.ResourcePolicy)
	if live == "" {
		return &engine.Change{Field: FieldResourcePolicy, From: kit.NoPolicy, To: want}, nil
	}
	d, err := kit.ResourcePolicyDiff(live, want)
	if err != nil || d == nil {
		return nil, err
	}
	d.Field = FieldResourcePolicy
	return d, nil
}

// PutSecretPolicy sets the secret's resource policy, refused by Secrets Manager if it
// would grant access to anyone outside the account.
func PutSecretPolicy(ctx context.Context, api SecretPolicyAPI, arn, policy string) error {
	_, err := api.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{
		SecretId: aws.String(arn), ResourcePolicy: aws.String(policy), BlockPublicPolicy: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("setting the resource policy of secret %s: %w%s", arn, err, DeniedBySecretPolicy(err))
	}
	return nil
}

// WebhookSecretAccess is who uses the chat webhook's secret: the relay function's role.
func WebhookSecretAccess(in *kit.Inputs) SecretAccess {
	return SecretAccess{Readers: []string{RoleARN(in, ChatRelayRoleName(in))}}
}
