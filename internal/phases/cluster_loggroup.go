package phases

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type logsAPI interface {
	DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	PutRetentionPolicy(ctx context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
	DeleteLogGroup(ctx context.Context, in *cloudwatchlogs.DeleteLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DeleteLogGroupOutput, error)
	ListTagsForResource(ctx context.Context, in *cloudwatchlogs.ListTagsForResourceInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.ListTagsForResourceOutput, error)
	AssociateKmsKey(ctx context.Context, in *cloudwatchlogs.AssociateKmsKeyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.AssociateKmsKeyOutput, error)
}

// logGroup is a log group with the environment's retention (CloudWatch keeps logs
// forever otherwise, and bills for it): /ecs/<app>-<env>, where the tasks' awslogs
// driver writes, and the alarm relay function's. It is encrypted with the environment's
// KMS key (kms_key.go), whose policy lets CloudWatch Logs use it for these groups only.
type logGroup struct {
	in        *Inputs
	api       logsAPI
	kms       kmsDescribeAPI
	key, name string
}

func (r *logGroup) Key() string         { return r.key }
func (r *logGroup) Type() string        { return "logs:log-group" }
func (r *logGroup) DependsOn() []string { return envKeyDeps(r.in) }

// keyToCreate stands for the environment's key in a plan that creates it.
const keyToCreate = "(the environment's key, to be created)"

func logGroupName(in *Inputs) string { return "/ecs/" + in.prefix() }

// logGroupARN is the group's ARN without the ":*" that DescribeLogGroups appends.
func logGroupARN(in *Inputs, name string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", awsPartition(in.Region), in.Region, in.Account, name)
}

func (r *logGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(recID(rec), r.name)
	// The name is unique in the account and region: it is the lookup, no tags needed.
	out, err := r.api.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describing log group %s: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != name {
			continue
		}
		if rec == nil {
			if err := r.claim(ctx, name); err != nil {
				return nil, err
			}
		}
		found := &engine.Found{Record: state.Resource{ID: name, ARN: logGroupARN(r.in, name)}}
		if got, want := aws.ToInt32(g.RetentionInDays), int32(r.in.Config.Logs.RetentionDays); got != want {
			found.Changes = append(found.Changes, engine.Change{Field: "retention_days", From: retentionText(got), To: retentionText(want)})
		}
		// A group made before the key existed is found all the same: it gains the key.
		key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
		if err != nil {
			return nil, err
		}
		if !ok {
			key = keyToCreate
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

// claim checks the ownership tags of a group found by name alone.
func (r *logGroup) claim(ctx context.Context, name string) error {
	out, err := r.api.ListTagsForResource(ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(logGroupARN(r.in, name))})
	if err != nil {
		return fmt.Errorf("reading the tags of log group %s: %w", name, err)
	}
	return r.in.claim(nil, "log group", name, r.key, out.Tags)
}

func retentionText(days int32) string {
	if days == 0 {
		return "never expire"
	}
	return strconv.Itoa(int(days))
}

func (r *logGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	name := r.name
	key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("creating log group %s: the environment's KMS key does not exist", name)
	}
	if _, err := r.api.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key), Tags: r.in.tags(r.key)}); err != nil {
		return nil, fmt.Errorf("creating log group %s: %w", name, err)
	}
	if err := r.setRetention(ctx, name); err != nil {
		return nil, err
	}
	return &state.Resource{ID: name, ARN: logGroupARN(r.in, name)}, nil
}

func (r *logGroup) setRetention(ctx context.Context, name string) error {
	days := int32(r.in.Config.Logs.RetentionDays)
	if _, err := r.api.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(days)}); err != nil {
		return fmt.Errorf("setting the retention of log group %s to %d days: %w", name, days, err)
	}
	return nil
}

func (r *logGroup) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		switch c.Field {
		case "retention_days":
			if err := r.setRetention(ctx, name); err != nil {
				return nil, err
			}
		case "kms_key":
			// The key read now, not the plan's: a plan may only have known it as to be created.
			key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("encrypting log group %s: the environment's KMS key does not exist", name)
			}
			// New events are encrypted with the key; those already stored stay readable.
			if _, err := r.api.AssociateKmsKey(ctx, &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key)}); err != nil {
				return nil, fmt.Errorf("encrypting log group %s with KMS key %s: %w", name, key, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *logGroup) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(rec.ID)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting log group %s: %w", rec.ID, err)
	}
	return nil
}
