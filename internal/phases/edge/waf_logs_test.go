package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The emulator (moto 5.2.3) is thinner than AWS here, and these tests say where:
//   - WAF stores a logging configuration as it is given: it checks neither the
//     destination's aws-waf-logs- prefix, nor that the bucket exists or that its policy
//     lets the log delivery service write, nor the caller's logs:CreateLogDelivery; and
//     it delivers no logs. The name is proven by TestWAFLogsBucketName, the policy by
//     reading it statement by statement.
//   - It does keep RedactedFields as sent, so reading the configuration back proves what
//     was stored; the tests also record PutLoggingConfiguration's input, what AWS acts on.
//   - KMS key policies are not evaluated: that the configured key lets
//     delivery.logs.amazonaws.com encrypt (the user's to grant) is not checked anywhere.

const wafLogsBucketHML = "aws-waf-logs-fastapi-vars-hml-123456789012"

// validBucketName is S3's rule for general purpose bucket names (dots aside, which
// fvdeploy never uses): 3 to 63 lowercase letters, digits and hyphens, starting and
// ending with a letter or digit.
var validBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func TestWAFLogsBucketName(t *testing.T) {
	for _, tt := range []struct {
		app, env, want string
	}{
		{"fastapi-vars", "hml", wafLogsBucketHML},
		{"a", "dev", "aws-waf-logs-a-dev-123456789012"},
		// The longest app config accepts with the longest environment: 51 characters.
		{"abcdefghij-123456789", "prod", "aws-waf-logs-abcdefghij-123456789-prod-123456789012"},
	} {
		t.Run(tt.app+"-"+tt.env, func(t *testing.T) {
			cfg, err := config.Defaults(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			cfg.App, cfg.Region = tt.app, "us-east-1"
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config with app %q: %v", tt.app, err)
			}
			got := edge.WAFLogsBucketName(&kit.Inputs{Config: cfg, Account: "123456789012"})
			if got != tt.want {
				t.Errorf("bucket name %q, want %q", got, tt.want)
			}
			if !strings.HasPrefix(got, "aws-waf-logs-") || len(got) > 63 || !validBucketName.MatchString(got) {
				t.Errorf("bucket name %q (%d characters) is not a name WAF can log to", got, len(got))
			}
		})
	}
	// One character more than the longest above is refused by the config, so 51 is the
	// most the name can take.
	cfg, _ := config.Defaults("prod")
	cfg.App, cfg.Region = "abcdefghij-1234567890", "us-east-1"
	if err := cfg.Validate(); err == nil {
		t.Errorf("app %q (%d characters) accepted", cfg.App, len(cfg.App))
	}
	// Should the limits grow, the name is cut, not refused, and keeps its prefix.
	long := edge.WAFLogsBucketName(&kit.Inputs{Config: &config.Config{App: strings.Repeat("a", 60), Env: "prod"}, Account: "123456789012"})
	if len(long) != 63 || !strings.HasPrefix(long, "aws-waf-logs-") || !validBucketName.MatchString(long) {
		t.Errorf("cut name %q (%d characters)", long, len(long))
	}
}

func TestWAFLogsDeclare(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	for _, tt := range []struct {
		name          string
		domain        string
		waf, wafLogs  bool
		want, without []string
	}{
		{name: "off", want: nil},
		{name: "WAF without logs", waf: true, want: []string{edge.KeyWAFACL, edge.KeyWAFAssoc}},
		{name: "WAF with logs", waf: true, wafLogs: true, want: []string{edge.KeyWAFACL, edge.KeyWAFAssoc, edge.KeyWAFLogsBucket, edge.KeyWAFLogging}},
		// Config validation refuses this; the phase declares no logging without an ACL all the same.
		{name: "logs without WAF", wafLogs: true, want: nil},
		{name: "domain, WAF and logs", domain: edgeDomain, waf: true, wafLogs: true,
			want: []string{edge.KeyZone, edge.KeyCertificate, edge.KeyCertRecords, kit.KeyListenerHTTPS, edge.KeyDNS, edge.KeyWAFACL, edge.KeyWAFAssoc, edge.KeyWAFLogsBucket, edge.KeyWAFLogging}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in.Config.Edge.Domain, in.Config.Edge.WAF, in.Config.Edge.WAFLogs = tt.domain, tt.waf, tt.wafLogs
			var got []string
			for _, r := range phasetest.Declared(t, in, "edge") {
				got = append(got, r.Key())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("declares %v, want %v", got, tt.want)
			}
			// Whatever is declared, logging configured by an earlier config can be deleted.
			deleters, err := phases.Deleters(in)
			if err != nil {
				t.Fatal(err)
			}
			if deleters["wafv2:logging-configuration"] == nil || deleters["s3:bucket"] == nil {
				t.Errorf("no deleter for the WAF logging configuration or its bucket")
			}
		})
	}
}

