package observability

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type trailAPI interface {
	GetTrail(ctx context.Context, in *cloudtrail.GetTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailOutput, error)
	GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
	CreateTrail(ctx context.Context, in *cloudtrail.CreateTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.CreateTrailOutput, error)
	UpdateTrail(ctx context.Context, in *cloudtrail.UpdateTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.UpdateTrailOutput, error)
	StartLogging(ctx context.Context, in *cloudtrail.StartLoggingInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.StartLoggingOutput, error)
	ListTags(ctx context.Context, in *cloudtrail.ListTagsInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.ListTagsOutput, error)
	AddTags(ctx context.Context, in *cloudtrail.AddTagsInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.AddTagsOutput, error)
	DeleteTrail(ctx context.Context, in *cloudtrail.DeleteTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.DeleteTrailOutput, error)
}

// Trail is a multi-region CloudTrail trail with log file validation (digests that prove
// a log file was not altered) into the trail bucket, logging. Each environment that
// turns it on gets its own; one per account is enough, and extra copies of management
// events are billed.
type Trail struct {
	In  *kit.Inputs
	API trailAPI
	KMS kit.KMSDescribeAPI
}

func (r *Trail) Key() string  { return KeyTrail }
func (r *Trail) Type() string { return "cloudtrail:trail" }
func (r *Trail) DependsOn() []string {
	return append([]string{KeyTrailBucket}, kit.EnvKeyDeps(r.In)...)
}

// keyARN is the environment's key the trail encrypts its log files with (the key's
// policy lets CloudTrail use it for this trail only); in a plan that creates the key, a
// stand-in for it.
func (r *Trail) keyARN(ctx context.Context, deps engine.Deps) (string, error) {
	key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
	if err == nil && !ok {
		key = kit.KeyToCreate
	}
	return key, err
}

// trailSettings is what fvdeploy sets on the trail, for comparison.
func trailSettings(bucket string, multiRegion, validation, global bool, kmsKey string) map[string]string {
	return map[string]string{
		"s3_bucket":             bucket,
		"multi_region":          strconv.FormatBool(multiRegion),
		"log_file_validation":   strconv.FormatBool(validation),
		"global_service_events": strconv.FormatBool(global),
		"kms_key":               kmsKey,
	}
}

func (r *Trail) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	bucket := deps.Get(KeyTrailBucket)
	if bucket == nil {
		return nil, nil
	}
	key, err := r.keyARN(ctx, deps)
	if err != nil {
		return nil, err
	}
	name := cmp.Or(kit.RecARN(rec), kit.TrailName(r.In))
	out, err := r.API.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: &name})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading trail %s: %w", name, err)
	}
	t := out.Trail
	arn := aws.ToString(t.TrailARN)
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(t.Name), ARN: arn}}
	live := trailSettings(aws.ToString(t.S3BucketName), aws.ToBool(t.IsMultiRegionTrail), aws.ToBool(t.LogFileValidationEnabled), aws.ToBool(t.IncludeGlobalServiceEvents), aws.ToString(t.KmsKeyId))
	want := trailSettings(bucket.ID, true, true, true, key)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if live[k] != want[k] {
			found.Changes = append(found.Changes, engine.Change{Field: k, From: live[k], To: want[k]})
		}
	}
	status, err := r.API.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the status of trail %s: %w", arn, err)
	}
	if !aws.ToBool(status.IsLogging) {
		found.Changes = append(found.Changes, engine.Change{Field: "logging", From: "false", To: "true"})
	}
	tags, err := r.API.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{arn}})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of trail %s: %w", arn, err)
	}
	have := map[string]string{}
	for _, l := range tags.ResourceTagList {
		for _, t := range l.TagsList {
			have[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	if err := r.In.Claim(rec, "trail", arn, KeyTrail, have); err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(KeyTrail), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *Trail) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("creating trail %s: the environment's KMS key does not exist", kit.TrailName(r.In))
	}
	in := &cloudtrail.CreateTrailInput{
		Name:                       aws.String(kit.TrailName(r.In)),
		S3BucketName:               aws.String(deps.Get(KeyTrailBucket).ID),
		IsMultiRegionTrail:         aws.Bool(true),
		EnableLogFileValidation:    aws.Bool(true),
		IncludeGlobalServiceEvents: aws.Bool(true),
		TagsList:                   CTTags(r.In.Tags(KeyTrail)),
	}
	in.KmsKeyId = &key
	var out *cloudtrail.CreateTrailOutput
	// CloudTrail checks the bucket policy when the trail is created, and a policy put a
	// moment ago may not be visible to it yet.
	deadline := time.Now().Add(time.Minute)
	err = r.In.WaitFor(ctx, "the trail bucket's policy to reach CloudTrail", func(ctx context.Context) (bool, string, error) {
		var err error
		out, err = r.API.CreateTrail(ctx, in)
		if code := kit.ErrorCode(err); code == "InsufficientS3BucketPolicyException" && time.Now().Before(deadline) {
			return false, code, nil
		}
		return err == nil, "", err
	})
	if err != nil {
		return nil, fmt.Errorf("creating trail %s: %w", kit.TrailName(r.In), err)
	}
	arn := aws.ToString(out.TrailARN)
	if _, err := r.API.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: &arn}); err != nil {
		return nil, fmt.Errorf("starting trail %s: %w", arn, err)
	}
	return &state.Resource{ID: kit.TrailName(r.In), ARN: arn}, nil
}

func (r *Trail) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	settings, logging, tags := false, false, false
	for _, c := range found.Changes {
		switch c.Field {
		case "logging":
			logging = true
		case "tags":
			tags = true
		default:
			settings = true
		}
	}
	if settings {
		key, ok, err := kit.EnvKeyARN(ctx, r.In, r.KMS, deps)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("updating trail %s: the environment's KMS key does not exist", found.Record.ARN)
		}
		_, err = r.API.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{
			Name: arn, S3BucketName: aws.String(deps.Get(KeyTrailBucket).ID), KmsKeyId: &key,
			IsMultiRegionTrail: aws.Bool(true), EnableLogFileValidation: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("updating trail %s: %w", found.Record.ARN, err)
		}
	}
	if logging {
		if _, err := r.API.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: arn}); err != nil {
			return nil, fmt.Errorf("starting trail %s: %w", found.Record.ARN, err)
		}
	}
	if tags {
		if _, err := r.API.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: arn, TagsList: CTTags(r.In.Tags(KeyTrail))}); err != nil {
			return nil, fmt.Errorf("tagging trail %s: %w", found.Record.ARN, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes by name, which AWS takes as well as the ARN; the emulator only the name.
func (r *Trail) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.API.DeleteTrail(ctx, &cloudtrail.DeleteTrailInput{Name: &rec.ID}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting trail %s: %w", rec.ID, err)
	}
	return nil
}

func CTTags(tags map[string]string) []cttypes.Tag {
	return kit.TagList(tags, func(k, v *string) cttypes.Tag { return cttypes.Tag{Key: k, Value: v} })
}
