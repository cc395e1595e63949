package observability

import (
	"fmt"

	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

func TrailBucket(in *kit.Inputs) *kinds.LogBucket {
	return &kinds.LogBucket{In: in, API: in.AWS.S3(), KMS: in.AWS.KMS(), ResourceKey: KeyTrailBucket, Name: trailBucketName(in), UseKMS: true, Policy: trailBucketPolicy}
}

// albLogsBucket is encrypted with S3-managed keys (SSE-S3) whatever the config: ELB
// delivers access logs only to such buckets, SSE-KMS is not supported there. An auditor's
// "bucket not encrypted with a customer key" finding on it is left on purpose (README).
func albLogsBucket(in *kit.Inputs) *kinds.LogBucket {
	return &kinds.LogBucket{In: in, API: in.AWS.S3(), KMS: in.AWS.KMS(), ResourceKey: KeyALBLogsBucket, Name: ALBLogsBucketName(in), Policy: ALBLogsBucketPolicy}
}

// bucketName is <app>-<env>-<what>-<account>-<region>: bucket names are global, and the
// account and region keep two deployments of the same app apart.
func bucketName(in *kit.Inputs, what string) string {
	return kit.BoundedName(fmt.Sprintf("%s-%s-%s-%s", in.Prefix(), what, in.Account, in.Region), 63)
}

func trailBucketName(in *kit.Inputs) string   { return bucketName(in, "trail") }
func ALBLogsBucketName(in *kit.Inputs) string { return bucketName(in, "alb-logs") }

// ---- bucket policies ----

// trailBucketPolicy lets CloudTrail, for this account's trail only (aws:SourceAccount,
// aws:SourceArn: CloudTrail sends both), check the bucket's ACL and write log files
// under AWSLogs/<account>/ as the bucket owner's.
func trailBucketPolicy(in *kit.Inputs, bucket string) string {
	arn := kit.BucketARN(in, bucket)
	cloudtrail := map[string]string{"Service": "cloudtrail.amazonaws.com"}
	return kit.PolicyDoc(
		kit.Stmt{Sid: "CloudTrailAclCheck", Effect: "Allow", Principal: cloudtrail, Action: []string{"s3:GetBucketAcl"}, Resource: []string{arn},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceArn": kit.TrailARN(in), "aws:SourceAccount": in.Account}}},
		kit.Stmt{Sid: "CloudTrailWrite", Effect: "Allow", Principal: cloudtrail, Action: []string{"s3:PutObject"}, Resource: []string{arn + "/AWSLogs/" + in.Account + "/*"},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceArn": kit.TrailARN(in), "aws:SourceAccount": in.Account, "s3:x-amz-acl": "bucket-owner-full-control"}}},
		kit.DenyInsecureTransport(arn),
	)
}

// elbLogAccounts are the Elastic Load Balancing accounts that deliver access logs in the
// regions opened before August 2022; newer regions use the log delivery service principal.
var elbLogAccounts = map[string]string{
	"us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980", "us-west-2": "797873946194",
	"af-south-1": "098369216593", "ap-east-1": "754344448648", "ap-south-1": "718504428378", "ap-northeast-1": "582318560864",
	"ap-northeast-2": "600734575887", "ap-northeast-3": "383597477331", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
	"ap-southeast-3": "589379963580", "ca-central-1": "985666609251", "eu-central-1": "054676820928", "eu-west-1": "156460612806",
	"eu-west-2": "652711504416", "eu-west-3": "009996457667", "eu-south-1": "635631232127", "eu-north-1": "897822967062",
	"me-south-1": "076674570225", "sa-east-1": "507241528517", "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
	"cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
}

// elbLogServicePrincipal delivers access logs in the regions opened since August 2022.
const elbLogServicePrincipal = "logdelivery.elasticloadbalancing.amazonaws.com"

// elbLogBothPrincipals are the regions AWS documents with an ELB account and also as
// using the service principal (Jakarta opened in between): both may write.
var elbLogBothPrincipals = map[string]bool{"ap-southeast-3": true}

// ALBLogsBucketPolicy lets the region's load balancer log delivery write this account's
// access logs, and nothing else. It follows AWS's ALB access-log guide as of 2026: in the
// regions opened before August 2022 the regional Elastic Load Balancing account writes
// (an account principal: aws:SourceAccount/SourceArn do not apply to it), in the newer
// ones the service principal logdelivery.elasticloadbalancing.amazonaws.com, for which
// AWS documents no aws:SourceAccount or aws:SourceArn (a condition on a key the service
// does not send would stop delivery). The resource, AWSLogs/<account>/, is what keeps
// it to this account's load balancers.
func ALBLogsBucketPolicy(in *kit.Inputs, bucket string) string {
	arn := kit.BucketARN(in, bucket)
	logs := []string{arn + "/AWSLogs/" + in.Account + "/*"}
	service := map[string]string{"Service": elbLogServicePrincipal}
	acct, ok := elbLogAccounts[in.Region]
	if !ok {
		return kit.PolicyDoc(
			kit.Stmt{Sid: "ELBAccessLogsWrite", Effect: "Allow", Principal: service, Action: []string{"s3:PutObject"}, Resource: logs},
			kit.DenyInsecureTransport(arn),
		)
	}
	stmts := []kit.Stmt{{Sid: "ELBAccessLogsWrite", Effect: "Allow", Action: []string{"s3:PutObject"}, Resource: logs,
		Principal: map[string]string{"AWS": fmt.Sprintf("arn:%s:iam::%s:root", kit.AWSPartition(in.Region), acct)}}}
	if elbLogBothPrincipals[in.Region] {
		stmts = append(stmts, kit.Stmt{Sid: "ELBLogDeliveryWrite", Effect: "Allow", Principal: service, Action: []string{"s3:PutObject"}, Resource: logs})
	}
	return kit.PolicyDoc(append(stmts, kit.DenyInsecureTransport(arn))...)
}
