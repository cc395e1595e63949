package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
)

// assertEncryptedAndScoped checks, through the AWS API after an up, the trust, key and
// encryption controls of the environment <prefix>: the environment's key (its policy
// scoping CloudWatch and CloudWatch Logs), every log group of the environment and the
// trail (when trail) encrypted with it, every role the environment's services assume
// trusting them for this account only, and every bucket of the environment with ACLs off
// and versioning on. roles are the role names to check. The emulator evaluates none of
// these policies: they are checked as documents.
func assertEncryptedAndScoped(t *testing.T, c *awsclients.Clients, prefix string, trail bool, roles ...string) {
	t.Helper()
	ctx := context.Background()
	key, err := c.KMS().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/fvdeploy/" + prefix)})
	if err != nil {
		t.Fatalf("the environment's key: %v", err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	pol, err := c.KMS().GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if p := aws.ToString(pol.Policy); !strings.Contains(p, `"logs.us-east-1.amazonaws.com"`) || !strings.Contains(p, "kms:EncryptionContext:aws:logs:arn") ||
		!strings.Contains(p, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"+prefix+"-*") {
		t.Errorf("key policy does not scope CloudWatch and CloudWatch Logs to %s: %s", prefix, p)
	}

	groups, err := c.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range groups.LogGroups {
		if name := aws.ToString(g.LogGroupName); strings.Contains(name, "/"+prefix) {
			n++
			if got := aws.ToString(g.KmsKeyId); got != keyARN {
				t.Errorf("log group %s encrypted with %q, want %s", name, got, keyARN)
			}
		}
	}
	if n == 0 {
		t.Errorf("no log group of %s", prefix)
	}
	if trail {
		tr, err := c.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(prefix + "-audit")})
		if err != nil || aws.ToString(tr.Trail.KmsKeyId) != keyARN {
			t.Errorf("trail %v (%v), want it encrypted with %s", tr, err, keyARN)
		}
	}

	for _, name := range roles {
		r, err := c.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := url.PathUnescape(aws.ToString(r.Role.AssumeRolePolicyDocument))
		var p struct {
			Statement []struct {
				Principal map[string]any
				Condition map[string]map[string]any
			}
		}
		if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) == 0 {
			t.Fatalf("trust policy of %s: %v %s", name, err, doc)
		}
		for _, s := range p.Statement {
			if _, service := s.Principal["Service"]; service && !strings.Contains(aws.ToString(jsonString(s.Condition["StringEquals"]["aws:SourceAccount"])), "123456789012") {
				t.Errorf("role %s trusts %v without aws:SourceAccount: %s", name, s.Principal, doc)
			}
		}
	}

	buckets, err := c.S3().ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets.Buckets {
		name := aws.ToString(b.Name)
		if !strings.Contains(name, prefix) {
			continue
		}
		own, err := c.S3().GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: &name})
		if err != nil || own.OwnershipControls.Rules[0].ObjectOwnership != s3types.ObjectOwnershipBucketOwnerEnforced {
			t.Errorf("bucket %s object ownership %v (%v), want BucketOwnerEnforced", name, own, err)
		}
		if v, err := c.S3().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &name}); err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("bucket %s versioning %v (%v), want Enabled", name, v, err)
		}
	}
}

// jsonString renders a condition value (a string or a list) for a substring check.
func jsonString(v any) *string {
	b, _ := json.Marshal(v)
	return aws.String(string(b))
}