func TestWAFLogsBucketPolicy(t *testing.T) {
	in := &kit.Inputs{Config: &config.Config{App: "fastapi-vars", Env: "hml"}, Account: "123456789012", Region: "eu-west-1"}
	checkWAFLogsPolicy(t, in, edge.WAFLogsBucketName(in), edge.WAFLogsBucketPolicy(in, edge.WAFLogsBucketName(in)))
}

// checkWAFLogsPolicy checks a WAF log bucket's policy against the WAF developer guide's,
// reading it independently of wafLogsBucketPolicy.
func checkWAFLogsPolicy(t *testing.T, in *kit.Inputs, bucket, policy string) {
	t.Helper()
	arn := "arn:aws:s3:::" + bucket
	source := "arn:aws:logs:" + in.Region + ":" + in.Account + ":*"
	var write, aclCheck, tlsOnly bool
	for _, s := range phasetest.PolicyStatements(t, policy) {
		p, _ := s["Principal"].(map[string]any)
		cond, _ := s["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		like, _ := cond["ArnLike"].(map[string]any)
		actions, resources := fmt.Sprint(kit.SortedList(s["Action"])), fmt.Sprint(kit.SortedList(s["Resource"]))
		fromThisAccount := fmt.Sprint(kit.SortedList(eq["aws:SourceAccount"])) == "["+in.Account+"]" && fmt.Sprint(kit.SortedList(like["aws:SourceArn"])) == "["+source+"]"
		switch {
		case s["Effect"] == "Deny":
			tlsOnly = p == nil && s["Principal"] == "*" && actions == "[s3:*]" && resources == fmt.Sprint([]string{arn, arn + "/*"}) &&
				fmt.Sprint(cond["Bool"]) == "map[aws:SecureTransport:false]"
		case s["Effect"] != "Allow" || fmt.Sprint(kit.SortedList(p["Service"])) != "[delivery.logs.amazonaws.com]":
			t.Errorf("the WAF log bucket lets someone other than the log delivery service in: %v", s)
		case actions == "[s3:PutObject]":
			write = resources == "["+arn+"/AWSLogs/"+in.Account+"/*]" && fromThisAccount &&
				fmt.Sprint(kit.SortedList(eq["s3:x-amz-acl"])) == "[bucket-owner-full-control]" && len(eq) == 2 && len(cond) == 2
		case actions == "[s3:GetBucketAcl]":
			aclCheck = resources == "["+arn+"]" && fromThisAccount && len(eq) == 1 && len(cond) == 2
		default:
			t.Errorf("the log delivery service may do more than write and check the ACL: %v", s)
		}
	}
	if !write || !aclCheck || !tlsOnly {
		t.Errorf("policy of %s: delivery writes %v, checks the ACL %v, TLS only %v:\n%s", bucket, write, aclCheck, tlsOnly, policy)
	}
}

// withWAFLogs switches WAF logs on for in (hml has WAF on) and returns it.
func withWAFLogs(in *kit.Inputs, expiryDays int, kmsKey string) *kit.Inputs {
	in.Config.Edge.WAFLogs, in.Config.Edge.WAFLogExpiryDays = true, expiryDays
	in.Config.Observability.KMSKeyID = kmsKey
	return in
}

// tracePutLogging records the JSON of every PutLoggingConfiguration input.
func tracePutLogging(in *kit.Inputs) *phasetest.CallTrace {
	return phasetest.TraceCalls(in, func(_ context.Context, params any) string {
		if p, ok := params.(*wafv2.PutLoggingConfigurationInput); ok {
			b, _ := json.Marshal(p)
			return string(b)
		}
		return ""
	})
}

// checkWAFLogs verifies through the AWS API that the ACL of doc logs to the WAF log
// bucket, which is private, encrypted with algo (and kmsKeyARN when set), expires objects
// after expiryDays and lets only log delivery write; it returns the logging
// configuration as JSON.
func checkWAFLogs(t *testing.T, in *kit.Inputs, doc *state.Document, algo, kmsKeyARN string, expiryDays int32) string {
	t.Helper()
	ctx := context.Background()
	s3c, bucket := in.AWS.S3(), wafLogsBucketHML
	if b := doc.Resources[edge.KeyWAFLogsBucket]; b == nil || b.ID != bucket || b.ARN != "arn:aws:s3:::"+bucket {
		t.Fatalf("bucket record %+v, want %s", b, bucket)
	}
	phasetest.AssertPrivateBucket(t, in, bucket, algo)
	enc, err := s3c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if rule := enc.ServerSideEncryptionConfiguration.Rules[0]; aws.ToString(rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID) != kmsKeyARN ||
		kmsKeyARN != "" && !aws.ToBool(rule.BucketKeyEnabled) {
		t.Errorf("bucket key %q (bucket keys %v), want %q", aws.ToString(rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID), aws.ToBool(rule.BucketKeyEnabled), kmsKeyARN)
	}
	lc, err := s3c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var expiring []string
	for _, r := range lc.Rules {
		f := r.Filter
		whole := aws.ToString(r.Prefix) == "" && (f == nil || aws.ToString(f.Prefix) == "" && f.Tag == nil && f.And == nil)
		if r.Status == s3types.ExpirationStatusEnabled && whole && r.Expiration != nil && r.Expiration.Days != nil {
			expiring = append(expiring, fmt.Sprintf("%s:%d", aws.ToString(r.ID), *r.Expiration.Days))
		}
	}
	if want := fmt.Sprintf("%s:%d", kinds.ExpiryRuleID, expiryDays); !slices.Equal(expiring, []string{want}) {
		t.Errorf("lifecycle rules expiring the whole bucket: %v, want %s", expiring, want)
	}
	pol, err := s3c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	checkWAFLogsPolicy(t, in, bucket, aws.ToString(pol.Policy))
	tags, err := s3c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, tg := range tags.TagSet {
		have[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if want := in.Tags(edge.KeyWAFLogsBucket); have["fvdeploy:key"] != edge.KeyWAFLogsBucket || have["fvdeploy:app"] != want["fvdeploy:app"] || have["fvdeploy:env"] != want["fvdeploy:env"] {
		t.Errorf("bucket tags %v, want %v", have, want)
	}

	acl := doc.Resources[edge.KeyWAFACL]
	out, err := in.AWS.WAF().GetLoggingConfiguration(ctx, &wafv2.GetLoggingConfigurationInput{ResourceArn: &acl.ARN})
	if err != nil {
		t.Fatalf("logging configuration of %s: %v", acl.ARN, err)
	}
	c := out.LoggingConfiguration
	var redacted []string
	for _, f := range c.RedactedFields {
		if f.SingleHeader != nil {
			redacted = append(redacted, "header:"+aws.ToString(f.SingleHeader.Name))
		} else {
			redacted = append(redacted, "other")
		}
	}
	if aws.ToString(c.ResourceArn) != acl.ARN || !slices.Equal(c.LogDestinationConfigs, []string{"arn:aws:s3:::" + bucket}) ||
		!slices.Equal(redacted, []string{"header:authorization"}) || c.LoggingFilter != nil {
		t.Errorf("logging configuration: ACL %s to %v, redacting %v, filter %+v; want %s to the bucket, redacting the authorization header, no filter",
			aws.ToString(c.ResourceArn), c.LogDestinationConfigs, redacted, c.LoggingFilter, acl.ARN)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkNoCredentials checks that a logging configuration in JSON redacts the
// authorization header by name and carries no header value: no Basic credentials, and
// "authorization" nowhere but as the redacted header's name.
func checkNoCredentials(t *testing.T, what, js string) {
	t.Helper()
	if !strings.Contains(js, `"RedactedFields":[{`) || !strings.Contains(js, `"SingleHeader":{"Name":"authorization"}`) {
		t.Errorf("%s does not redact the authorization header: %s", what, js)
	}
	if strings.Count(strings.ToLower(js), "authorization") > 1 || strings.Contains(strings.ToLower(js), "basic") {
		t.Errorf("%s carries an authorization header value: %s", what, js)
	}
}

// TestEdgeWAFLogs: with WAF logs on, the ACL logs to a private, encrypted bucket that
// expires its objects and lets only log delivery write, with the authorization header
// redacted; a second run changes nothing; with state lost everything is found again;
// destroy removes the logging, then the empty bucket.
func TestEdgeWAFLogs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		kms    bool
		expiry int
		algo   string
	}{
		{name: "S3-managed keys", expiry: 90, algo: "AES256"},
		{name: "the configured KMS key", kms: true, expiry: 30, algo: "aws:kms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			in, _ := phasetest.NewTestInputs(t, "hml", nil)
			var keyARN, keyID string
			if tt.kms {
				key, err := in.AWS.KMS().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("the team's key")})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := in.AWS.KMS().CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/team"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
					t.Fatal(err)
				}
				keyARN, keyID = aws.ToString(key.KeyMetadata.Arn), "alias/team"
			}
			withWAFLogs(in, tt.expiry, keyID)
			puts := tracePutLogging(in)
			doc := phasetest.NewDoc(in)
			phasetest.ApplyPhases(t, in, doc, "network", "edge")

			js := checkWAFLogs(t, in, doc, tt.algo, keyARN, int32(tt.expiry))
			checkNoCredentials(t, "GetLoggingConfiguration", js)
			// What AWS acts on is what was sent: one put, redacting the header.
			sent := puts.NonEmpty()
			if len(sent) != 1 {
				t.Fatalf("PutLoggingConfiguration called %d times, want once: %v", len(sent), sent)
			}
			checkNoCredentials(t, "PutLoggingConfiguration's input", sent[0])
			if !strings.Contains(sent[0], `"LogDestinationConfigs":["arn:aws:s3:::`+wafLogsBucketHML+`"]`) {
				t.Errorf("PutLoggingConfiguration sent %s, want the bucket as destination", sent[0])
			}
			if got := phases.Outputs(doc)["waf_logs_bucket"]; got != wafLogsBucketHML {
				t.Errorf("outputs name the WAF log bucket %q, want %s", got, wafLogsBucketHML)
			}

			// Converged: a new process changes nothing and calls nothing that changes anything.
			again, rec := phasetest.InputsBeside(t, "hml", nil)
			withWAFLogs(again, tt.expiry, keyID)
			res := phasetest.ApplyPhases(t, again, doc, "network", "edge")
			if res.Changed() {
				t.Errorf("second apply changed %+v", res.Items)
			}
			if m := phasetest.Mutations(rec, 0); len(m) != 0 {
				t.Errorf("second apply made mutating calls: %v", m)
			}

			// State lost: the bucket is found by its tags, the logging by its ACL.
			want := maps.Clone(doc.Resources)
			for _, k := range []string{edge.KeyWAFACL, edge.KeyWAFAssoc, edge.KeyWAFLogsBucket, edge.KeyWAFLogging} {
				delete(doc.Resources, k)
			}
			mark := len(rec.Calls())
			phasetest.ApplyPhases(t, again, doc, "network", "edge")
			if m := phasetest.Mutations(rec, mark); len(m) != 0 {
				t.Errorf("apply with lost state made mutating calls: %v", m)
			}
			for _, k := range []string{edge.KeyWAFLogsBucket, edge.KeyWAFLogging} {
				if g, w := doc.Resources[k], want[k]; g == nil || g.ID != w.ID || g.ARN != w.ARN || !maps.Equal(g.Attrs, w.Attrs) {
					t.Errorf("%s adopted as %+v, want %+v", k, g, w)
				}
			}

			aclARN := doc.Resources[edge.KeyWAFACL].ARN
			mark = len(rec.Calls())
			phasetest.DestroyAll(t, again, doc)
			if len(doc.Resources) != 0 {
				t.Errorf("destroy left %v in state", slices.Sorted(maps.Keys(doc.Resources)))
			}
			if _, err := again.AWS.WAF().GetLoggingConfiguration(ctx, &wafv2.GetLoggingConfigurationInput{ResourceArn: &aclARN}); !edge.WAFNotFound(err) {
				t.Errorf("logging configuration after destroy: %v", err)
			}
			if _, err := again.AWS.S3().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(wafLogsBucketHML)}); err == nil {
				t.Error("the empty WAF log bucket was not deleted")
			}
			// moto would delete all three in any order: prove the order AWS needs from the calls.
			stop := phasetest.LastCallIndex(rec, mark, "WAFV2.DeleteLoggingConfiguration")
			for _, op := range []string{"WAFV2.DeleteWebACL", "S3.DeleteBucket"} {
				if i := phasetest.CallIndex(rec, mark, op); stop < 0 || i < stop {
					t.Errorf("%s (call %d) before the logging was deleted (call %d)", op, i, stop)
				}
			}
		})
	}
}

