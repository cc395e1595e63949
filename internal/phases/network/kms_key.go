package network

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// keyEnvKey is the environment's KMS key (secrets phase). keyTopicKey is the name the
// observability code knew it by when it was only the alarm topic's: the same key.
const ()

type kmsKeyAPI interface {
	kit.KMSDescribeAPI
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, opts ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	EnableKey(ctx context.Context, in *kms.EnableKeyInput, opts ...func(*kms.Options)) (*kms.EnableKeyOutput, error)
	GetKeyPolicy(ctx context.Context, in *kms.GetKeyPolicyInput, opts ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
	PutKeyPolicy(ctx context.Context, in *kms.PutKeyPolicyInput, opts ...func(*kms.Options)) (*kms.PutKeyPolicyOutput, error)
	GetKeyRotationStatus(ctx context.Context, in *kms.GetKeyRotationStatusInput, opts ...func(*kms.Options)) (*kms.GetKeyRotationStatusOutput, error)
	EnableKeyRotation(ctx context.Context, in *kms.EnableKeyRotationInput, opts ...func(*kms.Options)) (*kms.EnableKeyRotationOutput, error)
	ListResourceTags(ctx context.Context, in *kms.ListResourceTagsInput, opts ...func(*kms.Options)) (*kms.ListResourceTagsOutput, error)
	TagResource(ctx context.Context, in *kms.TagResourceInput, opts ...func(*kms.Options)) (*kms.TagResourceOutput, error)
	CreateAlias(ctx context.Context, in *kms.CreateAliasInput, opts ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	UpdateAlias(ctx context.Context, in *kms.UpdateAliasInput, opts ...func(*kms.Options)) (*kms.UpdateAliasOutput, error)
	DeleteAlias(ctx context.Context, in *kms.DeleteAliasInput, opts ...func(*kms.Options)) (*kms.DeleteAliasOutput, error)
	ScheduleKeyDeletion(ctx context.Context, in *kms.ScheduleKeyDeletionInput, opts ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
}

// EnvKey is the environment's customer managed key, made when observability.kms_key_id
// is not set: it encrypts the alarm topic, the log groups and the CloudTrail trail. The
// AWS managed alias/aws/sns would not do for the topic: its policy cannot be changed to
// let CloudWatch use it, and alarms then fail to publish to the topic without a word.
//
// It belongs to the secrets phase, the first after the network: the cluster phase's log
// group is created encrypted with it, and the observability phase (where it lived as
// observability/topic-key until the log groups used it) runs after the cluster. A
// deployment that still has that key converges with `up`: the topic moves to this one,
// and the old key, no longer declared, is scheduled for deletion.
type EnvKey struct {
	In  *kit.Inputs
	API kmsKeyAPI
}

func (r *EnvKey) Key() string         { return kit.KeyEnvKey }
func (r *EnvKey) Type() string        { return "kms:key" }
func (r *EnvKey) DependsOn() []string { return nil }

func (r *EnvKey) alias() string { return "alias/fvdeploy/" + r.In.Prefix() }

func (r *EnvKey) policy() string { return EnvKeyPolicy(r.In) }

// EnvKeyPolicy lets the account's IAM policies govern the key (KMS refuses a policy that
// would lock the account out) and each AWS service use it only for this environment's
// objects: CloudWatch for its alarms publishing to the topic, CloudWatch Logs for its log
// groups (by the encryption context Logs sends), CloudTrail for its trail when one is on.
func EnvKeyPolicy(in *kit.Inputs) string {
	part := kit.AWSPartition(in.Region)
	stmts := []kit.Stmt{
		{Sid: "AccountAdministers", Effect: "Allow", Principal: map[string]string{"AWS": fmt.Sprintf("arn:%s:iam::%s:root", part, in.Account)},
			Action: []string{"kms:*"}, Resource: []string{"*"}},
		{Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: map[string]string{"Service": "cloudwatch.amazonaws.com"},
			Action: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{
				"StringEquals": {"aws:SourceAccount": in.Account},
				"ArnLike":      {"aws:SourceArn": fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s-*", part, in.Region, in.Account, in.Prefix())},
			}},
		{Sid: "CloudWatchLogsEncrypt", Effect: "Allow", Principal: map[string]string{"Service": logsServicePrincipal(in.Region)},
			Action:   []string{"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"},
			Resource: []string{"*"},
			Condition: map[string]map[string]any{
				"ArnLike": {"kms:EncryptionContext:aws:logs:arn": envLogGroupARNs(in)},
			}},
	}
	if in.Config.Observability.CloudTrail {
		// AWS's documented statements for a trail's key, narrowed to this trail.
		stmts = append(stmts,
			kit.Stmt{Sid: "CloudTrailEncrypt", Effect: "Allow", Principal: map[string]string{"Service": "cloudtrail.amazonaws.com"},
				Action: []string{"kms:GenerateDataKey*"}, Resource: []string{"*"},
				Condition: map[string]map[string]any{
					"StringEquals": {"aws:SourceArn": kit.TrailARN(in)},
					"StringLike":   {"kms:EncryptionContext:aws:cloudtrail:arn": fmt.Sprintf("arn:%s:cloudtrail:*:%s:trail/%s", part, in.Account, kit.TrailName(in))},
				}},
			kit.Stmt{Sid: "CloudTrailDescribeKey", Effect: "Allow", Principal: map[string]string{"Service": "cloudtrail.amazonaws.com"},
				Action: []string{"kms:DescribeKey"}, Resource: []string{"*"},
				Condition: map[string]map[string]any{"StringEquals": {"aws:SourceArn": kit.TrailARN(in)}}},
		)
	}
	return kit.PolicyDoc(stmts...)
}

// logsServicePrincipal is CloudWatch Logs' regional service principal.
func logsServicePrincipal(region string) string {
	if kit.AWSPartition(region) == "aws-cn" {
		return "logs." + region + ".amazonaws.com.cn"
	}
	return "logs." + region + ".amazonaws.com"
}

// envLogGroupARNs are the log groups of this environment the key may encrypt (as Logs
// names them in the encryption context: without ":*"). A new log group that is to use
// the key adds its ARN here.
func envLogGroupARNs(in *kit.Inputs) []string {
	return []string{kit.LogGroupARN(in, kit.LogGroupName(in)), kit.LogGroupARN(in, kit.ChatRelayLogGroupName(in)), kit.LogGroupARN(in, FlowLogGroupName(in)), kit.LogGroupARN(in, kit.RotationLogGroupName(in))}
}

func (r *EnvKey) describe(ctx context.Context, rec *state.Resource) (*kmstypes.KeyMetadata, bool, error) {
	ids := []string{r.alias()}
	if rec != nil && rec.ID != "" {
		ids = []string{rec.ID, r.alias()}
	}
	for i, id := range ids {
		out, err := r.API.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if kit.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("describing KMS key %s: %w", id, err)
		}
		// A key scheduled for deletion is on its way out: a new one takes its place.
		if out.KeyMetadata.KeyState == kmstypes.KeyStatePendingDeletion {
			continue
		}
		return out.KeyMetadata, i == len(ids)-1, nil
	}
	return nil, false, nil
}

func (r *EnvKey) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	k, byAlias, err := r.describe(ctx, rec)
	if err != nil || k == nil {
		return nil, err
	}
	id := aws.ToString(k.KeyId)
	found := &engine.Found{Record: state.Resource{ID: id, ARN: aws.ToString(k.Arn), Attrs: map[string]string{"alias": r.alias()}}}
	tags, err := r.API.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of KMS key %s: %w", id, err)
	}
	have := kit.TagMap(tags.Tags, func(t kmstypes.Tag) (*string, *string) { return t.TagKey, t.TagValue })
	if byAlias && !r.In.Owns(kit.KeyEnvKey, have) {
		return nil, fmt.Errorf("%s points to KMS key %s, which fvdeploy did not create: delete the alias or set observability.kms_key_id to that key", r.alias(), id)
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(kit.KeyEnvKey), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	if k.KeyState != kmstypes.KeyStateEnabled {
		found.Changes = append(found.Changes, engine.Change{Field: "state", From: string(k.KeyState), To: string(kmstypes.KeyStateEnabled)})
	}
	pol, err := r.API.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
	if err != nil {
		return nil, fmt.Errorf("reading the policy of KMS key %s: %w", id, err)
	}
	if d, err := kit.ResourcePolicyDiff(aws.ToString(pol.Policy), r.policy()); err != nil {
		return nil, fmt.Errorf("reading the policy of KMS key %s: %w", id, err)
	} else if d != nil {
		d.Field = "policy"
		found.Changes = append(found.Changes, *d)
	}
	rot, err := r.API.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil {
		return nil, fmt.Errorf("reading the rotation of KMS key %s: %w", id, err)
	}
	if !rot.KeyRotationEnabled {
		found.Changes = append(found.Changes, engine.Change{Field: "rotation", From: "false", To: "true"})
	}
	return found, nil
}

func (r *EnvKey) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	out, err := r.API.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("Encrypts the alarm topic, log groups and trail of " + r.In.Prefix() + " (fvdeploy)"),
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
		Policy:      aws.String(r.policy()),
		Tags:        KMSTags(r.In.Tags(kit.KeyEnvKey)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the KMS key of %s: %w", r.In.Prefix(), err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if _, err := r.API.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id}); err != nil {
		return nil, fmt.Errorf("enabling rotation of KMS key %s: %w", id, err)
	}
	// The alias is how a run that lost its state finds the key again. It may still name
	// a key from a run that crashed, or one scheduled for deletion: point it here.
	_, err = r.API.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(r.alias()), TargetKeyId: &id})
	if kit.ErrorCode(err) == "AlreadyExistsException" {
		_, err = r.API.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(r.alias()), TargetKeyId: &id})
	}
	if err != nil {
		return nil, fmt.Errorf("pointing %s at KMS key %s: %w", r.alias(), id, err)
	}
	return &state.Resource{ID: id, ARN: aws.ToString(out.KeyMetadata.Arn), Attrs: map[string]string{"alias": r.alias()}}, nil
}

