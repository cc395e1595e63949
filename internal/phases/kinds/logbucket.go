package kinds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// ErrDataKept marks a deletion fvdeploy declined because the object holds data (logs an
// audit may need). The object stays, and so does its state record, so that
// `fvdeploy destroy --purge-data` finds it later; destroy reports it and goes on with
// everything that does not depend on it.
var ErrDataKept = errors.New("kept because it holds data")

// dataKeptError says what was kept and how to purge it, and is ErrDataKept.
type dataKeptError struct{ msg string }

func (e *dataKeptError) Error() string { return e.msg }

func (e *dataKeptError) Is(target error) bool { return target == ErrDataKept }

type bucketAPI interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput, opts ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	GetBucketTagging(ctx context.Context, in *s3.GetBucketTaggingInput, opts ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
	PutBucketTagging(ctx context.Context, in *s3.PutBucketTaggingInput, opts ...func(*s3.Options)) (*s3.PutBucketTaggingOutput, error)
	GetPublicAccessBlock(ctx context.Context, in *s3.GetPublicAccessBlockInput, opts ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(ctx context.Context, in *s3.PutPublicAccessBlockInput, opts ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	GetBucketEncryption(ctx context.Context, in *s3.GetBucketEncryptionInput, opts ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	PutBucketEncryption(ctx context.Context, in *s3.PutBucketEncryptionInput, opts ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error)
	GetBucketPolicy(ctx context.Context, in *s3.GetBucketPolicyInput, opts ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	PutBucketPolicy(ctx context.Context, in *s3.PutBucketPolicyInput, opts ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	DeleteBucket(ctx context.Context, in *s3.DeleteBucketInput, opts ...func(*s3.Options)) (*s3.DeleteBucketOutput, error)
	GetBucketLifecycleConfiguration(ctx context.Context, in *s3.GetBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
	PutBucketLifecycleConfiguration(ctx context.Context, in *s3.PutBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error)
	GetBucketOwnershipControls(ctx context.Context, in *s3.GetBucketOwnershipControlsInput, opts ...func(*s3.Options)) (*s3.GetBucketOwnershipControlsOutput, error)
	PutBucketOwnershipControls(ctx context.Context, in *s3.PutBucketOwnershipControlsInput, opts ...func(*s3.Options)) (*s3.PutBucketOwnershipControlsOutput, error)
	GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, opts ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	PutBucketVersioning(ctx context.Context, in *s3.PutBucketVersioningInput, opts ...func(*s3.Options)) (*s3.PutBucketVersioningOutput, error)
}

// LogBucket is a private bucket an AWS service delivers logs to: all public access
// blocked, ACLs off (object ownership BucketOwnerEnforced, set explicitly: buckets made
// before April 2023 or by other means may still honour ACLs), versioned (a log file
// overwritten or deleted stays as a noncurrent version), encrypted at rest (with the
// configured KMS key when useKMS and one is set, else S3-managed keys), TLS only, and a
// policy that lets only that service write. With expiryDays set, a lifecycle rule of
// fvdeploy's expires objects, and their noncurrent versions, that old; without, the
// bucket's lifecycle is not looked at.
type LogBucket struct {
	In          *kit.Inputs
	API         bucketAPI
	KMS         kit.KMSDescribeAPI
	ResourceKey string
	Name        string
	UseKMS      bool
	Policy      func(in *kit.Inputs, bucket string) string
	ExpiryDays  int
}

// ExpiryRuleID names fvdeploy's lifecycle rule on a log bucket; other rules are left alone.
const ExpiryRuleID = "fvdeploy-expiry"

func (r *LogBucket) Key() string { return r.ResourceKey }

func (r *LogBucket) Type() string { return "s3:bucket" }

func (r *LogBucket) DependsOn() []string { return nil }

// sse is the bucket's default encryption: algorithm and key ("" for S3-managed keys).
func (r *LogBucket) sse(ctx context.Context) (s3types.ServerSideEncryption, string, error) {
	if !r.UseKMS {
		return s3types.ServerSideEncryptionAes256, "", nil
	}
	key, err := kit.ConfiguredKeyARN(ctx, r.In, r.KMS)
	if err != nil || key == "" {
		return s3types.ServerSideEncryptionAes256, "", err
	}
	return s3types.ServerSideEncryptionAwsKms, key, nil
}

func (r *LogBucket) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(kit.RecID(rec), r.Name)
	_, err := r.API.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &name})
	switch code := kit.ErrorCode(err); {
	case kit.IsNotFound(err) || code == "NoSuchBucket":
		return nil, nil
	case code == "Forbidden" || code == "AccessDenied":
		return nil, fmt.Errorf("bucket %s belongs to another AWS account (bucket names are global): %w", name, err)
	case err != nil:
		return nil, fmt.Errorf("looking up bucket %s: %w", name, err)
	}
	found := &engine.Found{Record: state.Resource{ID: name, ARN: kit.BucketARN(r.In, name)}}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	have, err := r.Tags(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := r.In.Claim(rec, "bucket", name, r.ResourceKey, have); err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(r.ResourceKey), have); drift {
		change("tags", from, to)
	}
	pab, err := r.API.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &name})
	var blocked bool
	switch {
	case kit.ErrorCode(err) == "NoSuchPublicAccessBlockConfiguration":
	case err != nil:
		return nil, fmt.Errorf("reading the public access block of bucket %s: %w", name, err)
	default:
		c := pab.PublicAccessBlockConfiguration
		blocked = aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
	}
	change("block_public_access", strconv.FormatBool(blocked), "true")
	own, err := r.API.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: &name})
	ownership := "(none)"
	switch {
	case kit.ErrorCode(err) == "OwnershipControlsNotFoundError":
	case err != nil:
		return nil, fmt.Errorf("reading the object ownership of bucket %s: %w", name, err)
	case own.OwnershipControls != nil && len(own.OwnershipControls.Rules) > 0:
		ownership = string(own.OwnershipControls.Rules[0].ObjectOwnership)
	}
	change("object_ownership", ownership, string(s3types.ObjectOwnershipBucketOwnerEnforced))
	ver, err := r.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &name})
	if err != nil {
		return nil, fmt.Errorf("reading the versioning of bucket %s: %w", name, err)
	}
	versioning := string(ver.Status)
	if versioning == "" {
		versioning = "(never enabled)"
	}
	change("versioning", versioning, string(s3types.BucketVersioningStatusEnabled))
	algo, key, err := r.sse(ctx)
	if err != nil {
		return nil, err
	}
	enc, err := r.API.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: &name})
	var liveAlgo, liveKey string
	switch {
	case kit.ErrorCode(err) == "ServerSideEncryptionConfigurationNotFoundError":
	case err != nil:
		return nil, fmt.Errorf("reading the encryption of bucket %s: %w", name, err)
	case len(enc.ServerSideEncryptionConfiguration.Rules) > 0 && enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault != nil:
		d := enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
		liveAlgo, liveKey = string(d.SSEAlgorithm), aws.ToString(d.KMSMasterKeyID)
	}
	change("encryption", liveAlgo+" "+liveKey, string(algo)+" "+key)
	pol, err := r.API.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &name})
	want := r.Policy(r.In, name)
	switch {
	case kit.ErrorCode(err) == "NoSuchBucketPolicy":
		change("policy", "(none)", want)
	case err != nil:
		return nil, fmt.Errorf("reading the policy of bucket %s: %w", name, err)
	default:
		if d, err := kit.ResourcePolicyDiff(aws.ToString(pol.Policy), want); err != nil {
			return nil, fmt.Errorf("reading the policy of bucket %s: %w", name, err)
		} else if d != nil {
			d.Field = "policy"
			found.Changes = append(found.Changes, *d)
		}
	}
	if r.ExpiryDays > 0 {
		rules, _, err := r.lifecycle(ctx, name)
		if err != nil {
			return nil, err
		}
		var live *s3types.LifecycleRule
		if i := slices.IndexFunc(rules, func(l s3types.LifecycleRule) bool { return aws.ToString(l.ID) == ExpiryRuleID }); i >= 0 {
			live = &rules[i]
		}
		want := r.expiryRule()
		change("lifecycle", expiryString(live), expiryString(&want))
	}
	return found, nil
}

