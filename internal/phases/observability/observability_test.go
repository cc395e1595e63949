package observability_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/status"
)

func envAlarms(t *testing.T, in *kit.Inputs) map[string]cwtypes.MetricAlarm {
	t.Helper()
	m, err := observability.DescribeAlarms(context.Background(), in.AWS.CloudWatch(), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(in.Prefix() + "-")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dimString(dims []cwtypes.Dimension) string {
	var out []string
	for _, d := range dims {
		out = append(out, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func listTopicSubscribers(t *testing.T, in *kit.Inputs, topicARN string) []string {
	t.Helper()
	subs, err := observability.ListSubscriptions(context.Background(), in.AWS.SNS(), topicARN)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range subs {
		out = append(out, aws.ToString(s.Protocol)+":"+aws.ToString(s.Endpoint))
	}
	slices.Sort(out)
	return out
}

const relayURL = "https://relay.example.com/hooks/T0KEN-in-the-path"

func TestObservabilityProdAlarmsTopicTrailAccessLogs(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	o := &in.Config.Observability
	o.CloudTrail, o.ALBAccessLogs = true, true
	in.Config.Alarms.Email = []string{"ops@example.com", "oncall@example.com"}
	in.Config.Alarms.HTTPS = []string{relayURL}
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)

	phasetest.ApplyScoped(t, in, doc, "observability")

	// ---- the topic, its key and its subscribers ----
	topic := doc.Resources[observability.KeyTopic]
	if topic == nil || topic.ARN != "arn:aws:sns:us-east-1:123456789012:fastapi-vars-prod-alerts" {
		t.Fatalf("topic record %+v", topic)
	}
	attrs, err := in.AWS.SNS().GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topic.ARN})
	if err != nil {
		t.Fatal(err)
	}
	kmsc := in.AWS.KMS()
	key, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/fvdeploy/fastapi-vars-prod")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := attrs.Attributes["KmsMasterKeyId"], aws.ToString(key.KeyMetadata.Arn); got != want || want == "" {
		t.Errorf("topic encrypted with %q, want the customer managed key %q", got, want)
	}
	pol, err := kmsc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	cloudwatchMayUse := false
	for _, s := range phasetest.PolicyStatements(t, aws.ToString(pol.Policy)) {
		if p, _ := s["Principal"].(map[string]any); p["Service"] == "cloudwatch.amazonaws.com" && s["Effect"] == "Allow" {
			cloudwatchMayUse = slices.Equal(kit.SortedList(s["Action"]), []any{"kms:Decrypt", "kms:GenerateDataKey*"})
		}
	}
	if !cloudwatchMayUse {
		t.Errorf("the topic key's policy does not let CloudWatch alarms publish: %s", aws.ToString(pol.Policy))
	}
	if rot, err := kmsc.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: key.KeyMetadata.KeyId}); err != nil || !rot.KeyRotationEnabled {
		t.Errorf("topic key rotation: %+v %v", rot, err)
	}
	wantSubs := []string{"email:oncall@example.com", "email:ops@example.com", "https:" + relayURL}
	if got := listTopicSubscribers(t, in, topic.ARN); !slices.Equal(got, wantSubs) {
		t.Errorf("subscribers %v, want %v", got, wantSubs)
	}
	if strings.Contains(progress.String(), "T0KEN") {
		t.Errorf("the webhook URL's path was shown:\n%s", progress)
	}

	// ---- the alarms: metrics, dimensions, thresholds, actions ----
	lbFull := observability.ARNTail(doc.Resources[kit.KeyALB].ARN, ":loadbalancer/")
	tgFull := observability.ARNTail(doc.Resources[kit.KeyTG].ARN, ":")
	if !strings.HasPrefix(lbFull, "app/fastapi-vars-prod/") || !strings.HasPrefix(tgFull, "targetgroup/fastapi-vars-prod/") {
		t.Fatalf("full names %q %q", lbFull, tgFull)
	}
	lbDims, tgDims := "LoadBalancer="+lbFull, "LoadBalancer="+lbFull+",TargetGroup="+tgFull
	svcDims := "ClusterName=fastapi-vars-prod,ServiceName=fastapi-vars-prod"
	want := map[string]struct {
		metric, stat, dims, op, missing string
		threshold                       float64
	}{
		"alb-5xx-elb": {"AWS/ApplicationELB/HTTPCode_ELB_5XX_Count", "Sum", lbDims, "GreaterThanThreshold", "notBreaching", 10},
		// Prod's canary serves a new revision from either target group: its deployment
		// alarms watch the whole load balancer.
		"alb-5xx-target":      {"AWS/ApplicationELB/HTTPCode_Target_5XX_Count", "Sum", lbDims, "GreaterThanThreshold", "notBreaching", 10},
		"alb-p95-latency":     {"AWS/ApplicationELB/TargetResponseTime", "p95", lbDims, "GreaterThanThreshold", "notBreaching", 1},
		"ecs-cpu":             {"AWS/ECS/CPUUtilization", "Average", svcDims, "GreaterThanThreshold", "notBreaching", 80},
		"ecs-memory":          {"AWS/ECS/MemoryUtilization", "Average", svcDims, "GreaterThanThreshold", "notBreaching", 80},
		"alb-unhealthy-hosts": {"AWS/ApplicationELB/UnHealthyHostCount", "Maximum", tgDims, "GreaterThanThreshold", "notBreaching", 0},
		"ecs-running-tasks":   {"ECS/ContainerInsights/RunningTaskCount", "Average", svcDims, "LessThanThreshold", "breaching", 2},
	}
	alarms := envAlarms(t, in)
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d: %v", len(alarms), len(want), slices.Sorted(maps.Keys(alarms)))
	}
	for name, w := range want {
		a, ok := alarms["fastapi-vars-prod-"+name]
		if !ok {
			t.Errorf("alarm %s missing", name)
			continue
		}
		stat := string(a.Statistic)
		if e := aws.ToString(a.ExtendedStatistic); e != "" {
			stat = e
		}
		got := fmt.Sprintf("%s/%s %s [%s] %s %g missing=%s", aws.ToString(a.Namespace), aws.ToString(a.MetricName), stat, dimString(a.Dimensions),
			a.ComparisonOperator, aws.ToFloat64(a.Threshold), aws.ToString(a.TreatMissingData))
		exp := fmt.Sprintf("%s %s [%s] %s %g missing=%s", w.metric, w.stat, w.dims, w.op, w.threshold, w.missing)
		if got != exp {
			t.Errorf("alarm %s:\n got %s\nwant %s", name, got, exp)
		}
		if !slices.Equal(a.AlarmActions, []string{topic.ARN}) || !slices.Equal(a.OKActions, []string{topic.ARN}) || !aws.ToBool(a.ActionsEnabled) {
			t.Errorf("alarm %s actions %v OK %v enabled %v, want the topic for both", name, a.AlarmActions, a.OKActions, aws.ToBool(a.ActionsEnabled))
		}
		if aws.ToInt32(a.Period) != 60 || aws.ToInt32(a.EvaluationPeriods) != 5 || aws.ToInt32(a.DatapointsToAlarm) != 3 {
			t.Errorf("alarm %s: period %d, %d of %d", name, aws.ToInt32(a.Period), aws.ToInt32(a.DatapointsToAlarm), aws.ToInt32(a.EvaluationPeriods))
		}
		if !strings.Contains(aws.ToString(a.AlarmDescription), "Runbook: ") {
			t.Errorf("alarm %s description has no runbook hint: %q", name, aws.ToString(a.AlarmDescription))
		}
	}

	// ---- the trail and its bucket ----
	bucket := "fastapi-vars-prod-trail-123456789012-us-east-1"
	tr, err := in.AWS.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("fastapi-vars-prod-audit")})
	if err != nil {
		t.Fatal(err)
	}
	if tt := tr.Trail; aws.ToString(tt.S3BucketName) != bucket || !aws.ToBool(tt.IsMultiRegionTrail) || !aws.ToBool(tt.LogFileValidationEnabled) {
		t.Errorf("trail: bucket %s multi-region %v validation %v", aws.ToString(tt.S3BucketName), aws.ToBool(tt.IsMultiRegionTrail), aws.ToBool(tt.LogFileValidationEnabled))
	}
	if st, err := in.AWS.CloudTrail().GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: tr.Trail.TrailARN}); err != nil || !aws.ToBool(st.IsLogging) {
		t.Errorf("trail not logging: %+v %v", st, err)
	}
	phasetest.AssertPrivateBucket(t, in, bucket, "AES256")
	if got := aws.ToString(tr.Trail.KmsKeyId); got != aws.ToString(key.KeyMetadata.Arn) {
		t.Errorf("trail encrypted with %q, want the environment's key %s", got, aws.ToString(key.KeyMetadata.Arn))
	}
	s3c := in.AWS.S3()
	bp, err := s3c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range phasetest.PolicyStatements(t, aws.ToString(bp.Policy)) {
		if s["Effect"] != "Allow" {
			continue
		}
		p, _ := s["Principal"].(map[string]any)
		cond, _ := s["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if p["Service"] != "cloudtrail.amazonaws.com" || fmt.Sprint(eq["aws:SourceArn"]) != aws.ToString(tr.Trail.TrailARN) || fmt.Sprint(eq["aws:SourceAccount"]) != in.Account {
			t.Errorf("trail bucket lets someone other than this trail in: %v", s)
		}
		if slices.Contains(kit.SortedList(s["Action"]), any("s3:PutObject")) && eq["s3:x-amz-acl"] != "bucket-owner-full-control" {
			t.Errorf("CloudTrail writes without bucket-owner-full-control: %v", s)
		}
	}

	// ---- the ALB's access logs ----
	logsBucket := "fastapi-vars-prod-alb-logs-123456789012-us-east-1"
	lbAttrs, err := in.AWS.ELB().DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(doc.Resources[kit.KeyALB].ARN)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range lbAttrs.Attributes {
		got[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if got[observability.AttrAccessLogsEnabled] != "true" || got[observability.AttrAccessLogsBucket] != logsBucket {
		t.Errorf("ALB access logs: enabled %q bucket %q", got[observability.AttrAccessLogsEnabled], got[observability.AttrAccessLogsBucket])
	}
	phasetest.AssertPrivateBucket(t, in, logsBucket, "AES256")
	bp, err = s3c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &logsBucket})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(bp.Policy), `"arn:aws:iam::127311923021:root"`) {
		t.Errorf("access log bucket policy does not name us-east-1's ELB log delivery account: %s", aws.ToString(bp.Policy))
	}

	// ---- converged: nothing to do, nothing called that changes anything ----
	mark := len(rec.Calls())
	res := phasetest.ApplyScoped(t, in, doc, "observability")
	if res.Changed() {
		t.Errorf("second apply changed %+v", res.Items)
	}
	if m := phasetest.Mutations(rec, mark); len(m) != 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}

	// ---- drift: a log bucket that honours ACLs again and stopped versioning ----
	if _, err := s3c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: &logsBucket, OwnershipControls: &s3types.OwnershipControls{
		Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipObjectWriter}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &logsBucket, VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	if it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "observability"), observability.KeyALBLogsBucket); fmt.Sprint(it.Changes) != `[object_ownership: "ObjectWriter" -> "BucketOwnerEnforced" versioning: "Suspended" -> "Enabled"]` {
		t.Errorf("plan of the drifted access log bucket: %s %v", it.Action, it.Changes)
	}
	mark = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, mark); !slices.Equal(m, []string{"S3.PutBucketOwnershipControls", "S3.PutBucketVersioning"}) {
		t.Errorf("repairing the access log bucket took %v", m)
	}
	phasetest.AssertPrivateBucket(t, in, logsBucket, "AES256")

	// ---- state lost: everything is found again by name, alias and tags, not duplicated ----
	lost := phasetest.NewDoc(in)
	for _, k := range fakes {
		lost.Resources[k] = doc.Resources[k]
	}
	mark = len(rec.Calls())
	phasetest.ApplyScoped(t, in, lost, "observability")
	if m := phasetest.Mutations(rec, mark); len(m) != 0 {
		t.Errorf("apply with lost state made mutating calls: %v", m)
	}
	if len(lost.Resources) != len(doc.Resources) || lost.Resources[kit.KeyEnvKey].ID != doc.Resources[kit.KeyEnvKey].ID {
		t.Errorf("adopted %d resources (key %s), want %d (key %s)", len(lost.Resources), lost.Resources[kit.KeyEnvKey].ID, len(doc.Resources), doc.Resources[kit.KeyEnvKey].ID)
	}

	// ---- status ----
	deployed := phases.DeployedObjects(doc)
	states, err := status.Alarms(ctx, in.AWS.CloudWatch(), deployed.Alarms)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 7 || states[0].Name != "fastapi-vars-prod-alb-5xx-elb" || states[0].State == "" {
		t.Errorf("alarm states %+v", states)
	}
	subs, err := status.Subscriptions(ctx, in.AWS.SNS(), deployed.AlarmTopic)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, s := range subs {
		shown = append(shown, fmt.Sprintf("%s:%s:%v", s.Protocol, s.Endpoint, s.Confirmed))
	}
	slices.Sort(shown)
	// moto confirms every subscription at once; AWS leaves email and HTTPS ones pending
	// until the recipient confirms (see TestSubscriptionsPendingAndOtherProtocols).
	if len(shown) != 3 || !strings.HasPrefix(shown[2], "https:https://relay.example.com/…#") || strings.Contains(shown[2], "T0KEN") {
		t.Errorf("subscriptions shown %v", shown)
	}

	// ---- drift out of band is shown and put right ----
	cw := in.AWS.CloudWatch()
	a := alarms["fastapi-vars-prod-alb-5xx-elb"]
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: a.AlarmName, AlarmDescription: a.AlarmDescription, Namespace: a.Namespace,
		MetricName: a.MetricName, Statistic: a.Statistic, Dimensions: a.Dimensions, Period: a.Period, EvaluationPeriods: a.EvaluationPeriods,
		DatapointsToAlarm: a.DatapointsToAlarm, Threshold: aws.Float64(500), ComparisonOperator: a.ComparisonOperator, TreatMissingData: a.TreatMissingData,
		ActionsEnabled: a.ActionsEnabled, AlarmActions: a.AlarmActions, OKActions: a.OKActions}); err != nil {
		t.Fatal(err)
	}
	for _, s := range mustList(t, in, topic.ARN) {
		if aws.ToString(s.Endpoint) == "ops@example.com" {
			if _, err := in.AWS.SNS().Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: s.SubscriptionArn}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := in.AWS.SNS().Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topic.ARN, Protocol: aws.String("email"), Endpoint: aws.String("stray@example.com")}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.AWS.CloudTrail().StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: tr.Trail.TrailARN}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	plan := phasetest.PlanPhases(t, in, doc, "observability")
	changed := map[string]string{}
	for _, it := range plan.Items {
		if it.Action != engine.NoOp {
			var fields []string
			for _, c := range it.Changes {
				fields = append(fields, c.Field)
			}
			slices.Sort(fields)
			changed[it.Key] = strings.Join(fields, ",")
		}
	}
	wantChanged := map[string]string{
		"observability/alarm-alb-5xx-elb": "threshold",
		observability.KeySubscriptions:    "subscribe,unsubscribe",
		observability.KeyTrail:            "logging",
		observability.KeyTrailBucket:      "block_public_access",
	}
	if !maps.Equal(changed, wantChanged) {
		t.Errorf("plan after drift:\n got %v\nwant %v", changed, wantChanged)
	}
	phasetest.ApplyScoped(t, in, doc, "observability")
	if got := listTopicSubscribers(t, in, topic.ARN); !slices.Equal(got, wantSubs) {
		t.Errorf("subscribers after repair %v, want %v", got, wantSubs)
	}
	if a := envAlarms(t, in)["fastapi-vars-prod-alb-5xx-elb"]; aws.ToFloat64(a.Threshold) != 10 {
		t.Errorf("alarm threshold after repair: %g, want 10", aws.ToFloat64(a.Threshold))
	}
	phasetest.AssertPrivateBucket(t, in, bucket, "AES256")
	mark = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, mark); len(m) != 0 {
		t.Errorf("apply after repair made mutating calls: %v", m)
	}

	// ---- destroy keeps a bucket that holds logs, unless told to purge ----
	// moto enforces the bucket policy's deny on object calls, and its endpoint is plain
	// HTTP, which the TLS-only statement refuses: the test's log file goes in without it.
	if _, err := s3c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("AWSLogs/123456789012/CloudTrail/us-east-1/log.json.gz"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	err = phasetest.DestroyExpecting(t, in, doc, fakes)
	if !errors.Is(err, kinds.ErrDataKept) || !strings.Contains(err.Error(), bucket) || !strings.Contains(err.Error(), "fvdeploy destroy --purge-data") {
		t.Fatalf("destroy with logs in the trail bucket: %v", err)
	}
	if keys := slices.Sorted(maps.Keys(doc.Resources)); !slices.Equal(keys, []string{observability.KeyTrailBucket}) {
		t.Errorf("state after a destroy that kept the bucket: %v, want only %s", keys, observability.KeyTrailBucket)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("the kept bucket is gone: %v", err)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &logsBucket}); err == nil {
		t.Error("the empty access log bucket was not deleted")
	}
	if left := envAlarms(t, in); len(left) != 0 {
		t.Errorf("alarms left: %v", slices.Sorted(maps.Keys(left)))
	}
	if _, err := in.AWS.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: tr.Trail.TrailARN}); !kit.IsNotFound(err) {
		t.Errorf("trail after destroy: %v", err)
	}
	if _, err := in.AWS.SNS().GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topic.ARN}); !kit.IsNotFound(err) {
		t.Errorf("topic after destroy: %v", err)
	}
	// The key is the secrets phase's (the stand-in records), not this phase's to delete.
	if k, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil || k.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
		t.Errorf("the environment's key after destroying the observability phase: %v, want it enabled", err)
	}
	in.PurgeData = true
	if err := phasetest.DestroyExpecting(t, in, doc, nil); err != nil {
		t.Fatalf("destroy --purge-data: %v", err)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil || len(doc.Resources) != 0 {
		t.Errorf("after purge: bucket still there (%v) or state holds %v", err, slices.Collect(maps.Keys(doc.Resources)))
	}
}

