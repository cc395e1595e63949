package phases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	aatypes "github.com/aws/aws-sdk-go-v2/service/accessanalyzer/types"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The account guardrails' keys (observability.guardrails).
const (
	keyAnalyzer            = "observability/access-analyzer"
	keyConfigRecorder      = "observability/config-recorder"
	keyConfigBucket        = "observability/config-bucket"
	keyConfigChannel       = "observability/config-delivery-channel"
	keyConfigRecording     = "observability/config-recording"
	analyzerName           = "fvdeploy-account"
	configRecorderName     = "default"
	configChannelName      = "default"
	configServicePrincipal = "config.amazonaws.com"
)

// guardrailResources are the account-wide controls of observability.guardrails: an IAM
// Access Analyzer analyzer of the account, and AWS Config recording every resource
// into a bucket. AWS allows one analyzer of the account, one configuration recorder and
// one delivery channel per region: ones already there are adopted as they are (recorded
// as not owned, never changed, never deleted), and only what fvdeploy created is ever
// updated or deleted.
//
// Several environments of one account and region share them: the first to turn
// guardrails on creates them and owns them, the others adopt them, and destroying the
// owner removes them for all until another environment's next `up` creates them again.
func guardrailResources(in *Inputs) []engine.Resource {
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
func warnAccountWide(in *Inputs, what, cost string) {
	in.Progress("WARNING: ACCOUNT-WIDE CHANGE: %s in account %s, region %s. It covers every workload in this account and region, "+
		"not only %s; %s. Destroying %s deletes it again, whoever relies on it by then (observability.guardrails)",
		what, in.Account, in.Region, in.prefix(), cost, in.prefix())
}

// ---- IAM Access Analyzer ----

type analyzerAPI interface {
	ListAnalyzers(ctx context.Context, in *accessanalyzer.ListAnalyzersInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.ListAnalyzersOutput, error)
	CreateAnalyzer(ctx context.Context, in *accessanalyzer.CreateAnalyzerInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.CreateAnalyzerOutput, error)
	TagResource(ctx context.Context, in *accessanalyzer.TagResourceInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.TagResourceOutput, error)
	DeleteAnalyzer(ctx context.Context, in *accessanalyzer.DeleteAnalyzerInput, opts ...func(*accessanalyzer.Options)) (*accessanalyzer.DeleteAnalyzerOutput, error)
}

// accessAnalyzer is an IAM Access Analyzer analyzer with the account as its zone of
// trust: it reports every resource policy in the region that grants access to someone
// outside the account. An analyzer of the account already there is adopted; otherwise
// fvdeploy creates fvdeploy-account, one per account and region (it is account-wide,
// so not per environment).
type accessAnalyzer struct {
	in  *Inputs
	api analyzerAPI
}

func (r *accessAnalyzer) Key() string         { return keyAnalyzer }
func (r *accessAnalyzer) Type() string        { return "accessanalyzer:analyzer" }
func (r *accessAnalyzer) DependsOn() []string { return nil }

// ours reports whether an analyzer is the one this environment created: its name and
// tags survive a crash between CreateAnalyzer and saving state.
func (r *accessAnalyzer) ours(a aatypes.AnalyzerSummary) bool {
	return aws.ToString(a.Name) == analyzerName && r.in.owns(keyAnalyzer, a.Tags)
}

func (r *accessAnalyzer) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	var all []aatypes.AnalyzerSummary
	pages := accessanalyzer.NewListAnalyzersPaginator(r.api, &accessanalyzer.ListAnalyzersInput{Type: aatypes.TypeAccount})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the IAM Access Analyzer analyzers of the account: %w", err)
		}
		all = append(all, page.Analyzers...)
	}
	slices.SortFunc(all, func(a, b aatypes.AnalyzerSummary) int {
		return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name))
	})
	// The one state records, else the one this environment created, else any working
	// analyzer of the account (one that failed or was disabled guards nothing).
	pick, owned := -1, false
	if id := recID(rec); id != "" {
		if i := slices.IndexFunc(all, func(a aatypes.AnalyzerSummary) bool { return aws.ToString(a.Name) == id }); i >= 0 {
			pick, owned = i, recOwned(rec)
		}
	}
	if pick < 0 {
		if i := slices.IndexFunc(all, r.ours); i >= 0 {
			pick, owned = i, true
		}
	}
	if pick < 0 {
		pick = slices.IndexFunc(all, func(a aatypes.AnalyzerSummary) bool {
			return a.Status == aatypes.AnalyzerStatusActive || a.Status == aatypes.AnalyzerStatusCreating
		})
	}
	if pick < 0 {
		return nil, nil
	}
	a := all[pick]
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(a.Name), ARN: aws.ToString(a.Arn), Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	if a.Status == aatypes.AnalyzerStatusFailed {
		// A failed analyzer cannot be repaired in place, and blocks a new one of its name.
		found.Replace = true
		found.Changes = append(found.Changes, engine.Change{Field: "status", From: string(a.Status), To: string(aatypes.AnalyzerStatusActive)})
	}
	if from, to, drift := tagDrift(r.in.tags(keyAnalyzer), a.Tags); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *accessAnalyzer) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	warnAccountWide(r.in, "creating IAM Access Analyzer analyzer "+analyzerName+" (zone of trust: the account)",
		"it is free, and reports every resource policy that grants access outside the account")
	// The SDK fills in the client token, so that its own retries cannot create two.
	out, err := r.api.CreateAnalyzer(ctx, &accessanalyzer.CreateAnalyzerInput{
		AnalyzerName: aws.String(analyzerName),
		Type:         aatypes.TypeAccount,
		Tags:         r.in.tags(keyAnalyzer),
	})
	if err != nil {
		return nil, fmt.Errorf("creating IAM Access Analyzer analyzer %s: %w", analyzerName, err)
	}
	return &state.Resource{ID: analyzerName, ARN: aws.ToString(out.Arn), Attrs: ownedAttrs(true)}, nil
}