// lifecycle is the bucket's lifecycle rules (none when it has no configuration) and its
// minimum object size for transitions, which a put must repeat to keep.
func (r *LogBucket) lifecycle(ctx context.Context, name string) ([]s3types.LifecycleRule, s3types.TransitionDefaultMinimumObjectSize, error) {
	out, err := r.API.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &name})
	if kit.ErrorCode(err) == "NoSuchLifecycleConfiguration" {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the lifecycle of bucket %s: %w", name, err)
	}
	return out.Rules, out.TransitionDefaultMinimumObjectSize, nil
}

// expiryRule expires every object of the bucket expiryDays after it was written, and a
// noncurrent version (the bucket is versioned) expiryDays after it became one.
func (r *LogBucket) expiryRule() s3types.LifecycleRule {
	return s3types.LifecycleRule{
		ID:                          aws.String(ExpiryRuleID),
		Status:                      s3types.ExpirationStatusEnabled,
		Filter:                      &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
		Expiration:                  &s3types.LifecycleExpiration{Days: aws.Int32(int32(r.ExpiryDays))},
		NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(int32(r.ExpiryDays))},
	}
}

// expiryString describes fvdeploy's lifecycle rule, for a plan and for comparison.
func expiryString(rule *s3types.LifecycleRule) string {
	if rule == nil {
		return "(none)"
	}
	s := "expire objects after "
	if e := rule.Expiration; e != nil && e.Days != nil {
		s += strconv.Itoa(int(*e.Days)) + " days"
	} else {
		s += "no number of days"
	}
	if n := rule.NoncurrentVersionExpiration; n != nil && n.NoncurrentDays != nil {
		s += ", noncurrent versions after " + strconv.Itoa(int(*n.NoncurrentDays)) + " days"
	} else {
		s += ", noncurrent versions kept"
	}
	f := rule.Filter
	if aws.ToString(rule.Prefix) != "" || f != nil && (aws.ToString(f.Prefix) != "" || f.Tag != nil || f.And != nil || f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil) {
		s += ", only some objects"
	}
	if rule.Status != s3types.ExpirationStatusEnabled {
		s += ", " + strings.ToLower(string(rule.Status))
	}
	return s
}