func mustList(t *testing.T, in *kit.Inputs, topicARN string) []snstypes.Subscription {
	t.Helper()
	subs, err := observability.ListSubscriptions(context.Background(), in.AWS.SNS(), topicARN)
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

func TestObservabilityConfiguredKeyNoInsightsAndSwitchingTheTrailOff(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "hml", nil)
	key, err := in.AWS.KMS().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("the team's key")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.AWS.KMS().CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/team"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	in.Config.Observability.KMSKeyID = "alias/team"
	in.Config.Observability.CloudTrail = true
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)

	phasetest.ApplyScoped(t, in, doc, "observability")
	if doc.Resources[kit.KeyEnvKey] != nil {
		t.Error("a topic key was made although one is configured")
	}
	topicARN := doc.Resources[observability.KeyTopic].ARN
	attrs, err := in.AWS.SNS().GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topicARN})
	if err != nil || attrs.Attributes["KmsMasterKeyId"] != keyARN {
		t.Errorf("topic key %q (%v), want %s", attrs.Attributes["KmsMasterKeyId"], err, keyARN)
	}
	bucket := "fastapi-vars-hml-trail-123456789012-us-east-1"
	phasetest.AssertPrivateBucket(t, in, bucket, "aws:kms")
	enc, err := in.AWS.S3().GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.KMSMasterKeyID); got != keyARN {
		t.Errorf("trail bucket key %q, want %s", got, keyARN)
	}
	tr, err := in.AWS.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("fastapi-vars-hml-audit")})
	if err != nil || aws.ToString(tr.Trail.KmsKeyId) != keyARN {
		t.Errorf("trail key %+v (%v), want %s", tr, err, keyARN)
	}
	// hml runs without Container Insights: the task count comes from the target group.
	running := envAlarms(t, in)["fastapi-vars-hml-ecs-running-tasks"]
	tgFull := observability.ARNTail(doc.Resources[kit.KeyTG].ARN, ":")
	if aws.ToString(running.MetricName) != "HealthyHostCount" || running.Statistic != cwtypes.StatisticMinimum ||
		!strings.Contains(dimString(running.Dimensions), "TargetGroup="+tgFull) || aws.ToFloat64(running.Threshold) != 2 {
		t.Errorf("running-task alarm without Container Insights: %s %s %s < %g", aws.ToString(running.MetricName), running.Statistic, dimString(running.Dimensions), aws.ToFloat64(running.Threshold))
	}
	mark := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, mark); len(m) != 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}

	// Switched off, the trail and its (empty) bucket go; what the current config no
	// longer declares is deleted with the phase's deleters.
	in.Config.Observability.CloudTrail = false
	res := phasetest.ApplyScoped(t, in, doc, "observability")
	for _, k := range []string{observability.KeyTrail, observability.KeyTrailBucket} {
		if it := phasetest.Item(res, k); it.Action != engine.Delete || doc.Resources[k] != nil {
			t.Errorf("%s after switching the trail off: %s, in state: %v", k, it.Action, doc.Resources[k] != nil)
		}
	}
	if _, err := in.AWS.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("fastapi-vars-hml-audit")}); !kit.IsNotFound(err) {
		t.Errorf("trail after switching it off: %v", err)
	}
	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil || len(doc.Resources) != 0 {
		t.Fatalf("destroy: %v; left %v", err, slices.Collect(maps.Keys(doc.Resources)))
	}
	if _, err := in.AWS.KMS().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/team")}); err != nil {
		t.Errorf("the configured key was touched: %v", err)
	}
}