// planned is what a plan would change: each resource's action and changed fields.
func planned(t *testing.T, in *kit.Inputs, doc *state.Document) map[string]string {
	t.Helper()
	plan, err := phasetest.NewEngine(t, in).Plan(context.Background(), phasetest.Declared(t, in, "network", "edge"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	out := map[string]string{}
	for _, it := range plan.Items {
		if it.Action == engine.NoOp {
			continue
		}
		var fields []string
		for _, c := range it.Changes {
			fields = append(fields, c.Field)
		}
		slices.Sort(fields)
		out[it.Key] = strings.TrimSuffix(string(it.Action)+" "+strings.Join(fields, ","), " ")
	}
	return out
}

// TestEdgeWAFLogsDrift: changes made out of band (and a new expiry in the config) show
// in the plan on the field they touch and are put right with as little as it takes;
// switching WAF logs off deletes the logging and the empty bucket, and leaves the ACL.
func TestEdgeWAFLogsDrift(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "hml", nil)
	withWAFLogs(in, 90, "")
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	acl, bucketARN := doc.Resources[edge.KeyWAFACL].ARN, "arn:aws:s3:::"+wafLogsBucketHML
	waf, s3c := in.AWS.WAF(), in.AWS.S3()
	put := func(c waftypes.LoggingConfiguration) {
		t.Helper()
		c.ResourceArn = &acl
		if _, err := waf.PutLoggingConfiguration(ctx, &wafv2.PutLoggingConfigurationInput{LoggingConfiguration: &c}); err != nil {
			t.Fatal(err)
		}
	}
	theirs := s3types.LifecycleRule{ID: aws.String("theirs"), Status: s3types.ExpirationStatusEnabled,
		Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("tmp/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(7)}}

	for _, tt := range []struct {
		name   string
		drift  func(t *testing.T)
		expiry int32 // the config's edge.waf_log_expiry_days from here on
		plan   map[string]string
		calls  []string
	}{
		{
			name: "logging configuration deleted",
			drift: func(t *testing.T) {
				if _, err := waf.DeleteLoggingConfiguration(ctx, &wafv2.DeleteLoggingConfigurationInput{ResourceArn: &acl}); err != nil {
					t.Fatal(err)
				}
			},
			expiry: 90,
			plan:   map[string]string{edge.KeyWAFLogging: "create"},
			calls:  []string{"WAFV2.PutLoggingConfiguration"},
		},
		{
			name:   "redaction removed",
			drift:  func(*testing.T) { put(waftypes.LoggingConfiguration{LogDestinationConfigs: []string{bucketARN}}) },
			expiry: 90,
			plan:   map[string]string{edge.KeyWAFLogging: "update redacted_fields"},
			calls:  []string{"WAFV2.PutLoggingConfiguration"},
		},
		{
			name: "another header redacted instead, another destination, a filter",
			drift: func(*testing.T) {
				put(waftypes.LoggingConfiguration{
					LogDestinationConfigs: []string{"arn:aws:s3:::aws-waf-logs-elsewhere"},
					RedactedFields:        []waftypes.FieldToMatch{{SingleHeader: &waftypes.SingleHeader{Name: aws.String("cookie")}}},
					LoggingFilter: &waftypes.LoggingFilter{DefaultBehavior: waftypes.FilterBehaviorDrop, Filters: []waftypes.Filter{{
						Behavior: waftypes.FilterBehaviorKeep, Requirement: waftypes.FilterRequirementMeetsAny,
						Conditions: []waftypes.Condition{{ActionCondition: &waftypes.ActionCondition{Action: waftypes.ActionValueBlock}}},
					}}},
				})
			},
			expiry: 90,
			plan:   map[string]string{edge.KeyWAFLogging: "update log_destination,logging_filter,redacted_fields"},
			calls:  []string{"WAFV2.PutLoggingConfiguration"},
		},
		{
			name: "lifecycle replaced by someone else's rule",
			drift: func(t *testing.T) {
				if _, err := s3c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(wafLogsBucketHML),
					LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{theirs}}}); err != nil {
					t.Fatal(err)
				}
			},
			expiry: 90,
			plan:   map[string]string{edge.KeyWAFLogsBucket: "update lifecycle"},
			calls:  []string{"S3.PutBucketLifecycleConfiguration"},
		},
		{
			name:   "expiry changed in the config",
			drift:  func(*testing.T) {},
			expiry: 400,
			plan:   map[string]string{edge.KeyWAFLogsBucket: "update lifecycle"},
			calls:  []string{"S3.PutBucketLifecycleConfiguration"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.drift(t)
			in.Config.Edge.WAFLogExpiryDays = int(tt.expiry)
			if got := planned(t, in, doc); !maps.Equal(got, tt.plan) {
				t.Errorf("plan:\n got %v\nwant %v", got, tt.plan)
			}
			mark := len(rec.Calls())
			phasetest.ApplyPhases(t, in, doc, "network", "edge")
			if got := phasetest.Mutations(rec, mark); !slices.Equal(got, tt.calls) {
				t.Errorf("repair made %v, want %v", got, tt.calls)
			}
			checkNoCredentials(t, "the repaired logging configuration", checkWAFLogs(t, in, doc, "AES256", "", tt.expiry))
			mark = len(rec.Calls())
			phasetest.ApplyPhases(t, in, doc, "network", "edge")
			if m := phasetest.Mutations(rec, mark); len(m) != 0 {
				t.Errorf("apply after the repair made mutating calls: %v", m)
			}
		})
	}
	// Someone else's lifecycle rule outlived the repairs.
	lc, err := s3c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(wafLogsBucketHML)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range lc.Rules {
		ids = append(ids, aws.ToString(r.ID))
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{kinds.ExpiryRuleID, "theirs"}) {
		t.Errorf("lifecycle rules %v, want fvdeploy's and theirs", ids)
	}

	// Switched off: the logging goes, then the (empty) bucket; the ACL stays on the ALB.
	in.Config.Edge.WAFLogs = false
	mark := len(rec.Calls())
	res := phasetest.ApplyPhases(t, in, doc, "network", "edge")
	for _, k := range []string{edge.KeyWAFLogging, edge.KeyWAFLogsBucket} {
		if it := phasetest.Item(res, k); it.Action != engine.Delete || doc.Resources[k] != nil {
			t.Errorf("%s after switching WAF logs off: %s, in state: %v", k, it.Action, doc.Resources[k] != nil)
		}
	}
	if got := phasetest.Mutations(rec, mark); !slices.Equal(got, []string{"WAFV2.DeleteLoggingConfiguration", "S3.DeleteBucket"}) {
		t.Errorf("switching WAF logs off made %v, want the logging configuration deleted, then the bucket", got)
	}
	if _, err := waf.GetLoggingConfiguration(ctx, &wafv2.GetLoggingConfigurationInput{ResourceArn: &acl}); !edge.WAFNotFound(err) {
		t.Errorf("logging configuration after switching WAF logs off: %v", err)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(wafLogsBucketHML)}); err == nil {
		t.Error("the empty WAF log bucket is still there")
	}
	onALB, err := waf.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: aws.String(doc.Resources[kit.KeyALB].ARN)})
	if err != nil || onALB.WebACL == nil || aws.ToString(onALB.WebACL.ARN) != acl {
		t.Errorf("the web ACL is no longer on the ALB: %+v %v", onALB, err)
	}
	if _, ok := phases.Outputs(doc)["waf_logs_bucket"]; ok {
		t.Error("outputs still name the WAF log bucket")
	}
	phasetest.DestroyAll(t, in, doc)
}
