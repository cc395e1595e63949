// Package observability declares the observability phase: alarms to an encrypted SNS
// topic and its subscribers, the optional chat relay, CloudTrail, ALB access logs and
// the account guardrails (Access Analyzer, AWS Config).
package observability

import (
	"cmp"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The observability phase's fixed keys; each alarm is keyAlarmPrefix + its name.
const (
	KeyTopic         = "observability/topic"
	KeySubscriptions = "observability/subscriptions"
	keyAlarmPrefix   = "observability/alarm-"
	KeyTrailBucket   = "observability/trail-bucket"
	KeyTrail         = "observability/trail"
	KeyALBLogsBucket = "observability/alb-logs-bucket"
	keyALBAccessLogs = "observability/alb-access-logs"
	TypeAlarm        = "cloudwatch:alarm"
)

// Phase says what the observability phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "observability", Summary: "alarms to an encrypted SNS topic and its subscribers; optional chat relay, CloudTrail, ALB access logs, account guardrails", Resources: declareObservability, EveryKind: observabilityResources}
}

// declareObservability is the observability phase: an encrypted alarm topic with its
// subscribers, the service's alarms sending ALARM and OK to it and, when configured, a
// CloudTrail trail and the ALB's access logs, each into a bucket of its own, and the
// account guardrails (guardrails.go). Log retention is the cluster phase's
// log group's.
func declareObservability(in *kit.Inputs) ([]engine.Resource, error) {
	var out []engine.Resource
	out = append(out, &Topic{In: in, API: in.AWS.SNS(), KMS: in.AWS.KMS()}, &SubscriptionSet{In: in, API: in.AWS.SNS()})
	cw, listing := in.AWS.CloudWatch(), &alarmListing{}
	for _, spec := range AlarmSpecs(in) {
		out = append(out, &alarm{in: in, api: cw, spec: spec, listing: listing})
	}
	if in.Config.Observability.CloudTrail {
		out = append(out, TrailBucket(in), &Trail{In: in, API: in.AWS.CloudTrail(), KMS: in.AWS.KMS()})
	}
	if in.Config.Observability.ALBAccessLogs {
		out = append(out, albLogsBucket(in), &albAccessLogs{in: in, api: in.AWS.ELB()})
	}
	if in.Config.Alarms.ChatRelay {
		out = append(out, ChatRelayResources(in)...)
	}
	if in.Config.Observability.Guardrails {
		out = append(out, GuardrailResources(in)...)
	}
	return out, nil
}

// observabilityResources is one resource of every type the phase declares under some
// config: destroy deletes with them what an earlier config created (a trail since
// switched off).
func observabilityResources(in *kit.Inputs) []engine.Resource {
	return append([]engine.Resource{
		&Topic{In: in, API: in.AWS.SNS(), KMS: in.AWS.KMS()},
		&SubscriptionSet{In: in, API: in.AWS.SNS()},
		&alarm{in: in, api: in.AWS.CloudWatch()},
		TrailBucket(in),
		&Trail{In: in, API: in.AWS.CloudTrail(), KMS: in.AWS.KMS()},
		&albAccessLogs{in: in, api: in.AWS.ELB()},
		// The guardrails (their bucket is an s3:bucket, covered above).
		&accessAnalyzer{in: in, api: in.AWS.AccessAnalyzer()},
		&configRecorder{in: in, api: in.AWS.ConfigService(), iam: in.AWS.IAM()},
		&configChannel{in: in, api: in.AWS.ConfigService()},
		&configRecording{in: in, api: in.AWS.ConfigService()},
	}, ChatRelayResources(in)...)
}

func topicName(in *kit.Inputs) string { return in.Prefix() + "-alerts" }

func topicARN(in *kit.Inputs) string {
	return fmt.Sprintf("arn:%s:sns:%s:%s:%s", kit.AWSPartition(in.Region), in.Region, in.Account, topicName(in))
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

// Topic is the SNS topic <app>-<env>-alerts that every alarm notifies, encrypted at rest
// with the configured key or the one topicKey makes. A configured key's policy must let
// cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*.
type Topic struct {
	In  *kit.Inputs
	API topicAPI
	KMS kit.KMSDescribeAPI
}

func (r *Topic) Key() string         { return KeyTopic }
func (r *Topic) Type() string        { return "sns:topic" }
func (r *Topic) DependsOn() []string { return kit.EnvKeyDeps(r.In) }

// keyARN is the ARN of the key the topic should use; ok is false while it does not exist.
func (r *Topic) keyARN(ctx context.Context, deps engine.Deps) (arn string, ok bool, err error) {
	return kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
}

func (r *Topic) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	key, ok, err := r.keyARN(ctx, deps)
	if err != nil {
		return nil, err
	}
	if !ok {
		// A plan that creates the key (a deployment from before it moved to the secrets
		// phase) still finds the topic: it moves to the new key.
		key = kit.KeyToCreate
	}
	arn := cmp.Or(kit.RecARN(rec), topicARN(r.In))
	out, err := r.API.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading SNS topic %s: %w", arn, err)
	}
	found := &engine.Found{Record: state.Resource{ID: topicName(r.In), ARN: arn}}
	if got := out.Attributes["KmsMasterKeyId"]; got != key {
		found.Changes = append(found.Changes, engine.Change{Field: "kms_key", From: got, To: key})
	}
	tags, err := r.API.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of SNS topic %s: %w", arn, err)
	}
	have := kit.TagMap(tags.Tags, func(t snstypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := r.In.Claim(rec, "SNS topic", arn, KeyTopic, have); err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(KeyTopic), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *Topic) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	key, _, err := r.keyARN(ctx, deps)
	if err != nil {
		return nil, err
	}
	// CreateTopic returns the existing topic when one of this name has the same
	// attributes: a run that crashed before saving is harmless.
	out, err := r.API.CreateTopic(ctx, &sns.CreateTopicInput{
		Name:       aws.String(topicName(r.In)),
		Attributes: map[string]string{"KmsMasterKeyId": key},
		Tags:       SNSTags(r.In.Tags(KeyTopic)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating SNS topic %s: %w", topicName(r.In), err)
	}
	return &state.Resource{ID: topicName(r.In), ARN: aws.ToString(out.TopicArn)}, nil
}

func (r *Topic) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "kms_key":
			_, err = r.API.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: arn, AttributeName: aws.String("KmsMasterKeyId"), AttributeValue: aws.String(c.To)})
		case "tags":
			_, err = r.API.TagResource(ctx, &sns.TagResourceInput{ResourceArn: arn, Tags: SNSTags(r.In.Tags(KeyTopic))})
		}
		if err != nil {
			return nil, fmt.Errorf("updating %s of SNS topic %s: %w", c.Field, found.Record.ARN, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the topic, and with it whatever subscriptions are left.
func (r *Topic) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.API.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(rec.ARN)}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting SNS topic %s: %w", rec.ARN, err)
	}
	return nil
}

func SNSTags(tags map[string]string) []snstypes.Tag {
	return kit.TagList(tags, func(k, v *string) snstypes.Tag { return snstypes.Tag{Key: k, Value: v} })
}