func (r *LogBucket) Tags(ctx context.Context, name string) (map[string]string, error) {
	out, err := r.API.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: &name})
	have := map[string]string{}
	if kit.ErrorCode(err) == "NoSuchTagSet" {
		return have, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the tags of bucket %s: %w", name, err)
	}
	for _, t := range out.TagSet {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return have, nil
}

func (r *LogBucket) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	in := &s3.CreateBucketInput{Bucket: aws.String(r.Name), ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}
	// us-east-1 is the default location and refuses to be named as a constraint.
	if r.In.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(r.In.Region)}
	}
	_, err := r.API.CreateBucket(ctx, in)
	// BucketAlreadyOwnedByYou: created by a run that crashed before saving.
	if err != nil && kit.ErrorCode(err) != "BucketAlreadyOwnedByYou" {
		if kit.ErrorCode(err) == "BucketAlreadyExists" {
			return nil, fmt.Errorf("creating bucket %s: the name is taken by another AWS account: %w", r.Name, err)
		}
		return nil, fmt.Errorf("creating bucket %s: %w", r.Name, err)
	}
	// Tags first, so that a crash after this point leaves a bucket that is found as ours.
	fields := []string{"tags", "block_public_access", "object_ownership", "versioning", "encryption", "policy"}
	if r.ExpiryDays > 0 {
		fields = append(fields, "lifecycle")
	}
	for _, field := range fields {
		if err := r.set(ctx, r.Name, field); err != nil {
			return nil, err
		}
	}
	return &state.Resource{ID: r.Name, ARN: kit.BucketARN(r.In, r.Name)}, nil
}