// Update re-tags the analyzer: only one fvdeploy owns has changes.
func (r *accessAnalyzer) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	_, err := r.api.TagResource(ctx, &accessanalyzer.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: r.in.tags(keyAnalyzer)})
	if err != nil {
		return nil, fmt.Errorf("tagging IAM Access Analyzer analyzer %s: %w", found.Record.ID, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the analyzer only if fvdeploy created it; an adopted one is the
// account's and stays.
func (r *accessAnalyzer) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	if _, err := r.api.DeleteAnalyzer(ctx, &accessanalyzer.DeleteAnalyzerInput{AnalyzerName: aws.String(rec.ID)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting IAM Access Analyzer analyzer %s: %w", rec.ID, err)
	}
	return nil
}

// ---- AWS Config: the configuration recorder ----

type channelDescribeAPI interface {
	DescribeDeliveryChannels(ctx context.Context, in *configservice.DescribeDeliveryChannelsInput, opts ...func(*configservice.Options)) (*configservice.DescribeDeliveryChannelsOutput, error)
}

type configRecorderAPI interface {
	channelDescribeAPI
	DescribeConfigurationRecorders(ctx context.Context, in *configservice.DescribeConfigurationRecordersInput, opts ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecordersOutput, error)
	PutConfigurationRecorder(ctx context.Context, in *configservice.PutConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.PutConfigurationRecorderOutput, error)
	DeleteConfigurationRecorder(ctx context.Context, in *configservice.DeleteConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.DeleteConfigurationRecorderOutput, error)
}

// configRecorder is the region's AWS Config configuration recorder. AWS allows one
// (customer managed) per region: one that exists is adopted as it is, whatever its
// settings; otherwise fvdeploy creates "default", recording with AWS Config's
// service-linked role.
type configRecorder struct {
	in  *Inputs
	api configRecorderAPI
	iam serviceLinkedRoleAPI
}

func (r *configRecorder) Key() string         { return keyConfigRecorder }
func (r *configRecorder) Type() string        { return "config:configuration-recorder" }
func (r *configRecorder) DependsOn() []string { return nil }

// configRoleARN is AWS Config's service-linked role, which iam:CreateServiceLinkedRole
// for config.amazonaws.com creates.
func configRoleARN(in *Inputs) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/aws-service-role/%s/AWSServiceRoleForConfig", awsPartition(in.Region), in.Account, configServicePrincipal)
}

// recordingGroup records every resource type AWS Config supports in the region, and the
// global ones (IAM users, groups, roles, policies) too: who can do what in the account
// is what an audit asks first, and AWS Config records IAM only where this is on. Where
// fvdeploy runs in several regions of one account, each recorder it creates records IAM
// again, a few items billed twice; IAM changes seldom, which keeps that small.
func recordingGroup() *cfgtypes.RecordingGroup {
	return &cfgtypes.RecordingGroup{AllSupported: true, IncludeGlobalResourceTypes: true}
}

func recorderSettings(roleARN string, g *cfgtypes.RecordingGroup) map[string]string {
	if g == nil {
		g = &cfgtypes.RecordingGroup{}
	}
	return map[string]string{
		"role_arn":                      roleARN,
		"all_supported":                 strconv.FormatBool(g.AllSupported),
		"include_global_resource_types": strconv.FormatBool(g.IncludeGlobalResourceTypes),
	}
}

// customerRecorder is the region's customer managed recorder, nil when there is none.
// Service-linked recorders (other AWS services' own) are not the account's to adopt.
func customerRecorder(ctx context.Context, api configRecorderAPI) (*cfgtypes.ConfigurationRecorder, error) {
	out, err := api.DescribeConfigurationRecorders(ctx, &configservice.DescribeConfigurationRecordersInput{})
	if err != nil {
		return nil, fmt.Errorf("describing the AWS Config configuration recorders: %w", err)
	}
	for i, rc := range out.ConfigurationRecorders {
		if rc.ServicePrincipal == nil {
			return &out.ConfigurationRecorders[i], nil
		}
	}
	return nil, nil
}

// deliveryChannel is the region's delivery channel, nil when there is none (AWS allows
// one).
func deliveryChannel(ctx context.Context, api channelDescribeAPI) (*cfgtypes.DeliveryChannel, error) {
	out, err := api.DescribeDeliveryChannels(ctx, &configservice.DescribeDeliveryChannelsInput{})
	if err != nil {
		return nil, fmt.Errorf("describing the AWS Config delivery channels: %w", err)
	}
	if len(out.DeliveryChannels) == 0 {
		return nil, nil
	}
	return &out.DeliveryChannels[0], nil
}

func (r *configRecorder) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	rc, err := customerRecorder(ctx, r.api)
	if err != nil || rc == nil {
		return nil, err
	}
	name := aws.ToString(rc.Name)
	var owned bool
	if rec != nil {
		owned = recOwned(rec) && rec.ID == name
	} else {
		// No record (lost state, or a crash before it was saved): a recorder has no tags
		// fvdeploy can read back, but one whose channel delivers to this environment's
		// config bucket (which is tagged as ours) is ours.
		ch, err := deliveryChannel(ctx, r.api)
		if err != nil {
			return nil, err
		}
		owned = ch != nil && aws.ToString(ch.S3BucketName) == configBucketName(r.in)
	}
	found := &engine.Found{Record: state.Resource{ID: name, ARN: aws.ToString(rc.Arn), Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	live := recorderSettings(aws.ToString(rc.RoleARN), rc.RecordingGroup)
	want := recorderSettings(configRoleARN(r.in), recordingGroup())
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if live[k] != want[k] {
			found.Changes = append(found.Changes, engine.Change{Field: k, From: live[k], To: want[k]})
		}
	}
	return found, nil
}

func (r *configRecorder) put(ctx context.Context, name string, tags []cfgtypes.Tag) error {
	in := &configservice.PutConfigurationRecorderInput{
		ConfigurationRecorder: &cfgtypes.ConfigurationRecorder{Name: aws.String(name), RoleARN: aws.String(configRoleARN(r.in)), RecordingGroup: recordingGroup()},
		Tags:                  tags,
	}
	// A service-linked role created a moment ago may not be assumable by AWS Config yet.
	deadline := time.Now().Add(time.Minute)
	return r.in.waitFor(ctx, "AWS Config to accept its service-linked role", func(ctx context.Context) (bool, string, error) {
		_, err := r.api.PutConfigurationRecorder(ctx, in)
		if code := errorCode(err); code == "InvalidRoleException" && time.Now().Before(deadline) {
			return false, code, nil
		}
		return err == nil, "", err
	})
}

func (r *configRecorder) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	warnAccountWide(r.in, "turning on AWS Config: configuration recorder "+configRecorderName+" recording every supported resource type, IAM included, into bucket "+configBucketName(r.in),
		"AWS Config bills every configuration item it records (every change to every resource), and the first month records everything once")
	if err := ensureServiceLinkedRole(ctx, r.in, r.iam, configServicePrincipal, "AWSServiceRoleForConfig"); err != nil {
		return nil, err
	}
	// Tags are accepted only when the recorder is created.
	if err := r.put(ctx, configRecorderName, configTags(r.in.tags(keyConfigRecorder))); err != nil {
		return nil, fmt.Errorf("creating AWS Config recorder %s: %w", configRecorderName, err)
	}
	return &state.Resource{ID: configRecorderName, Attrs: ownedAttrs(true)}, nil
}

