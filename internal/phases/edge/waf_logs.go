package edge

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// WAF request logs (edge.waf_logs): the web ACL logs every request it inspects to a
// bucket of its own, with the Authorization header redacted.

// redactedHeader is the header WAF blanks out of every log record. The service uses
// HTTP Basic Auth: the Authorization header carries the admin user and password (base64
// is an encoding, not a secret), so it must never land in a log.
const redactedHeader = "authorization"

// WAFLogsBucketName is aws-waf-logs-<app>-<env>-<account>: WAF delivers only to buckets
// whose name starts with aws-waf-logs-, and bucket names are global, so the account keeps
// two accounts' deployments of the same app apart. With the app at most 20 characters and
// the environment at most 4 it is at most 51 of S3's 63; boundedName keeps it within them
// should those limits ever grow (a cut name keeps the prefix).
func WAFLogsBucketName(in *kit.Inputs) string {
	return kit.BoundedName(fmt.Sprintf("aws-waf-logs-%s-%s", in.Prefix(), in.Account), 63)
}

// wafLogsBucket holds the web ACL's logs: private, encrypted with observability.kms_key_id
// when one is set (its key policy must then let delivery.logs.amazonaws.com use it,
// kms:GenerateDataKey* — fvdeploy does not own that key and does not change its policy),
// else with S3-managed keys, and emptied of objects older than edge.waf_log_expiry_days.
// Like every log bucket, destroy keeps it while it holds logs unless --purge-data.
func wafLogsBucket(in *kit.Inputs) *kinds.LogBucket {
	return &kinds.LogBucket{
		In: in, API: in.AWS.S3(), KMS: in.AWS.KMS(), ResourceKey: KeyWAFLogsBucket, Name: WAFLogsBucketName(in),
		UseKMS: true, Policy: WAFLogsBucketPolicy, ExpiryDays: in.Config.Edge.WAFLogExpiryDays,
	}
}

// WAFLogsBucketPolicy is the policy the WAF developer guide gives for logging to S3
// ("Permissions to publish logs to Amazon S3"): the log delivery service may check the
// bucket's ACL and write under AWSLogs/<account>/ as objects the bucket owner owns, and
// only for this account's log deliveries (aws:SourceAccount, aws:SourceArn). With these
// statements already there, PutLoggingConfiguration finds the policy sufficient and
// leaves it as it is. Plus TLS only, as on every log bucket.
func WAFLogsBucketPolicy(in *kit.Inputs, bucket string) string {
	arn := kit.BucketARN(in, bucket)
	delivery := map[string]string{"Service": "delivery.logs.amazonaws.com"}
	source := fmt.Sprintf("arn:%s:logs:%s:%s:*", kit.AWSPartition(in.Region), in.Region, in.Account)
	return kit.PolicyDoc(
		kit.Stmt{Sid: "AWSLogDeliveryWrite", Effect: "Allow", Principal: delivery, Action: []string{"s3:PutObject"}, Resource: []string{arn + "/AWSLogs/" + in.Account + "/*"},
			Condition: map[string]map[string]any{
				"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": []string{in.Account}},
				"ArnLike":      {"aws:SourceArn": []string{source}},
			}},
		kit.Stmt{Sid: "AWSLogDeliveryAclCheck", Effect: "Allow", Principal: delivery, Action: []string{"s3:GetBucketAcl"}, Resource: []string{arn},
			Condition: map[string]map[string]any{
				"StringEquals": {"aws:SourceAccount": []string{in.Account}},
				"ArnLike":      {"aws:SourceArn": []string{source}},
			}},
		kit.DenyInsecureTransport(arn),
	)
}

type wafLoggingAPI interface {
	GetLoggingConfiguration(ctx context.Context, in *wafv2.GetLoggingConfigurationInput, opts ...func(*wafv2.Options)) (*wafv2.GetLoggingConfigurationOutput, error)
	PutLoggingConfiguration(ctx context.Context, in *wafv2.PutLoggingConfigurationInput, opts ...func(*wafv2.Options)) (*wafv2.PutLoggingConfigurationOutput, error)
	DeleteLoggingConfiguration(ctx context.Context, in *wafv2.DeleteLoggingConfigurationInput, opts ...func(*wafv2.Options)) (*wafv2.DeleteLoggingConfigurationOutput, error)
}

// wafLogging sends the web ACL's request logs to the WAF log bucket, with the
// Authorization header redacted and no filter (every request is logged). A web ACL has
// one logging configuration, found by the ACL's ARN, so one found is this ACL's and ours.
// PutLoggingConfiguration needs, besides wafv2:PutLoggingConfiguration,
// logs:CreateLogDelivery and s3:GetBucketPolicy/PutBucketPolicy on the bucket.
type wafLogging struct {
	in  *kit.Inputs
	api wafLoggingAPI
}