// fakeSNS serves ListSubscriptionsByTopic from a fixed list, as AWS would answer with
// subscriptions pending confirmation (moto confirms every one at once), and records
// what is subscribed and unsubscribed.
type fakeSNS struct {
	subs         []snstypes.Subscription
	subscribed   []string
	unsubscribed []string
}

func (f *fakeSNS) ListSubscriptionsByTopic(context.Context, *sns.ListSubscriptionsByTopicInput, ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	return &sns.ListSubscriptionsByTopicOutput{Subscriptions: f.subs}, nil
}

func (f *fakeSNS) Subscribe(_ context.Context, in *sns.SubscribeInput, _ ...func(*sns.Options)) (*sns.SubscribeOutput, error) {
	f.subscribed = append(f.subscribed, aws.ToString(in.Protocol)+":"+aws.ToString(in.Endpoint))
	return &sns.SubscribeOutput{SubscriptionArn: aws.String(observability.PendingConfirmation)}, nil
}

func (f *fakeSNS) Unsubscribe(_ context.Context, in *sns.UnsubscribeInput, _ ...func(*sns.Options)) (*sns.UnsubscribeOutput, error) {
	f.unsubscribed = append(f.unsubscribed, aws.ToString(in.SubscriptionArn))
	return &sns.UnsubscribeOutput{}, nil
}

