package observability

import (
	"strconv"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The account guardrails' keys (observability.guardrails).
const (
	KeyAnalyzer            = "observability/access-analyzer"
	KeyConfigRecorder      = "observability/config-recorder"
	KeyConfigBucket        = "observability/config-bucket"
	KeyConfigChannel       = "observability/config-delivery-channel"
	KeyConfigRecording     = "observability/config-recording"
	analyzerName           = "fvdeploy-account"
	configRecorderName     = "default"
	configChannelName      = "default"
	configServicePrincipal = "config.amazonaws.com"
)

// GuardrailResources are the account-wide controls of observability.guardrails: an IAM
// Access Analyzer analyzer of the account, and AWS Config recording every resource
// into a bucket. AWS allows one analyzer of the account, one configuration recorder and
// one delivery channel per region: ones already there are adopted as they are (recorded
// as not owned, never changed, never deleted), and only what fvdeploy created is ever
// updated or deleted.
//
// Several environments of one account and region share them: the first to turn
// guardrails on creates them and owns them, the others adopt them, and destroying the
// owner removes them for all until another environment's next `up` creates them again.
func GuardrailResources(in *kit.Inputs) []engine.Resource {
	cfg := in.AWS.ConfigService()
	return []engine.Resource{
		&accessAnalyzer{in: in, api: in.AWS.AccessAnalyzer()},
		&configRecorder{in: in, api: cfg, iam: in.AWS.IAM()},
		configBucket(in),
		&configChannel{in: in, api: cfg},
		&configRecording{in: in, api: cfg},
	}
}

// ownedAttrs is the record's "owned" attribute: whether fvdeploy created the object
// (and may change and delete it) or adopted one that was there.
func ownedAttrs(owned bool) map[string]string {
	return map[string]string{"owned": strconv.FormatBool(owned)}
}

func recOwned(rec *state.Resource) bool { return rec != nil && rec.Attrs["owned"] == "true" }

// warnAccountWide says, before fvdeploy creates an account-wide control, that it is one.
func warnAccountWide(in *kit.Inputs, what, cost string) {
	in.Progress("WARNING: ACCOUNT-WIDE CHANGE: %s in account %s, region %s. It covers every workload in this account and region, "+
		"not only %s; %s. Destroying %s deletes it again, whoever relies on it by then (observability.guardrails)",
		what, in.Account, in.Region, in.Prefix(), cost, in.Prefix())
}

func configBucketName(in *kit.Inputs) string { return bucketName(in, "config") }

// configBucket is where the delivery channel fvdeploy creates delivers, encrypted with
// S3-managed keys: a configured KMS key would need a key policy that lets AWS Config
// use it, which fvdeploy does not manage. It is declared whenever guardrails are on,
// even when an adopted delivery channel delivers elsewhere and it stays empty: whether
// the account has a channel is known only once the walk runs, and an empty bucket costs
// nothing.
func configBucket(in *kit.Inputs) *kinds.LogBucket {
	return &kinds.LogBucket{In: in, API: in.AWS.S3(), KMS: in.AWS.KMS(), ResourceKey: KeyConfigBucket, Name: configBucketName(in), Policy: configBucketPolicy}
}

// configBucketPolicy is AWS's documented policy for a Config delivery bucket: AWS Config,
// on behalf of this account only (aws:SourceAccount), may check the bucket's ACL and
// existence and write under AWSLogs/<account>/Config/ as the bucket owner's objects.
func configBucketPolicy(in *kit.Inputs, bucket string) string {
	arn := kit.BucketARN(in, bucket)
	config := map[string]string{"Service": configServicePrincipal}
	account := map[string]map[string]any{"StringEquals": {"aws:SourceAccount": in.Account}}
	return kit.PolicyDoc(
		kit.Stmt{Sid: "AWSConfigBucketPermissionsCheck", Effect: "Allow", Principal: config, Action: []string{"s3:GetBucketAcl"}, Resource: []string{arn}, Condition: account},
		kit.Stmt{Sid: "AWSConfigBucketExistenceCheck", Effect: "Allow", Principal: config, Action: []string{"s3:ListBucket"}, Resource: []string{arn}, Condition: account},
		kit.Stmt{Sid: "AWSConfigBucketDelivery", Effect: "Allow", Principal: config, Action: []string{"s3:PutObject"}, Resource: []string{arn + "/AWSLogs/" + in.Account + "/Config/*"},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": in.Account, "s3:x-amz-acl": "bucket-owner-full-control"}}},
		kit.DenyInsecureTransport(arn),
	)
}
