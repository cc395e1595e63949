package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"go.yaml.in/yaml/v3"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// Where the emulator (moto) is thinner than AWS, these tests pass without proving:
//   - No metric ever reaches an alarm and no alarm publishes: the alarms are checked as
//     configuration (metric, dimensions, threshold, actions), through the API.
//   - SNS confirms email and HTTPS subscriptions at once; on AWS they stay pending until
//     the recipient confirms (internal/phases covers that with a stub).
//   - No IAM evaluation: the deploy role's trust is proven by parsing its policy, not by
//     assuming it with a GitHub token.
//   - CloudTrail writes no log files, so the trail bucket starts empty; the test puts
//     one there itself to see destroy keep the bucket.

const obsYAML = `
alarms:
  email: [ops@example.com]
  https: ["https://relay.example.com/hooks/T0KEN"]
observability:
  cloudtrail: true
cicd:
  github_repo: acme/shop
`

func obsUpArgs(extra ...string) []string {
	return append([]string{"up", "--env", "prod", "--phases", "network,secrets,cluster,observability,cicd", "--image", stackImage}, extra...)
}

const githubProvider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

func TestObservabilityAndCICDThroughTheBinary(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(c.Dir, "fvdeploy.yaml"), []byte(obsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	clients := testClients(t)
	iamc := clients.IAM()
	// The account already trusts GitHub: fvdeploy uses that provider and leaves it.
	if _, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://token.actions.githubusercontent.com"), ClientIDList: []string{"sts.amazonaws.com"},
	}); err != nil {
		t.Fatal(err)
	}
	trace := func(name string) string { return filepath.Join(c.Dir, name) }

	res := mustRun(t, c, obsUpArgs("--trace-calls", trace("up1"))...)
	roleARN := "arn:aws:iam::123456789012:role/fastapi-vars-prod-deploy"
	if !strings.Contains(res.Stderr, "role-to-assume: "+roleARN+"\n") {
		t.Errorf("up did not print the line to paste into the workflow:\n%s", res.Stderr)
	}
	if strings.Contains(res.Stdout+res.Stderr, "T0KEN") {
		t.Error("the webhook URL's token was printed")
	}
	// Trust conditions, the environment's key on the log group and the trail, the buckets.
	assertEncryptedAndScoped(t, clients, "fastapi-vars-prod", true, "fastapi-vars-prod-exec", "fastapi-vars-prod-task", "fastapi-vars-prod-ecs-lb")

	// ---- alarms, described through the API ----
	elb := clients.ELB()
	lbs, err := elb.DescribeLoadBalancers(ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{Names: []string{"fastapi-vars-prod"}})
	if err != nil {
		t.Fatal(err)
	}
	tgs, err := elb.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{Names: []string{"fastapi-vars-prod"}})
	if err != nil {
		t.Fatal(err)
	}
	lbARN, tgARN := aws.ToString(lbs.LoadBalancers[0].LoadBalancerArn), aws.ToString(tgs.TargetGroups[0].TargetGroupArn)
	lbDim := "LoadBalancer=" + lbARN[strings.Index(lbARN, ":loadbalancer/")+len(":loadbalancer/"):]
	tgDims := lbDim + ",TargetGroup=" + tgARN[strings.LastIndex(tgARN, ":")+1:]
	svcDims := "ClusterName=fastapi-vars-prod,ServiceName=fastapi-vars-prod"
	if !strings.HasPrefix(lbDim, "LoadBalancer=app/fastapi-vars-prod/") || !strings.Contains(tgDims, "TargetGroup=targetgroup/fastapi-vars-prod/") {
		t.Fatalf("dimensions %s / %s", lbDim, tgDims)
	}
	topicARN := "arn:aws:sns:us-east-1:123456789012:fastapi-vars-prod-alerts"
	want := map[string]string{
		"alb-5xx-elb": "AWS/ApplicationELB HTTPCode_ELB_5XX_Count Sum [" + lbDim + "] GreaterThanThreshold 10",
		// Prod's canary may serve from either target group: its deployment alarms watch the
		// whole load balancer.
		"alb-5xx-target":      "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum [" + lbDim + "] GreaterThanThreshold 10",
		"alb-p95-latency":     "AWS/ApplicationELB TargetResponseTime p95 [" + lbDim + "] GreaterThanThreshold 1",
		"ecs-cpu":             "AWS/ECS CPUUtilization Average [" + svcDims + "] GreaterThanThreshold 80",
		"ecs-memory":          "AWS/ECS MemoryUtilization Average [" + svcDims + "] GreaterThanThreshold 80",
		"alb-unhealthy-hosts": "AWS/ApplicationELB UnHealthyHostCount Maximum [" + tgDims + "] GreaterThanThreshold 0",
		"ecs-running-tasks":   "ECS/ContainerInsights RunningTaskCount Average [" + svcDims + "] LessThanThreshold 2",
	}
	alarms := prodAlarms(t, clients.CloudWatch())
	if len(alarms) != len(want) {
		t.Errorf("%d alarms, want %d", len(alarms), len(want))
	}
	for name, w := range want {
		a, ok := alarms["fastapi-vars-prod-"+name]
		if !ok {
			t.Errorf("alarm %s missing", name)
			continue
		}
		if got := describeAlarm(a); got != w {
			t.Errorf("alarm %s:\n got %s\nwant %s", name, got, w)
		}
		if !slices.Equal(a.AlarmActions, []string{topicARN}) || !slices.Equal(a.OKActions, []string{topicARN}) {
			t.Errorf("alarm %s notifies %v / OK %v, want the topic", name, a.AlarmActions, a.OKActions)
		}
	}

	// ---- the topic's subscribers ----
	subs, err := clients.SNS().ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicARN)})
	if err != nil {
		t.Fatal(err)
	}
	var endpoints []string
	for _, s := range subs.Subscriptions {
		endpoints = append(endpoints, aws.ToString(s.Protocol)+" "+aws.ToString(s.Endpoint))
	}
	slices.Sort(endpoints)
	if want := []string{"email ops@example.com", "https https://relay.example.com/hooks/T0KEN"}; !slices.Equal(endpoints, want) {
		t.Errorf("subscribers %v, want %v", endpoints, want)
	}

	// ---- the trail logs to its bucket, which blocks public access ----
	bucket := "fastapi-vars-prod-trail-123456789012-us-east-1"
	trail, err := clients.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("fastapi-vars-prod-audit")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(trail.Trail.S3BucketName) != bucket || !aws.ToBool(trail.Trail.IsMultiRegionTrail) || !aws.ToBool(trail.Trail.LogFileValidationEnabled) {
		t.Errorf("trail into %s, multi-region %v, validation %v", aws.ToString(trail.Trail.S3BucketName), aws.ToBool(trail.Trail.IsMultiRegionTrail), aws.ToBool(trail.Trail.LogFileValidationEnabled))
	}
	if st, err := clients.CloudTrail().GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: trail.Trail.TrailARN}); err != nil || !aws.ToBool(st.IsLogging) {
		t.Errorf("trail is not logging: %v", err)
	}
	s3c := clients.S3()
	pab, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if p := pab.PublicAccessBlockConfiguration; !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) || !aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
		t.Errorf("trail bucket public access block %+v", p)
	}

	// ---- the OIDC provider and the deploy role, whose trust allows exactly the subjects ----
	if _, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(githubProvider)}); err != nil {
		t.Fatal(err)
	}
	role, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-deploy")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := trustSubjects(t, aws.ToString(role.Role.AssumeRolePolicyDocument)), []string{"repo:acme/shop:ref:refs/heads/main", "repo:acme/shop:ref:refs/tags/v*"}; !slices.Equal(got, want) {
		t.Errorf("the deploy role trusts %v, want exactly %v", got, want)
	}

	// ---- converged ----
	res = mustRun(t, c, obsUpArgs("--trace-calls", trace("up2"))...)
	if m := mutatingCalls(traced(t, trace("up2"))); len(m) != 0 {
		t.Errorf("second up made mutating calls: %v", m)
	}
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("second up:\n%s", res.Stdout)
	}

	// ---- destroy keeps a bucket holding logs and says so; the rest goes ----
	// moto enforces the bucket policy's TLS-only deny on object calls over its plain
	// HTTP endpoint: the log file goes in with the policy out of the way.
	if _, err := s3c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	logKey := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/log.json.gz"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &logKey, Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	res = c.Run(t, "destroy", "--env", "prod", "--yes")
	// Keeping data is what the user asked for by not purging: a warning, not a failure.
	if res.Code != 0 || !strings.Contains(res.Stderr, "kept observability/trail-bucket") || !strings.Contains(res.Stderr, "bucket "+bucket+" still holds log files") || !strings.Contains(res.Stderr, "fvdeploy destroy --purge-data") {
		t.Errorf("destroy did not say it kept the trail bucket (exit %d):\n%s", res.Code, res.Stderr)
	}
	if left := stateResources(t, c, "prod"); len(left) != 1 || left["observability/trail-bucket"] == nil {
		t.Errorf("state after destroy holds %v, want only the kept bucket", keysOf(left))
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("the bucket holding logs was deleted: %v", err)
	}
	if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
		t.Errorf("left behind after destroy: %+v", got)
	}
	if left := prodAlarms(t, clients.CloudWatch()); len(left) != 0 {
		t.Errorf("alarms left: %d", len(left))
	}
	if _, err := clients.SNS().GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topicARN)}); err == nil {
		t.Error("the topic survived destroy")
	}
	if _, err := clients.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("fastapi-vars-prod-audit")}); err == nil {
		t.Error("the trail survived destroy")
	}
	if _, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(githubProvider)}); err != nil {
		t.Errorf("destroy deleted the OIDC provider that existed before: %v", err)
	}

	// --purge-data empties the bucket and finishes the job.
	mustRun(t, c, "destroy", "--env", "prod", "--yes", "--purge-data")
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		t.Error("the trail bucket survived destroy --purge-data")
	}
	if left := stateResources(t, c, "prod"); len(left) != 0 {
		t.Errorf("state after destroy --purge-data holds %v", keysOf(left))
	}
}

