package phases

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The observability phase's fixed keys; each alarm is keyAlarmPrefix + its name.
const (
	keyTopicKey      = "observability/topic-key"
	keyTopic         = "observability/topic"
	keySubscriptions = "observability/subscriptions"
	keyAlarmPrefix   = "observability/alarm-"
	keyTrailBucket   = "observability/trail-bucket"
	keyTrail         = "observability/trail"
	keyALBLogsBucket = "observability/alb-logs-bucket"
	keyALBAccessLogs = "observability/alb-access-logs"
	typeAlarm        = "cloudwatch:alarm"
)

// declareObservability is the observability phase: an encrypted alarm topic with its
// subscribers, the service's alarms sending ALARM and OK to it and, when configured, a
// CloudTrail trail and the ALB's access logs, each into a bucket of its own, and the
// account guardrails (observability_guardrails.go). Log retention is the cluster phase's
// log group's.
func declareObservability(in *Inputs) ([]engine.Resource, error) {
	var out []engine.Resource
	if in.Config.Observability.KMSKeyID == "" {
		out = append(out, &topicKey{in: in, api: in.AWS.KMS()})
	}
	out = append(out, &topic{in: in, api: in.AWS.SNS(), kms: in.AWS.KMS()}, &subscriptions{in: in, api: in.AWS.SNS()})
	cw, listing := in.AWS.CloudWatch(), &alarmListing{}
	for _, spec := range alarmSpecs(in) {
		out = append(out, &alarm{in: in, api: cw, spec: spec, listing: listing})
	}
	if in.Config.Observability.CloudTrail {
		out = append(out, trailBucket(in), &trail{in: in, api: in.AWS.CloudTrail(), kms: in.AWS.KMS()})
	}
	if in.Config.Observability.ALBAccessLogs {
		out = append(out, albLogsBucket(in), &albAccessLogs{in: in, api: in.AWS.ELB()})
	}
	if in.Config.Alarms.ChatRelay {
		out = append(out, chatRelayResources(in)...)
	}
	if in.Config.Observability.Guardrails {
		out = append(out, guardrailResources(in)...)
	}
	return out, nil
}

// observabilityResources is one resource of every type the phase declares under some
// config: destroy deletes with them what an earlier config created (a trail since
// switched off).
func observabilityResources(in *Inputs) []engine.Resource {
	return append([]engine.Resource{
		&topicKey{in: in, api: in.AWS.KMS()},
		&topic{in: in, api: in.AWS.SNS(), kms: in.AWS.KMS()},
		&subscriptions{in: in, api: in.AWS.SNS()},
		&alarm{in: in, api: in.AWS.CloudWatch()},
		trailBucket(in),
		&trail{in: in, api: in.AWS.CloudTrail(), kms: in.AWS.KMS()},
		&albAccessLogs{in: in, api: in.AWS.ELB()},
		// The guardrails (their bucket is an s3:bucket, covered above).
		&accessAnalyzer{in: in, api: in.AWS.AccessAnalyzer()},
		&configRecorder{in: in, api: in.AWS.ConfigService(), iam: in.AWS.IAM()},
		&configChannel{in: in, api: in.AWS.ConfigService()},
		&configRecording{in: in, api: in.AWS.ConfigService()},
	}, chatRelayResources(in)...)
}

func topicName(in *Inputs) string { return in.prefix() + "-alerts" }

func topicARN(in *Inputs) string {
	return fmt.Sprintf("arn:%s:sns:%s:%s:%s", awsPartition(in.Region), in.Region, in.Account, topicName(in))
}

// ---- the topic's KMS key ----