type depsMap map[string]*state.Resource

func (d depsMap) Get(key string) *state.Resource { return d[key] }

func TestSubscriptionsPendingAndOtherProtocols(t *testing.T) {
	ctx := context.Background()
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	in.Config.Alarms.Email = []string{"ops@example.com", "new@example.com"}
	in.Config.Alarms.HTTPS = []string{"https://bot:s3cret@relay.example.com/hook"}
	topicARN := "arn:aws:sns:us-east-1:123456789012:fastapi-vars-dev-alerts"
	sub := func(protocol, endpoint, arn string) snstypes.Subscription {
		return snstypes.Subscription{Protocol: aws.String(protocol), Endpoint: aws.String(endpoint), SubscriptionArn: aws.String(arn), TopicArn: &topicARN}
	}
	f := &fakeSNS{subs: []snstypes.Subscription{
		sub("email", "ops@example.com", observability.PendingConfirmation),                        // wanted, waiting for its recipient
		sub("https", "https://bot:****@relay.example.com/hook", topicARN+":https-1"),              // wanted; SNS masks the password
		sub("email", "gone@example.com", topicARN+":email-gone"),                                  // removed from the config
		sub("email", "never-confirmed@example.com", observability.PendingConfirmation),            // removed, cannot be cancelled
		sub("lambda", "arn:aws:lambda:us-east-1:123456789012:function:relay", topicARN+":lambda"), // not fvdeploy's
	}}
	r := &observability.SubscriptionSet{In: in, API: f}
	deps := depsMap{observability.KeyTopic: {ID: "fastapi-vars-dev-alerts", ARN: topicARN}}
	found, err := r.Find(ctx, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range found.Changes {
		changes = append(changes, c.String())
	}
	want := []string{`subscribe: "" -> "email:new@example.com"`, `unsubscribe: "email:gone@example.com" -> ""`}
	if !slices.Equal(changes, want) {
		t.Errorf("changes:\n got %v\nwant %v", changes, want)
	}
	if _, err := r.Update(ctx, deps, found); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.subscribed, []string{"email:new@example.com"}) || !slices.Equal(f.unsubscribed, []string{topicARN + ":email-gone"}) {
		t.Errorf("update subscribed %v, unsubscribed %v", f.subscribed, f.unsubscribed)
	}

	f.unsubscribed = nil
	if err := r.Delete(ctx, &state.Resource{ID: topicARN}); err != nil {
		t.Fatal(err)
	}
	want = []string{topicARN + ":https-1", topicARN + ":email-gone"}
	if !slices.Equal(f.unsubscribed, want) {
		t.Errorf("delete unsubscribed %v, want the confirmed email and HTTPS ones %v", f.unsubscribed, want)
	}

	states, err := status.Subscriptions(ctx, f, phases.DeployedObjects(&state.Document{Resources: map[string]*state.Resource{observability.KeyTopic: deps[observability.KeyTopic]}}).AlarmTopic)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, s := range states {
		shown = append(shown, fmt.Sprintf("%s %s %v", s.Protocol, s.Endpoint, s.Confirmed))
	}
	if len(shown) != 5 || shown[0] != "email ops@example.com false" || !strings.HasPrefix(shown[1], "https https://relay.example.com/…#") || !strings.HasSuffix(shown[1], " true") ||
		strings.Contains(strings.Join(shown, " "), "bot") {
		t.Errorf("status shows %q", shown)
	}
}

