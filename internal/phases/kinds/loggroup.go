package kinds

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type LogsAPI interface {
	DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	PutRetentionPolicy(ctx context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
	DeleteLogGroup(ctx context.Context, in *cloudwatchlogs.DeleteLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DeleteLogGroupOutput, error)
	ListTagsForResource(ctx context.Context, in *cloudwatchlogs.ListTagsForResourceInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.ListTagsForResourceOutput, error)
	AssociateKmsKey(ctx context.Context, in *cloudwatchlogs.AssociateKmsKeyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.AssociateKmsKeyOutput, error)
}

// LogGroup is a log group with the environment's retention (CloudWatch keeps logs
// forever otherwise, and bills for it): /ecs/<app>-<env>, where the tasks' awslogs
// driver writes, and the alarm relay function's. It is encrypted with the environment's
// KMS key (network/network/kms_key.go), whose policy lets CloudWatch Logs use it for these groups only.
type LogGroup struct {
	In                *kit.Inputs
	API               LogsAPI
	KMS               kit.KMSDescribeAPI
	ResourceKey, Name string
}

func (r *LogGroup) Key() string { return r.ResourceKey }

func (r *LogGroup) Type() string { return "logs:log-group" }

func (r *LogGroup) DependsOn() []string { return kit.EnvKeyDeps(r.In) }

func (r *LogGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(kit.RecID(rec), r.Name)
	// The name is unique in the account and region: it is the lookup, no tags needed.
	out, err := r.API.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describing log group %s: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != name {
			continue
		}
		if rec == nil {
			if err := r.Claim(ctx, name); err != nil {
				return nil, err
			}
		}
		found := &engine.Found{Record: state.Resource{ID: name, ARN: kit.LogGroupARN(r.In, name)}}
		if got, want := aws.ToInt32(g.RetentionInDays), int32(r.In.Config.Logs.RetentionDays); got != want {
			found.Changes = append(found.Changes, engine.Change{Field: "retention_days", From: retentionText(got), To: retentionText(want)})
		}
		// A group made before the key existed is found all the same: it gains the key.
		key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
		if err != nil {
			return nil, err
		}
		if !ok {
			key = kit.KeyToCreate
		}
		if got := aws.ToString(g.KmsKeyId); got != key {
			if got == "" {
				got = "(none)"
			}
			found.Changes = append(found.Changes, engine.Change{Field: "kms_key", From: got, To: key})
		}
		return found, nil
	}
	return nil, nil
}

// Claim checks the ownership tags of a group found by name alone.
func (r *LogGroup) Claim(ctx context.Context, name string) error {
	out, err := r.API.ListTagsForResource(ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(kit.LogGroupARN(r.In, name))})
	if err != nil {
		return fmt.Errorf("reading the tags of log group %s: %w", name, err)
	}
	return r.In.Claim(nil, "log group", name, r.ResourceKey, out.Tags)
}

func retentionText(days int32) string {
	if days == 0 {
		return "never expire"
	}
	return strconv.Itoa(int(days))
}

func (r *LogGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	name := r.Name
	key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("creating log group %s: the environment's KMS key does not exist", name)
	}
	if _, err := r.API.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key), Tags: r.In.Tags(r.ResourceKey)}); err != nil {
		return nil, fmt.Errorf("creating log group %s: %w", name, err)
	}
	if err := r.setRetention(ctx, name); err != nil {
		return nil, err
	}
	return &state.Resource{ID: name, ARN: kit.LogGroupARN(r.In, name)}, nil
}

func (r *LogGroup) setRetention(ctx context.Context, name string) error {
	days := int32(r.In.Config.Logs.RetentionDays)
	if _, err := r.API.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(days)}); err != nil {
		return fmt.Errorf("setting the retention of log group %s to %d days: %w", name, days, err)
	}
	return nil
}

func (r *LogGroup) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		switch c.Field {
		case "retention_days":
			if err := r.setRetention(ctx, name); err != nil {
				return nil, err
			}
		case "kms_key":
			// The key read now, not the plan's: a plan may only have known it as to be created.
			key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("encrypting log group %s: the environment's KMS key does not exist", name)
			}
			// New events are encrypted with the key; those already stored stay readable.
			if _, err := r.API.AssociateKmsKey(ctx, &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key)}); err != nil {
				return nil, fmt.Errorf("encrypting log group %s with KMS key %s: %w", name, key, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *LogGroup) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.API.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(rec.ID)})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting log group %s: %w", rec.ID, err)
	}
	return nil
}