type kmsKeyAPI interface {
	kmsDescribeAPI
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

type kmsDescribeAPI interface {
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// topicKey is a customer managed key for the alarm topic, made when no key is
// configured. The AWS managed alias/aws/sns would not do: its policy cannot be changed to
// let CloudWatch use it, and alarms then fail to publish to the topic without a word.
type topicKey struct {
	in  *Inputs
	api kmsKeyAPI
}

func (r *topicKey) Key() string         { return keyTopicKey }
func (r *topicKey) Type() string        { return "kms:key" }
func (r *topicKey) DependsOn() []string { return nil }

func (r *topicKey) alias() string { return "alias/" + r.in.prefix() + "-alerts" }

// policy lets the account's IAM policies govern the key (KMS refuses a policy that would
// lock the account out) and CloudWatch alarms encrypt what they publish to the topic.
func (r *topicKey) policy() string {
	return policyDoc(
		stmt{Sid: "AccountAdministers", Effect: "Allow", Principal: map[string]string{"AWS": fmt.Sprintf("arn:%s:iam::%s:root", awsPartition(r.in.Region), r.in.Account)},
			Action: []string{"kms:*"}, Resource: []string{"*"}},
		stmt{Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: map[string]string{"Service": "cloudwatch.amazonaws.com"},
			Action: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: []string{"*"}},
	)
}

func (r *topicKey) describe(ctx context.Context, rec *state.Resource) (*kmstypes.KeyMetadata, bool, error) {
	ids := []string{r.alias()}
	if rec != nil && rec.ID != "" {
		ids = []string{rec.ID, r.alias()}
	}
	for i, id := range ids {
		out, err := r.api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if isNotFound(err) {
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

func (r *topicKey) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	k, byAlias, err := r.describe(ctx, rec)
	if err != nil || k == nil {
		return nil, err
	}
	id := aws.ToString(k.KeyId)
	found := &engine.Found{Record: state.Resource{ID: id, ARN: aws.ToString(k.Arn), Attrs: map[string]string{"alias": r.alias()}}}
	tags, err := r.api.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of KMS key %s: %w", id, err)
	}
	have := map[string]string{}
	for _, t := range tags.Tags {
		have[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
	}
	if byAlias && have["fvdeploy:key"] != keyTopicKey {
		return nil, fmt.Errorf("%s points to KMS key %s, which fvdeploy did not create: delete the alias or set observability.kms_key_id to that key", r.alias(), id)
	}
	if from, to, drift := tagDrift(r.in.tags(keyTopicKey), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	if k.KeyState != kmstypes.KeyStateEnabled {
		found.Changes = append(found.Changes, engine.Change{Field: "state", From: string(k.KeyState), To: string(kmstypes.KeyStateEnabled)})
	}
	pol, err := r.api.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
	if err != nil {
		return nil, fmt.Errorf("reading the policy of KMS key %s: %w", id, err)
	}
	if d, err := resourcePolicyDiff(aws.ToString(pol.Policy), r.policy()); err != nil {
		return nil, fmt.Errorf("reading the policy of KMS key %s: %w", id, err)
	} else if d != nil {
		d.Field = "policy"
		found.Changes = append(found.Changes, *d)
	}
	rot, err := r.api.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil {
		return nil, fmt.Errorf("reading the rotation of KMS key %s: %w", id, err)
	}
	if !rot.KeyRotationEnabled {
		found.Changes = append(found.Changes, engine.Change{Field: "rotation", From: "false", To: "true"})
	}
	return found, nil
}

func (r *topicKey) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	out, err := r.api.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("Encrypts the alarm topic " + topicName(r.in) + " (fvdeploy)"),
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
		Policy:      aws.String(r.policy()),
		Tags:        kmsTags(r.in.tags(keyTopicKey)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the KMS key of topic %s: %w", topicName(r.in), err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if _, err := r.api.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id}); err != nil {
		return nil, fmt.Errorf("enabling rotation of KMS key %s: %w", id, err)
	}
	// The alias is how a run that lost its state finds the key again. It may still name
	// a key from a run that crashed, or one scheduled for deletion: point it here.
	_, err = r.api.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(r.alias()), TargetKeyId: &id})
	if errorCode(err) == "AlreadyExistsException" {
		_, err = r.api.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(r.alias()), TargetKeyId: &id})
	}
	if err != nil {
		return nil, fmt.Errorf("pointing %s at KMS key %s: %w", r.alias(), id, err)
	}
	return &state.Resource{ID: id, ARN: aws.ToString(out.KeyMetadata.Arn), Attrs: map[string]string{"alias": r.alias()}}, nil
}

func (r *topicKey) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	id := aws.String(found.Record.ID)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "tags":
			_, err = r.api.TagResource(ctx, &kms.TagResourceInput{KeyId: id, Tags: kmsTags(r.in.tags(keyTopicKey))})
		case "state":
			_, err = r.api.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
		case "policy":
			_, err = r.api.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: id, PolicyName: aws.String("default"), Policy: aws.String(r.policy())})
		case "rotation":
			_, err = r.api.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: id})
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
func (r *topicKey) Delete(ctx context.Context, rec *state.Resource) error {
	alias := rec.Attrs["alias"]
	if alias == "" {
		alias = r.alias()
	}
	if _, err := r.api.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: &alias}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting KMS alias %s: %w", alias, err)
	}
	_, err := r.api.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(rec.ID), PendingWindowInDays: aws.Int32(7)})
	// KMSInvalidStateException: already scheduled for deletion.
	if err != nil && !isNotFound(err) && errorCode(err) != "KMSInvalidStateException" {
		return fmt.Errorf("scheduling the deletion of KMS key %s: %w", rec.ID, err)
	}
	return nil
}

func kmsTags(tags map[string]string) []kmstypes.Tag {
	out := make([]kmstypes.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(tags[k])})
	}
	return out
}