func (r *wafLogging) Key() string         { return KeyWAFLogging }
func (r *wafLogging) Type() string        { return "wafv2:logging-configuration" }
func (r *wafLogging) DependsOn() []string { return []string{KeyWAFACL, KeyWAFLogsBucket} }

func (r *wafLogging) redacted() []waftypes.FieldToMatch {
	return []waftypes.FieldToMatch{{SingleHeader: &waftypes.SingleHeader{Name: aws.String(redactedHeader)}}}
}

// fieldString names a redacted field for a plan and for comparison. Header names are
// compared as WAF matches them: without regard to case.
func fieldString(f waftypes.FieldToMatch) string {
	switch {
	case f.SingleHeader != nil:
		return "header " + strings.ToLower(aws.ToString(f.SingleHeader.Name))
	case f.UriPath != nil:
		return "uri path"
	case f.QueryString != nil:
		return "query string"
	case f.Method != nil:
		return "method"
	}
	return "another field"
}

// fieldsString is the redacted fields, sorted, or (none).
func fieldsString(fs []waftypes.FieldToMatch) string {
	var out []string
	for _, f := range fs {
		out = append(out, fieldString(f))
	}
	if len(out) == 0 {
		return "(none)"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// filterString describes a logging filter: none means every request is logged.
func filterString(f *waftypes.LoggingFilter) string {
	if f == nil || len(f.Filters) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%d filters, default %s", len(f.Filters), f.DefaultBehavior)
}

func loggingRecord(aclARN, bucket string) state.Resource {
	return state.Resource{ID: aclARN, Attrs: map[string]string{"bucket": bucket}}
}

// get returns the ACL's logging configuration, or nil when it has none.
func (r *wafLogging) get(ctx context.Context, aclARN string) (*waftypes.LoggingConfiguration, error) {
	out, err := r.api.GetLoggingConfiguration(ctx, &wafv2.GetLoggingConfigurationInput{ResourceArn: &aclARN})
	if WAFNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the logging configuration of web ACL %s: %w", aclARN, err)
	}
	return out.LoggingConfiguration, nil
}

func (r *wafLogging) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	acl, bucket := deps.Get(KeyWAFACL), deps.Get(KeyWAFLogsBucket)
	if acl == nil || bucket == nil {
		return nil, nil
	}
	lc, err := r.get(ctx, acl.ARN)
	if err != nil || lc == nil {
		return nil, err
	}
	found := &engine.Found{Record: loggingRecord(acl.ARN, bucket.ID)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	dests := slices.Sorted(slices.Values(lc.LogDestinationConfigs))
	change("log_destination", strings.Join(dests, ", "), bucket.ARN)
	change("redacted_fields", fieldsString(lc.RedactedFields), fieldsString(r.redacted()))
	change("logging_filter", filterString(lc.LoggingFilter), filterString(nil))
	return found, nil
}

// Create puts the logging configuration, retrying for a while when WAF does not see a
// just-created ACL yet or finds the bucket's policy, put a moment ago, not yet in force.
func (r *wafLogging) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	acl, bucket := deps.Get(KeyWAFACL), deps.Get(KeyWAFLogsBucket)
	in := &wafv2.PutLoggingConfigurationInput{LoggingConfiguration: &waftypes.LoggingConfiguration{
		ResourceArn:           aws.String(acl.ARN),
		LogDestinationConfigs: []string{bucket.ARN},
		RedactedFields:        r.redacted(),
	}}
	err := r.in.RetryUntilSeen(ctx, "web ACL "+acl.Attrs["name"]+" and bucket "+bucket.ID+" to be ready for logging", func(ctx context.Context) error {
		_, err := r.api.PutLoggingConfiguration(ctx, in)
		return err
	}, "WAFUnavailableEntityException", "WAFLogDestinationPermissionIssueException")
	if err != nil {
		return nil, fmt.Errorf("sending the logs of web ACL %s to bucket %s: %w", acl.Attrs["name"], bucket.ID, err)
	}
	rec := loggingRecord(acl.ARN, bucket.ID)
	return &rec, nil
}

// Update puts the whole configuration again: PutLoggingConfiguration replaces it.
func (r *wafLogging) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete stops the ACL's logging; an ACL already gone logs nothing.
func (r *wafLogging) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeleteLoggingConfiguration(ctx, &wafv2.DeleteLoggingConfigurationInput{ResourceArn: &rec.ID})
	if err != nil && !WAFNotFound(err) {
		return fmt.Errorf("deleting the logging configuration of web ACL %s: %w", rec.ID, err)
	}
	return nil
}
