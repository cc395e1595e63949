package phasetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// PolicyStatements parses a policy document into its statements.
func PolicyStatements(t *testing.T, doc string) []map[string]any {
	t.Helper()
	doc, err := kit.DecodePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p.Statement
}

// AssertPrivateBucket checks that all public access is blocked and the bucket is
// encrypted with algo.
func AssertPrivateBucket(t *testing.T, in *kit.Inputs, bucket, algo string) {
	t.Helper()
	ctx := context.Background()
	s3c := in.AWS.S3()
	pab, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("public access block of %s: %v", bucket, err)
	}
	if c := pab.PublicAccessBlockConfiguration; !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.RestrictPublicBuckets) {
		t.Errorf("bucket %s does not block all public access: %+v", bucket, c)
	}
	enc, err := s3c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("encryption of %s: %v", bucket, err)
	}
	if got := string(enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm); got != algo {
		t.Errorf("bucket %s encrypted with %s, want %s", bucket, got, algo)
	}
	own, err := s3c.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: &bucket})
	if err != nil || len(own.OwnershipControls.Rules) != 1 || own.OwnershipControls.Rules[0].ObjectOwnership != s3types.ObjectOwnershipBucketOwnerEnforced {
		t.Errorf("bucket %s object ownership: %+v %v, want BucketOwnerEnforced", bucket, own, err)
	}
	if v, err := s3c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket}); err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
		t.Errorf("bucket %s versioning: %v %v, want Enabled", bucket, v, err)
	}
}

// AssertNowhere fails when the password shows in state, in what the phases printed, in
// the results (plan or apply, as `--output json` would render them), or anywhere in the
// live task definitions.
func AssertNowhere(t *testing.T, in *kit.Inputs, pass string, doc *state.Document, progress *ProgressLog, results ...*engine.Result) {
	t.Helper()
	stateJSON, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stateJSON), pass) {
		t.Error("the password is in the state document")
	}
	if strings.Contains(progress.String(), pass) {
		t.Error("the password is in the progress output")
	}
	for _, res := range results {
		out, _ := json.Marshal(res.Items)
		if strings.Contains(string(out), pass) || strings.Contains(fmt.Sprint(res.Items), pass) {
			t.Errorf("the password is in a result: %s", out)
		}
		if err := res.Err(); err != nil && strings.Contains(err.Error(), pass) {
			t.Error("the password is in an error")
		}
	}
	ecsc := in.AWS.ECS()
	list, err := ecsc.ListTaskDefinitions(context.Background(), &ecs.ListTaskDefinitionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range list.TaskDefinitionArns {
		td, err := ecsc.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(td.TaskDefinition)
		if strings.Contains(string(b), pass) {
			t.Errorf("the password is in task definition %s", arn)
		}
	}
}