// configuredKeyARN resolves observability.kms_key_id (a key ID, key ARN or alias) to the
// key's ARN, once per run: CloudTrail reports the key it uses by ARN whatever it was
// given, so comparing needs the ARN. "" when no key is configured.
func configuredKeyARN(ctx context.Context, in *Inputs, api kmsDescribeAPI) (string, error) {
	id := in.Config.Observability.KMSKeyID
	if id == "" {
		return "", nil
	}
	return remember(in, "kms-key-arn", func() (string, error) {
		out, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
		if err != nil {
			return "", fmt.Errorf("looking up observability.kms_key_id %s: %w", id, err)
		}
		return aws.ToString(out.KeyMetadata.Arn), nil
	})
}

// ---- the alarm topic ----

type topicAPI interface {
	CreateTopic(ctx context.Context, in *sns.CreateTopicInput, opts ...func(*sns.Options)) (*sns.CreateTopicOutput, error)
	GetTopicAttributes(ctx context.Context, in *sns.GetTopicAttributesInput, opts ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error)
	SetTopicAttributes(ctx context.Context, in *sns.SetTopicAttributesInput, opts ...func(*sns.Options)) (*sns.SetTopicAttributesOutput, error)
	ListTagsForResource(ctx context.Context, in *sns.ListTagsForResourceInput, opts ...func(*sns.Options)) (*sns.ListTagsForResourceOutput, error)
	TagResource(ctx context.Context, in *sns.TagResourceInput, opts ...func(*sns.Options)) (*sns.TagResourceOutput, error)
	DeleteTopic(ctx context.Context, in *sns.DeleteTopicInput, opts ...func(*sns.Options)) (*sns.DeleteTopicOutput, error)
}

// topic is the SNS topic <app>-<env>-alerts that every alarm notifies, encrypted at rest
// with the configured key or the one topicKey makes. A configured key's policy must let
// cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*.
type topic struct {
	in  *Inputs
	api topicAPI
	kms kmsDescribeAPI
}

func (r *topic) Key() string  { return keyTopic }
func (r *topic) Type() string { return "sns:topic" }
func (r *topic) DependsOn() []string {
	if r.in.Config.Observability.KMSKeyID == "" {
		return []string{keyTopicKey}
	}
	return nil
}

// keyARN is the ARN of the key the topic should use; ok is false while it does not exist.
func (r *topic) keyARN(ctx context.Context, deps engine.Deps) (arn string, ok bool, err error) {
	if r.in.Config.Observability.KMSKeyID != "" {
		arn, err := configuredKeyARN(ctx, r.in, r.kms)
		return arn, err == nil, err
	}
	k := deps.Get(keyTopicKey)
	if k == nil {
		return "", false, nil
	}
	return k.ARN, true, nil
}

func (r *topic) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	key, ok, err := r.keyARN(ctx, deps)
	if err != nil || !ok {
		return nil, err
	}
	arn := topicARN(r.in)
	if rec != nil && rec.ARN != "" {
		arn = rec.ARN
	}
	out, err := r.api.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading SNS topic %s: %w", arn, err)
	}
	found := &engine.Found{Record: state.Resource{ID: topicName(r.in), ARN: arn}}
	if got := out.Attributes["KmsMasterKeyId"]; got != key {
		found.Changes = append(found.Changes, engine.Change{Field: "kms_key", From: got, To: key})
	}
	tags, err := r.api.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of SNS topic %s: %w", arn, err)
	}
	have := map[string]string{}
	for _, t := range tags.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if rec == nil && have["fvdeploy:key"] != keyTopic {
		return nil, fmt.Errorf("SNS topic %s exists but fvdeploy did not create it: delete or rename it", arn)
	}
	if from, to, drift := tagDrift(r.in.tags(keyTopic), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *topic) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	key, _, err := r.keyARN(ctx, deps)
	if err != nil {
		return nil, err
	}
	// CreateTopic returns the existing topic when one of this name has the same
	// attributes: a run that crashed before saving is harmless.
	out, err := r.api.CreateTopic(ctx, &sns.CreateTopicInput{
		Name:       aws.String(topicName(r.in)),
		Attributes: map[string]string{"KmsMasterKeyId": key},
		Tags:       snsTags(r.in.tags(keyTopic)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating SNS topic %s: %w", topicName(r.in), err)
	}
	return &state.Resource{ID: topicName(r.in), ARN: aws.ToString(out.TopicArn)}, nil
}

func (r *topic) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "kms_key":
			_, err = r.api.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: arn, AttributeName: aws.String("KmsMasterKeyId"), AttributeValue: aws.String(c.To)})
		case "tags":
			_, err = r.api.TagResource(ctx, &sns.TagResourceInput{ResourceArn: arn, Tags: snsTags(r.in.tags(keyTopic))})
		}
		if err != nil {
			return nil, fmt.Errorf("updating %s of SNS topic %s: %w", c.Field, found.Record.ARN, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the topic, and with it whatever subscriptions are left.
func (r *topic) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(rec.ARN)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting SNS topic %s: %w", rec.ARN, err)
	}
	return nil
}

func snsTags(tags map[string]string) []snstypes.Tag {
	out := make([]snstypes.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, snstypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}