func prodAlarms(t *testing.T, cw *cloudwatch.Client) map[string]cwtypes.MetricAlarm {
	t.Helper()
	out, err := cw.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("fastapi-vars-prod-")})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cwtypes.MetricAlarm{}
	for _, a := range out.MetricAlarms {
		m[aws.ToString(a.AlarmName)] = a
	}
	return m
}

// describeAlarm renders an alarm's metric, statistic, dimensions and threshold.
func describeAlarm(a cwtypes.MetricAlarm) string {
	var dims []string
	for _, d := range a.Dimensions {
		dims = append(dims, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	slices.Sort(dims)
	stat := string(a.Statistic)
	if e := aws.ToString(a.ExtendedStatistic); e != "" {
		stat = e
	}
	return fmt.Sprintf("%s %s %s [%s] %s %g", aws.ToString(a.Namespace), aws.ToString(a.MetricName), stat, strings.Join(dims, ","), a.ComparisonOperator, aws.ToFloat64(a.Threshold))
}

// trustSubjects parses a trust policy and returns the GitHub subjects it allows, after
// checking that its one statement lets GitHub's provider in for the STS audience only.
func trustSubjects(t *testing.T, doc string) []string {
	t.Helper()
	// IAM returns policy documents URL-encoded.
	if d, err := url.PathUnescape(doc); err == nil && !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		doc = d
	}
	var p struct {
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("trust policy %s: %v", doc, err)
	}
	if len(p.Statement) != 1 {
		t.Fatalf("trust policy has %d statements: %s", len(p.Statement), doc)
	}
	s := p.Statement[0]
	aud := s.Condition["StringEquals"]["token.actions.githubusercontent.com:aud"]
	if s.Effect != "Allow" || len(s.Principal) != 1 || s.Principal["Federated"] != githubProvider || fmt.Sprint(s.Action) != "[sts:AssumeRoleWithWebIdentity]" ||
		aud != "sts.amazonaws.com" || len(s.Condition) != 2 || len(s.Condition["StringLike"]) != 1 {
		t.Fatalf("trust policy is not GitHub's provider for the STS audience with subjects: %s", doc)
	}
	var subs []string
	switch v := s.Condition["StringLike"]["token.actions.githubusercontent.com:sub"].(type) {
	case string:
		subs = []string{v}
	case []any:
		for _, x := range v {
			subs = append(subs, fmt.Sprint(x))
		}
	}
	slices.Sort(subs)
	return subs
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ---- the workflows ----

// workflow is the part of a GitHub Actions workflow the checks below read.
type workflow struct {
	On          map[string]any         `yaml:"on"`
	Permissions map[string]string      `yaml:"permissions"`
	Jobs        map[string]workflowJob `yaml:"jobs"`
}

type workflowJob struct {
	Needs       any               `yaml:"needs"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress bool   `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Steps []struct {
		Uses string            `yaml:"uses"`
		Run  string            `yaml:"run"`
		With map[string]string `yaml:"with"`
	} `yaml:"steps"`
}

func (j workflowJob) needs() []string {
	switch v := j.Needs.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// TestDeployWorkflowIsGatedAndUsesOIDC reads .github/workflows/deploy.yml: the deploy job
// runs only after the tests, assumes the deploy role through GitHub's OIDC token, never
// with a long-lived key, and never overlaps another deploy of the same environment.
// actionlint (make lint-workflows) checks both workflows' syntax and expressions.
func TestDeployWorkflowIsGatedAndUsesOIDC(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), ".github", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "AWS_SECRET_ACCESS_KEY") || strings.Contains(string(raw), "aws-secret-access-key:") {
		t.Error("deploy.yml uses a static AWS secret key")
	}
	push, _ := wf.On["push"].(map[string]any)
	if fmt.Sprint(push["branches"]) != "[main hml]" || fmt.Sprint(push["tags"]) != "[v*]" {
		t.Errorf("deploy.yml triggers on %v", wf.On)
	}
	deploy, ok := wf.Jobs["deploy"]
	if !ok {
		t.Fatalf("deploy.yml has no deploy job: %v", keysOf(wf.Jobs))
	}
	if _, ok := wf.Jobs["test"]; !ok || !slices.Contains(deploy.needs(), "test") {
		t.Errorf("the deploy job does not need the test job: needs %v", deploy.needs())
	}
	if !slices.Contains(deploy.needs(), "build-and-push") || !slices.Contains(wf.Jobs["build-and-push"].needs(), "test") {
		t.Errorf("not test -> build-and-push -> deploy: %v, %v", wf.Jobs["build-and-push"].needs(), deploy.needs())
	}
	if deploy.Permissions["id-token"] != "write" && wf.Permissions["id-token"] != "write" {
		t.Error("the deploy job cannot get an OIDC token (permissions id-token: write)")
	}
	if !strings.HasPrefix(deploy.Concurrency.Group, "deploy-") || deploy.Concurrency.CancelInProgress {
		t.Errorf("deploy concurrency %+v, want a deploy-<env> group that never cancels a running deploy", deploy.Concurrency)
	}
	var assumes, deploys, summary bool
	for _, s := range deploy.Steps {
		if strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@") {
			assumes = s.With["role-to-assume"] != "" && s.With["aws-access-key-id"] == ""
		}
		deploys = deploys || strings.Contains(s.Run, "fvdeploy deploy --env") && strings.Contains(s.Run, "--output json")
		summary = summary || strings.Contains(s.Run, "GITHUB_STEP_SUMMARY")
	}
	if !assumes || !deploys || !summary {
		t.Errorf("deploy job: assumes a role by OIDC %v, runs fvdeploy deploy --output json %v, writes the job summary %v", assumes, deploys, summary)
	}
}