func TestResourcePolicyDiffReadsConditionsByMeaning(t *testing.T) {
	want := kit.PolicyDoc(kit.Stmt{Effect: "Allow", Principal: map[string]string{"Service": "cloudtrail.amazonaws.com"}, Action: []string{"s3:PutObject"},
		Resource: []string{"arn:aws:s3:::b/*"}, Condition: map[string]map[string]any{"StringEquals": {"a": "x", "b": []string{"2", "1"}}}})
	same := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":["cloudtrail.amazonaws.com"]},"Action":"s3:PutObject",` +
		`"Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"a":["x"],"b":["1","2"]}}}}`
	if d, err := kit.ResourcePolicyDiff(same, want); err != nil || d != nil {
		t.Errorf("equal policies differ: %v %v", d, err)
	}
	other := strings.Replace(same, `"x"`, `"y"`, 1)
	if d, err := kit.ResourcePolicyDiff(other, want); err != nil || d == nil || d.To != want {
		t.Errorf("a changed condition went unseen: %v %v", d, err)
	}
}

// The access-log bucket lets exactly the region's ELB log delivery write this account's
// logs: the ELB account in regions opened before August 2022, the service principal in
// newer ones and in any region fvdeploy has no account for, both in Jakarta (documented
// with either), always over TLS only.
func TestALBLogsBucketPolicyPerRegion(t *testing.T) {
	const service = "Service logdelivery.elasticloadbalancing.amazonaws.com"
	tests := map[string]struct {
		region string
		want   []string // principals allowed to write, as "AWS arn" or "Service name"
	}{
		"us-east-1":             {"us-east-1", []string{"AWS arn:aws:iam::127311923021:root"}},
		"eu-west-1":             {"eu-west-1", []string{"AWS arn:aws:iam::156460612806:root"}},
		"china partition":       {"cn-north-1", []string{"AWS arn:aws-cn:iam::638102146993:root"}},
		"jakarta: both":         {"ap-southeast-3", []string{"AWS arn:aws:iam::589379963580:root", service}},
		"opened after aug 2022": {"ap-southeast-4", []string{service}},
		"a region not yet born": {"xx-future-9", []string{service}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			in := &kit.Inputs{Config: &config.Config{App: "fastapi-vars", Env: "prod"}, Account: "123456789012", Region: tt.region}
			bucket := observability.ALBLogsBucketName(in)
			arn := fmt.Sprintf("arn:%s:s3:::%s", kit.AWSPartition(tt.region), bucket)
			policy := observability.ALBLogsBucketPolicy(in, bucket)
			var writers []string
			tlsOnly := false
			for _, s := range phasetest.PolicyStatements(t, policy) {
				actions, resources := fmt.Sprint(kit.SortedList(s["Action"])), fmt.Sprint(kit.SortedList(s["Resource"]))
				if s["Effect"] == "Deny" {
					cond, _ := s["Condition"].(map[string]any)
					tlsOnly = s["Principal"] == "*" && actions == "[s3:*]" && resources == fmt.Sprint([]string{arn, arn + "/*"}) &&
						fmt.Sprint(cond["Bool"]) == "map[aws:SecureTransport:false]"
					continue
				}
				if actions != "[s3:PutObject]" || resources != "["+arn+"/AWSLogs/"+in.Account+"/*]" || s["Condition"] != nil {
					t.Errorf("allows more than writing this account's logs: %v", s)
				}
				p, _ := s["Principal"].(map[string]any)
				for _, kind := range slices.Sorted(maps.Keys(p)) {
					for _, who := range kit.SortedList(p[kind]) {
						writers = append(writers, fmt.Sprintf("%s %v", kind, who))
					}
				}
			}
			slices.Sort(writers)
			if !slices.Equal(writers, tt.want) || !tlsOnly {
				t.Errorf("writers %v (TLS only %v), want %v:\n%s", writers, tlsOnly, tt.want, policy)
			}
		})
	}
}