func (r *EnvKey) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	id := aws.String(found.Record.ID)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "tags":
			_, err = r.API.TagResource(ctx, &kms.TagResourceInput{KeyId: id, Tags: KMSTags(r.In.Tags(kit.KeyEnvKey))})
		case "state":
			_, err = r.API.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
		case "policy":
			_, err = r.API.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: id, PolicyName: aws.String("default"), Policy: aws.String(r.policy())})
		case "rotation":
			_, err = r.API.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id})
		}
		if err != nil {
			return nil, fmt.Errorf("updating %s of KMS key %s: %w", c.Field, found.Record.ID, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete removes the alias and schedules the key's deletion after KMS's shortest
// waiting period (7 days), during which `aws kms cancel-key-deletion` brings it back.
func (r *EnvKey) Delete(ctx context.Context, rec *state.Resource) error {
	alias := rec.Attrs["alias"]
	if alias == "" {
		alias = r.alias()
	}
	if _, err := r.API.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: &alias}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting KMS alias %s: %w", alias, err)
	}
	_, err := r.API.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(rec.ID), PendingWindowInDays: aws.Int32(7)})
	// KMSInvalidStateException: already scheduled for deletion.
	if err != nil && !kit.IsNotFound(err) && kit.ErrorCode(err) != "KMSInvalidStateException" {
		return fmt.Errorf("scheduling the deletion of KMS key %s: %w", rec.ID, err)
	}
	return nil
}

func KMSTags(tags map[string]string) []kmstypes.Tag {
	return kit.TagList(tags, func(k, v *string) kmstypes.Tag { return kmstypes.Tag{TagKey: k, TagValue: v} })
}