// Update puts fvdeploy's settings back on a recorder it owns (an adopted one has no
// changes).
func (r *configRecorder) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.put(ctx, found.Record.ID, nil); err != nil {
		return nil, fmt.Errorf("updating AWS Config recorder %s: %w", found.Record.ID, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes a recorder fvdeploy created, after observability/config-recording has
// stopped it and the delivery channel is gone (both depend on it). Its service-linked
// role stays: it is AWS Config's, shared with whatever else uses AWS Config.
func (r *configRecorder) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.DeleteConfigurationRecorder(ctx, &configservice.DeleteConfigurationRecorderInput{ConfigurationRecorderName: aws.String(rec.ID)})
	if err != nil && errorCode(err) != "NoSuchConfigurationRecorderException" && !isNotFound(err) {
		return fmt.Errorf("deleting AWS Config recorder %s: %w", rec.ID, err)
	}
	return nil
}

func configTags(tags map[string]string) []cfgtypes.Tag {
	return tagList(tags, func(k, v *string) cfgtypes.Tag { return cfgtypes.Tag{Key: k, Value: v} })
}

// ---- AWS Config: the delivery bucket ----

func configBucketName(in *Inputs) string { return bucketName(in, "config") }

// configBucket is where the delivery channel fvdeploy creates delivers, encrypted with
// S3-managed keys: a configured KMS key would need a key policy that lets AWS Config
// use it, which fvdeploy does not manage. It is declared whenever guardrails are on,
// even when an adopted delivery channel delivers elsewhere and it stays empty: whether
// the account has a channel is known only once the walk runs, and an empty bucket costs
// nothing.
func configBucket(in *Inputs) *logBucket {
	return &logBucket{in: in, api: in.AWS.S3(), kms: in.AWS.KMS(), key: keyConfigBucket, name: configBucketName(in), policy: configBucketPolicy}
}

// configBucketPolicy is AWS's documented policy for a Config delivery bucket: AWS Config,
// on behalf of this account only (aws:SourceAccount), may check the bucket's ACL and
// existence and write under AWSLogs/<account>/Config/ as the bucket owner's objects.
func configBucketPolicy(in *Inputs, bucket string) string {
	arn := bucketARN(in, bucket)
	config := map[string]string{"Service": configServicePrincipal}
	account := map[string]map[string]any{"StringEquals": {"aws:SourceAccount": in.Account}}
	return policyDoc(
		stmt{Sid: "AWSConfigBucketPermissionsCheck", Effect: "Allow", Principal: config, Action: []string{"s3:GetBucketAcl"}, Resource: []string{arn}, Condition: account},
		stmt{Sid: "AWSConfigBucketExistenceCheck", Effect: "Allow", Principal: config, Action: []string{"s3:ListBucket"}, Resource: []string{arn}, Condition: account},
		stmt{Sid: "AWSConfigBucketDelivery", Effect: "Allow", Principal: config, Action: []string{"s3:PutObject"}, Resource: []string{arn + "/AWSLogs/" + in.Account + "/Config/*"},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": in.Account, "s3:x-amz-acl": "bucket-owner-full-control"}}},
		denyInsecureTransport(arn),
	)
}

// ---- AWS Config: the delivery channel ----

type configChannelAPI interface {
	channelDescribeAPI
	PutDeliveryChannel(ctx context.Context, in *configservice.PutDeliveryChannelInput, opts ...func(*configservice.Options)) (*configservice.PutDeliveryChannelOutput, error)
	DeleteDeliveryChannel(ctx context.Context, in *configservice.DeleteDeliveryChannelInput, opts ...func(*configservice.Options)) (*configservice.DeleteDeliveryChannelOutput, error)
}

// configChannel is the region's AWS Config delivery channel. One that exists is adopted
// as it is; otherwise fvdeploy creates "default", delivering to the config bucket.
type configChannel struct {
	in  *Inputs
	api configChannelAPI
}

func (r *configChannel) Key() string         { return keyConfigChannel }
func (r *configChannel) Type() string        { return "config:delivery-channel" }
func (r *configChannel) DependsOn() []string { return []string{keyConfigRecorder, keyConfigBucket} }

func (r *configChannel) bucket(deps engine.Deps) string {
	if b := deps.Get(keyConfigBucket); b != nil {
		return b.ID
	}
	return configBucketName(r.in)
}

// Find needs neither dependency to exist: an account's own channel is adopted even when
// a plan has not created the bucket yet.
func (r *configChannel) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	ch, err := deliveryChannel(ctx, r.api)
	if err != nil || ch == nil {
		return nil, err
	}
	name, bucket := aws.ToString(ch.Name), aws.ToString(ch.S3BucketName)
	var owned bool
	if rec != nil {
		owned = recOwned(rec) && rec.ID == name
	} else {
		// Delivering to this environment's bucket, which is tagged as ours, makes it ours.
		owned = bucket == configBucketName(r.in)
	}
	found := &engine.Found{Record: state.Resource{ID: name, Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	if want := r.bucket(deps); bucket != want {
		found.Changes = append(found.Changes, engine.Change{Field: "s3_bucket", From: bucket, To: want})
	}
	return found, nil
}

func (r *configChannel) put(ctx context.Context, name, bucket string) error {
	in := &configservice.PutDeliveryChannelInput{DeliveryChannel: &cfgtypes.DeliveryChannel{Name: aws.String(name), S3BucketName: aws.String(bucket)}}
	// AWS Config checks the bucket policy here, and one put a moment ago may not be
	// visible to it yet.
	deadline := time.Now().Add(time.Minute)
	return r.in.waitFor(ctx, "the config bucket's policy to reach AWS Config", func(ctx context.Context) (bool, string, error) {
		_, err := r.api.PutDeliveryChannel(ctx, in)
		if code := errorCode(err); code == "InsufficientDeliveryPolicyException" && time.Now().Before(deadline) {
			return false, code, nil
		}
		return err == nil, "", err
	})
}

func (r *configChannel) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	bucket := r.bucket(deps)
	if err := r.put(ctx, configChannelName, bucket); err != nil {
		return nil, fmt.Errorf("creating AWS Config delivery channel %s to bucket %s: %w", configChannelName, bucket, err)
	}
	return &state.Resource{ID: configChannelName, Attrs: ownedAttrs(true)}, nil
}

func (r *configChannel) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	bucket := r.bucket(deps)
	if err := r.put(ctx, found.Record.ID, bucket); err != nil {
		return nil, fmt.Errorf("pointing AWS Config delivery channel %s at bucket %s: %w", found.Record.ID, bucket, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes a channel fvdeploy created. AWS refuses while the recorder records:
// observability/config-recording, which depends on the channel, has stopped it by now.
func (r *configChannel) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.DeleteDeliveryChannel(ctx, &configservice.DeleteDeliveryChannelInput{DeliveryChannelName: aws.String(rec.ID)})
	switch code := errorCode(err); {
	case err == nil, code == "NoSuchDeliveryChannelException", isNotFound(err):
		return nil
	case code == "LastDeliveryChannelDeleteFailedException":
		return fmt.Errorf("deleting AWS Config delivery channel %s: the configuration recorder is still recording (stop it with `aws configservice stop-configuration-recorder`): %w", rec.ID, err)
	}
	return fmt.Errorf("deleting AWS Config delivery channel %s: %w", rec.ID, err)
}

// ---- AWS Config: recording ----

type configRecordingAPI interface {
	DescribeConfigurationRecorderStatus(ctx context.Context, in *configservice.DescribeConfigurationRecorderStatusInput, opts ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error)
	StartConfigurationRecorder(ctx context.Context, in *configservice.StartConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.StartConfigurationRecorderOutput, error)
	StopConfigurationRecorder(ctx context.Context, in *configservice.StopConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.StopConfigurationRecorderOutput, error)
}

// configRecording is the recorder fvdeploy owns recording; it can start only once the
// delivery channel exists. The recording of an adopted recorder is left as it is.
type configRecording struct {
	in  *Inputs
	api configRecordingAPI
}

func (r *configRecording) Key() string  { return keyConfigRecording }
func (r *configRecording) Type() string { return "config:recording" }
func (r *configRecording) DependsOn() []string {
	return []string{keyConfigRecorder, keyConfigChannel}
}

// Find reports an owned recorder that is not recording as absent, so that starting it
// reads as a creation in a plan, and one stopped since (drift) is started again.
func (r *configRecording) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	recorder := deps.Get(keyConfigRecorder)
	if recorder == nil || deps.Get(keyConfigChannel) == nil {
		return nil, nil
	}
	out, err := r.api.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{ConfigurationRecorderNames: []string{recorder.ID}})
	if errorCode(err) == "NoSuchConfigurationRecorderException" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the status of AWS Config recorder %s: %w", recorder.ID, err)
	}
	recording := len(out.ConfigurationRecordersStatus) > 0 && out.ConfigurationRecordersStatus[0].Recording
	owned := recOwned(recorder)
	if owned && !recording {
		return nil, nil
	}
	if !recording {
		r.in.Progress("note: AWS Config recorder %s, which fvdeploy did not create, is not recording; fvdeploy leaves it as it is", recorder.ID)
	}
	return &engine.Found{Record: state.Resource{ID: recorder.ID, Attrs: ownedAttrs(owned)}}, nil
}

func (r *configRecording) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	recorder := deps.Get(keyConfigRecorder)
	if !recOwned(recorder) {
		return nil, fmt.Errorf("AWS Config recorder %s is not fvdeploy's to start", recorder.ID)
	}
	if _, err := r.api.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String(recorder.ID)}); err != nil {
		return nil, fmt.Errorf("starting AWS Config recorder %s: %w", recorder.ID, err)
	}
	return &state.Resource{ID: recorder.ID, Attrs: ownedAttrs(true)}, nil
}

// Update has nothing to do: Find reports no changes.
func (r *configRecording) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

// Delete stops a recorder fvdeploy created, first of the AWS Config resources: its
// delivery channel cannot be deleted while it records.
func (r *configRecording) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.StopConfigurationRecorder(ctx, &configservice.StopConfigurationRecorderInput{ConfigurationRecorderName: aws.String(rec.ID)})
	if err != nil && errorCode(err) != "NoSuchConfigurationRecorderException" && !isNotFound(err) {
		return fmt.Errorf("stopping AWS Config recorder %s: %w", rec.ID, err)
	}
	return nil
}
