package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// accessAnalyzerServer stands in for IAM Access Analyzer, which the emulator does not
// have: the four REST-JSON operations fvdeploy calls (ListAnalyzers, CreateAnalyzer,
// TagResource, DeleteAnalyzer), on a loopback port, holding analyzers in memory. The
// binary reaches it through AWS_ENDPOINT_URL_ACCESSANALYZER, the SDK's per-service
// endpoint variable; everything else goes to moto.
type accessAnalyzerServer struct {
	URL       string
	mu        sync.Mutex
	analyzers map[string]map[string]any // by name
}

func startAccessAnalyzer(t *testing.T) *accessAnalyzerServer {
	t.Helper()
	s := &accessAnalyzerServer{analyzers: map[string]map[string]any{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	s.URL = "http://" + l.Addr().String()
	return s
}

func (s *accessAnalyzerServer) add(name string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/" + name
	s.analyzers[name] = map[string]any{"arn": arn, "name": name, "type": "ACCOUNT", "status": "ACTIVE",
		"createdAt": time.Now().UTC().Format(time.RFC3339), "tags": tags}
	return arn
}

func (s *accessAnalyzerServer) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.analyzers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *accessAnalyzerServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/analyzer":
		s.mu.Lock()
		list := []map[string]any{}
		for _, a := range s.analyzers {
			if t := r.URL.Query().Get("type"); t == "" || t == a["type"] {
				list = append(list, a)
			}
		}
		s.mu.Unlock()
		reply(map[string]any{"analyzers": list})
	case r.Method == http.MethodPut && r.URL.Path == "/analyzer":
		var in struct {
			AnalyzerName string            `json:"analyzerName"`
			Type         string            `json:"type"`
			Tags         map[string]string `json:"tags"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || in.Type != "ACCOUNT" {
			w.WriteHeader(http.StatusBadRequest)
			reply(map[string]string{"message": fmt.Sprintf("bad CreateAnalyzer input %s", body)})
			return
		}
		reply(map[string]string{"arn": s.add(in.AnalyzerName, in.Tags)})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/tags/"):
		reply(map[string]any{})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/analyzer/"):
		name, _ := url.PathUnescape(strings.TrimPrefix(r.URL.Path, "/analyzer/"))
		s.mu.Lock()
		_, ok := s.analyzers[name]
		delete(s.analyzers, name)
		s.mu.Unlock()
		if !ok {
			w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			reply(map[string]string{"message": "no analyzer " + name})
			return
		}
		reply(map[string]any{})
	default:
		w.WriteHeader(http.StatusNotImplemented)
		reply(map[string]string{"message": "not modelled: " + r.Method + " " + r.URL.Path})
	}
}

const optionsYAML = `
edge: {waf_logs: true, waf_log_expiry_days: 30}
alarms: {chat_relay: true}
observability: {tracing: true, guardrails: true}
`

// The webhook is a credential: it may appear nowhere in output or files.
const webhookToken = "W3BHOOK-T0KEN-e2e"

func optionsUpArgs(extra ...string) []string {
	return append([]string{"up", "--env", "hml", "--phases", "network,secrets,cluster,edge,observability", "--image", stackImage}, extra...)
}

func newOptionsCLI(t *testing.T, analyzer *accessAnalyzerServer) *testenv.CLI {
	t.Helper()
	c := newCLI(t)
	writeFile(t, c.Dir, "fvdeploy.yaml", optionsYAML)
	c.Env["AWS_ENDPOINT_URL_ACCESSANALYZER"] = analyzer.URL
	c.Env["FVDEPLOY_CHAT_WEBHOOK_URL"] = "https://hooks.example.com/services/T1/B1/" + webhookToken
	c.Forbidden = append(c.Forbidden, webhookToken)
	return c
}

// Every optional feature on at once, through the binary: up creates each, a second up
// makes no mutating call, destroy removes what fvdeploy created and keeps what it adopted.
// Beyond what EMULATOR-NOTES lists: the emulator runs no Lambda code, delivers no WAF
// logs and records no configuration items, so these are checked as configuration; the
// relay's messages are proven by its pytest suite, the app's spans by api/tests.
func TestOptionalFeaturesThroughTheBinary(t *testing.T) {
	ctx := context.Background()
	clients := testClients(t)

	t.Run("clean account: created, converged, destroyed", func(t *testing.T) {
		analyzer := startAccessAnalyzer(t)
		c := newOptionsCLI(t, analyzer)
		trace := filepath.Join(c.Dir, "trace")
		res := mustRun(t, c, optionsUpArgs("--trace-calls", trace)...)
		if !strings.Contains(res.Stderr, "ACCOUNT-WIDE CHANGE") {
			t.Errorf("up did not warn that guardrails are account-wide:\n%s", res.Stderr)
		}
		// Both log groups (the service's, the relay's) under the environment's key, the
		// relay's role trusted by Lambda for this account only, the WAF log bucket.
		assertEncryptedAndScoped(t, clients, "fastapi-vars-hml", false, "fastapi-vars-hml-exec", "fastapi-vars-hml-task", "fastapi-vars-hml-chat-relay")

		// WAF logs, with the credentials' header redacted.
		acls, err := clients.WAF().ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional})
		if err != nil || len(acls.WebACLs) != 1 {
			t.Fatalf("web ACLs %+v (%v)", acls, err)
		}
		logging, err := clients.WAF().GetLoggingConfiguration(ctx, &wafv2.GetLoggingConfigurationInput{ResourceArn: acls.WebACLs[0].ARN})
		if err != nil {
			t.Fatal(err)
		}
		lc := logging.LoggingConfiguration
		if !slices.Equal(lc.LogDestinationConfigs, []string{"arn:aws:s3:::aws-waf-logs-fastapi-vars-hml-123456789012"}) ||
			len(lc.RedactedFields) != 1 || lc.RedactedFields[0].SingleHeader == nil || aws.ToString(lc.RedactedFields[0].SingleHeader.Name) != "authorization" {
			t.Errorf("WAF logging %+v", lc)
		}
		if raw, _ := json.Marshal(lc); strings.Contains(string(raw), "Basic ") || strings.Contains(string(raw), adminPass) {
			t.Errorf("a WAF logging configuration holds an Authorization value: %s", raw)
		}

		// The relay: its function, subscribed to the alarm topic.
		fn, err := clients.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fastapi-vars-hml-chat-relay")})
		if err != nil {
			t.Fatal(err)
		}
		subs, err := clients.SNS().ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:fastapi-vars-hml-alerts")})
		if err != nil || len(subs.Subscriptions) != 1 || aws.ToString(subs.Subscriptions[0].Endpoint) != aws.ToString(fn.Configuration.FunctionArn) {
			t.Errorf("topic subscriptions %+v (%v)", subs, err)
		}

		// Tracing: the collector beside the app.
		td, err := clients.ECS().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("fastapi-vars-hml")})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, cd := range td.TaskDefinition.ContainerDefinitions {
			names = append(names, aws.ToString(cd.Name))
		}
		if !slices.Equal(names, []string{"app", "aws-otel-collector"}) {
			t.Errorf("containers %v", names)
		}

		// Guardrails: the analyzer and a recording AWS Config recorder.
		if got := analyzer.names(); !slices.Equal(got, []string{"fvdeploy-account"}) {
			t.Errorf("analyzers %v", got)
		}
		if rec := configRecorders(t, clients.ConfigService()); len(rec) != 1 {
			t.Errorf("config recorders %+v", rec)
		}

		res = mustRun(t, c, optionsUpArgs("--trace-calls", trace)...)
		if m := mutatingCalls(traced(t, trace)); len(m) != 0 || !strings.Contains(res.Stdout, "No changes") {
			t.Errorf("second up made %v\n%s", m, res.Stdout)
		}
		if !slices.ContainsFunc(traced(t, trace), func(c tracedCall) bool { return c.Operation == "ListAnalyzers" }) {
			t.Error("the second up did not look at the analyzer")
		}

		mustRun(t, c, "destroy", "--env", "hml", "--yes")
		if got := analyzer.names(); len(got) != 0 {
			t.Errorf("analyzers after destroy: %v", got)
		}
		if rec := configRecorders(t, clients.ConfigService()); len(rec) != 0 {
			t.Errorf("config recorders after destroy: %+v", rec)
		}
		if _, err := clients.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fastapi-vars-hml-chat-relay")}); err == nil {
			t.Error("the relay survived destroy")
		}
		if _, err := clients.S3().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("aws-waf-logs-fastapi-vars-hml-123456789012")}); err == nil {
			t.Error("the empty WAF log bucket survived destroy")
		}
		if left := stateResources(t, c, "hml"); len(left) != 0 {
			t.Errorf("state after destroy holds %v", keysOf(left))
		}
	})

	t.Run("account with its own guardrails: adopted, kept", func(t *testing.T) {
		analyzer := startAccessAnalyzer(t)
		c := newOptionsCLI(t, analyzer)
		analyzer.add("security-team", map[string]string{"owner": "security"})
		cfg := clients.ConfigService()
		if _, err := cfg.PutConfigurationRecorder(ctx, &configservice.PutConfigurationRecorderInput{ConfigurationRecorder: &cfgtypes.ConfigurationRecorder{
			Name: aws.String("security-team"), RoleARN: aws.String("arn:aws:iam::123456789012:role/security-config"),
			RecordingGroup: &cfgtypes.RecordingGroup{AllSupported: true},
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := clients.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("security-team-config")}); err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.PutDeliveryChannel(ctx, &configservice.PutDeliveryChannelInput{DeliveryChannel: &cfgtypes.DeliveryChannel{
			Name: aws.String("security-team"), S3BucketName: aws.String("security-team-config"),
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String("security-team")}); err != nil {
			t.Fatal(err)
		}

		trace := filepath.Join(c.Dir, "trace")
		res := mustRun(t, c, optionsUpArgs("--trace-calls", trace)...)
		if strings.Contains(res.Stderr, "ACCOUNT-WIDE CHANGE") {
			t.Errorf("up warned of an account-wide change it did not make:\n%s", res.Stderr)
		}
		for _, m := range mutatingCalls(traced(t, trace)) {
			if strings.HasPrefix(m, "AccessAnalyzer.") || strings.HasPrefix(m, "Config Service.") {
				t.Errorf("up changed the account's own guardrails: %s", m)
			}
		}
		mustRun(t, c, optionsUpArgs("--trace-calls", trace)...)
		if m := mutatingCalls(traced(t, trace)); len(m) != 0 {
			t.Errorf("second up made %v", m)
		}
		mustRun(t, c, "destroy", "--env", "hml", "--yes", "--trace-calls", trace)
		for _, m := range mutatingCalls(traced(t, trace)) {
			if strings.HasPrefix(m, "AccessAnalyzer.") || strings.HasPrefix(m, "Config Service.") {
				t.Errorf("destroy touched the account's own guardrails: %s", m)
			}
		}
		if got := analyzer.names(); !slices.Equal(got, []string{"security-team"}) {
			t.Errorf("analyzers after destroy: %v, want the account's own alone", got)
		}
		recs := configRecorders(t, cfg)
		status, err := cfg.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
		if err != nil || len(recs) != 1 || aws.ToString(recs[0].Name) != "security-team" || len(status.ConfigurationRecordersStatus) != 1 || !status.ConfigurationRecordersStatus[0].Recording {
			t.Errorf("after destroy: recorders %+v, status %+v (%v)", recs, status, err)
		}
	})
}

func configRecorders(t *testing.T, api *configservice.Client) []cfgtypes.ConfigurationRecorder {
	t.Helper()
	out, err := api.DescribeConfigurationRecorders(context.Background(), &configservice.DescribeConfigurationRecordersInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.ConfigurationRecorders
}