func (r *LogBucket) set(ctx context.Context, name, field string) error {
	var err error
	switch field {
	case "tags":
		set := kit.TagList(r.In.Tags(r.ResourceKey), func(k, v *string) s3types.Tag { return s3types.Tag{Key: k, Value: v} })
		_, err = r.API.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, Tagging: &s3types.Tagging{TagSet: set}})
	case "block_public_access":
		on := aws.Bool(true)
		_, err = r.API.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &name, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: on, IgnorePublicAcls: on, BlockPublicPolicy: on, RestrictPublicBuckets: on,
		}})
	case "object_ownership":
		_, err = r.API.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: &name, OwnershipControls: &s3types.OwnershipControls{
			Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}},
		}})
	case "versioning":
		_, err = r.API.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &name, VersioningConfiguration: &s3types.VersioningConfiguration{
			Status: s3types.BucketVersioningStatusEnabled,
		}})
	case "encryption":
		algo, key, kerr := r.sse(ctx)
		if kerr != nil {
			return kerr
		}
		def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: algo}
		rule := s3types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: def}
		if key != "" {
			// Bucket keys cut the KMS requests (and their cost) of a log stream by orders of magnitude.
			def.KMSMasterKeyID, rule.BucketKeyEnabled = &key, aws.Bool(true)
		}
		_, err = r.API.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: &name, ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{rule},
		}})
	case "policy":
		_, err = r.API.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &name, Policy: aws.String(r.Policy(r.In, name))})
	case "lifecycle":
		// The configuration is replaced as a whole: keep the rules that are not fvdeploy's.
		rules, minSize, lerr := r.lifecycle(ctx, name)
		if lerr != nil {
			return lerr
		}
		rules = slices.DeleteFunc(rules, func(l s3types.LifecycleRule) bool { return aws.ToString(l.ID) == ExpiryRuleID })
		_, err = r.API.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &name, TransitionDefaultMinimumObjectSize: minSize,
			LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: append(rules, r.expiryRule())}})
	}
	if err != nil {
		return fmt.Errorf("setting %s of bucket %s: %w", field, name, err)
	}
	return nil
}

func (r *LogBucket) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	for _, c := range found.Changes {
		if err := r.set(ctx, found.Record.ID, c.Field); err != nil {
			return nil, err
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the bucket when it is empty. One that holds logs is emptied only when
// the user asked for it (destroy --purge-data); otherwise it is kept, and so is its
// record, and the error says so and how to purge it.
func (r *LogBucket) Delete(ctx context.Context, rec *state.Resource) error {
	name := rec.ID
	for {
		out, err := r.API.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &name, MaxKeys: aws.Int32(1000)})
		if kit.ErrorCode(err) == "NoSuchBucket" || kit.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the objects of bucket %s: %w", name, err)
		}
		var ids []s3types.ObjectIdentifier
		for _, v := range out.Versions {
			ids = append(ids, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range out.DeleteMarkers {
			ids = append(ids, s3types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			break
		}
		if !r.In.PurgeData {
			return &dataKeptError{fmt.Sprintf("bucket %s still holds log files, so it was kept, and so was its record in state: `fvdeploy destroy --purge-data` empties and deletes it", name)}
		}
		res, err := r.API.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &name, Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("emptying bucket %s: %w", name, err)
		}
		if len(res.Errors) > 0 {
			e := res.Errors[0]
			return fmt.Errorf("emptying bucket %s: %d objects not deleted, e.g. %s: %s", name, len(res.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	if _, err := r.API.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil && kit.ErrorCode(err) != "NoSuchBucket" && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting bucket %s: %w", name, err)
	}
	return nil
}
