package observability_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	aatypes "github.com/aws/aws-sdk-go-v2/service/accessanalyzer/types"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// stubAccessAnalyzer answers IAM Access Analyzer from a stub: moto (5.2.3) has no
// Access Analyzer at all. The stub goes into the Inputs' aws.Config, limited to that
// service, so the phase's own clients (in.AWS.AccessAnalyzer()) carry it, the call
// recorder still sees each call, and every other service still goes to moto. Call it
// before declaring: clients copy the config's options when they are built.
func stubAccessAnalyzer(t *testing.T, in *kit.Inputs, answers map[string][]any) *testenv.SDKStub {
	t.Helper()
	s := testenv.NewSDKStub(t, answers)
	in.AWS.Config.APIOptions = append(in.AWS.Config.APIOptions, s.OptionFor(accessanalyzer.ServiceID))
	return s
}

// analyzerTags are the tags the dev environment's analyzer must carry, written out.
var analyzerTags = map[string]string{
	"fvdeploy:app": "fastapi-vars", "fvdeploy:env": "dev", "fvdeploy:key": "observability/access-analyzer",
	"Name": "fastapi-vars-dev-observability-access-analyzer",
}

const ourAnalyzerARN = "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/fvdeploy-account"

// cleanAccountAnalyzer answers a first ListAnalyzers with none, and every later one
// with the analyzer CreateAnalyzer made, as AWS would.
func cleanAccountAnalyzer() map[string][]any {
	return map[string][]any{
		"ListAnalyzers": {
			&accessanalyzer.ListAnalyzersOutput{},
			&accessanalyzer.ListAnalyzersOutput{Analyzers: []aatypes.AnalyzerSummary{{
				Name: aws.String("fvdeploy-account"), Arn: aws.String(ourAnalyzerARN), Type: aatypes.TypeAccount,
				Status: aatypes.AnalyzerStatusActive, Tags: maps.Clone(analyzerTags),
			}}},
		},
		"CreateAnalyzer": {&accessanalyzer.CreateAnalyzerOutput{Arn: aws.String(ourAnalyzerARN)}},
		"DeleteAnalyzer": {&accessanalyzer.DeleteAnalyzerOutput{}},
	}
}

// applyGuardrails applies the guardrail resources alone (the phase's other resources
// need a deployed service; TestGuardrailsCleanAccount runs the whole phase).
func applyGuardrails(t *testing.T, in *kit.Inputs, doc *state.Document) *engine.Result {
	t.Helper()
	res, err := phasetest.NewEngine(t, in).Apply(context.Background(), observability.GuardrailResources(in), doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("apply guardrails: %v", err)
	}
	return res
}

// guardrailMutations are the mutating calls since from to Access Analyzer, AWS Config
// and IAM: the account-wide services.
func guardrailMutations(rec *awsclients.Recorder, from int) []string {
	var out []string
	for _, m := range phasetest.Mutations(rec, from) {
		if strings.HasPrefix(m, accessanalyzer.ServiceID+".") || strings.HasPrefix(m, configservice.ServiceID+".") || strings.HasPrefix(m, "IAM.") {
			out = append(out, m)
		}
	}
	return out
}

func accountWideWarnings(p *phasetest.ProgressLog) int {
	return strings.Count(p.String(), "ACCOUNT-WIDE CHANGE")
}

type liveConfig struct {
	recorders []cfgtypes.ConfigurationRecorder
	channels  []cfgtypes.DeliveryChannel
	recording map[string]bool
}

func describeConfig(t *testing.T, in *kit.Inputs) liveConfig {
	t.Helper()
	ctx := context.Background()
	c := in.AWS.ConfigService()
	rs, err := c.DescribeConfigurationRecorders(ctx, &configservice.DescribeConfigurationRecordersInput{})
	if err != nil {
		t.Fatal(err)
	}
	chs, err := c.DescribeDeliveryChannels(ctx, &configservice.DescribeDeliveryChannelsInput{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
	if err != nil {
		t.Fatal(err)
	}
	live := liveConfig{recorders: rs.ConfigurationRecorders, channels: chs.DeliveryChannels, recording: map[string]bool{}}
	for _, s := range st.ConfigurationRecordersStatus {
		live.recording[aws.ToString(s.Name)] = s.Recording
	}
	return live
}

func assertOwned(t *testing.T, doc *state.Document, want map[string]string) {
	t.Helper()
	for key, id := range want {
		r := doc.Resources[key]
		if r == nil || r.ID != id || r.Attrs["owned"] != "true" {
			t.Errorf("%s recorded as %+v, want %s owned by fvdeploy", key, r, id)
		}
	}
}

// A clean account: the whole observability phase with guardrails on creates the
// analyzer, the service-linked role, the recorder, its bucket and channel, starts
// recording, says loudly that this is account-wide, and records all of it as owned. A
// second run changes nothing and says nothing; a run that lost its state finds them as
// ours again; destroy stops, then deletes the channel, then the recorder, and deletes
// the analyzer.
func TestGuardrailsCleanAccount(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "dev", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	o := &in.Config.Observability
	o.Guardrails, o.CloudTrail, o.ALBAccessLogs = true, false, false
	stub := stubAccessAnalyzer(t, in, cleanAccountAnalyzer())
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)

	phasetest.ApplyScoped(t, in, doc, "observability")

	// ---- the analyzer (stubbed) ----
	creates := stub.Calls("CreateAnalyzer")
	if len(creates) != 1 {
		t.Fatalf("%d CreateAnalyzer calls, want 1", len(creates))
	}
	ca := creates[0].(*accessanalyzer.CreateAnalyzerInput)
	if aws.ToString(ca.AnalyzerName) != "fvdeploy-account" || ca.Type != aatypes.TypeAccount || !maps.Equal(ca.Tags, analyzerTags) {
		t.Errorf("CreateAnalyzer %s type %s tags %v, want fvdeploy-account of type ACCOUNT tagged %v", aws.ToString(ca.AnalyzerName), ca.Type, ca.Tags, analyzerTags)
	}
	if l := stub.Calls("ListAnalyzers"); len(l) == 0 || l[0].(*accessanalyzer.ListAnalyzersInput).Type != aatypes.TypeAccount {
		t.Errorf("ListAnalyzers calls %v, want them limited to type ACCOUNT", l)
	}
	if a := doc.Resources[observability.KeyAnalyzer]; a == nil || a.ARN != ourAnalyzerARN {
		t.Errorf("analyzer record %+v", a)
	}

	// ---- AWS Config (moto) ----
	bucket := "fastapi-vars-dev-config-123456789012-us-east-1"
	live := describeConfig(t, in)
	if len(live.recorders) != 1 {
		t.Fatalf("recorders %+v, want one", live.recorders)
	}
	r := live.recorders[0]
	wantRole := "arn:aws:iam::123456789012:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
	if aws.ToString(r.Name) != "default" || aws.ToString(r.RoleARN) != wantRole || r.RecordingGroup == nil ||
		!r.RecordingGroup.AllSupported || !r.RecordingGroup.IncludeGlobalResourceTypes {
		t.Errorf("recorder %s role %s group %+v, want default with the service-linked role recording everything, global types too",
			aws.ToString(r.Name), aws.ToString(r.RoleARN), r.RecordingGroup)
	}
	if len(live.channels) != 1 || aws.ToString(live.channels[0].Name) != "default" || aws.ToString(live.channels[0].S3BucketName) != bucket {
		t.Errorf("delivery channels %+v, want default to %s", live.channels, bucket)
	}
	if !live.recording["default"] {
		t.Error("the recorder is not recording")
	}
	// By its path: moto names it AWSServiceRoleForconfig (AWS: AWSServiceRoleForConfig).
	roles, err := in.AWS.IAM().ListRoles(ctx, &iam.ListRolesInput{PathPrefix: aws.String("/aws-service-role/config.amazonaws.com/")})
	if err != nil || len(roles.Roles) != 1 {
		t.Errorf("AWS Config's service-linked role was not created: %+v %v", roles, err)
	}
	phasetest.AssertPrivateBucket(t, in, bucket, "AES256")
	assertConfigBucketPolicy(t, in, bucket)
	assertOwned(t, doc, map[string]string{observability.KeyAnalyzer: "fvdeploy-account", observability.KeyConfigRecorder: "default", observability.KeyConfigChannel: "default", observability.KeyConfigRecording: "default"})
	if b := doc.Resources[observability.KeyConfigBucket]; b == nil || b.ID != bucket {
		t.Errorf("config bucket record %+v", b)
	}

	// The role before the recorder that uses it; the recorder and the bucket's policy
	// before the channel (AWS Config needs the one and checks the other); the channel
	// before recording starts (AWS refuses without). The recorder and the bucket are
	// independent, made concurrently: no order between them.
	for _, pair := range [][2]string{
		{"IAM.CreateServiceLinkedRole", "Config Service.PutConfigurationRecorder"},
		{"Config Service.PutConfigurationRecorder", "Config Service.PutDeliveryChannel"},
		{"S3.PutBucketPolicy", "Config Service.PutDeliveryChannel"},
		{"Config Service.PutDeliveryChannel", "Config Service.StartConfigurationRecorder"},
	} {
		if a, b := phasetest.CallIndex(rec, 0, pair[0]), phasetest.CallIndex(rec, 0, pair[1]); a < 0 || b < 0 || a > b {
			t.Errorf("%s at %d, %s at %d: want that order", pair[0], a, pair[1], b)
		}
	}

	// Destroy runs independent deletions concurrently, so the teardown order rests on the
	// recorded dependencies: recording (stop) before the channel, the channel before the
	// recorder.
	for key, on := range map[string]string{observability.KeyConfigRecording: observability.KeyConfigChannel, observability.KeyConfigChannel: observability.KeyConfigRecorder} {
		if r := doc.Resources[key]; r == nil || !slices.Contains(r.DependsOn, on) {
			t.Errorf("%s does not record that it depends on %s: %+v", key, on, r)
		}
	}

	// ---- loud, once per creation ----
	if n := accountWideWarnings(progress); n != 2 {
		t.Errorf("%d account-wide warnings, want 2 (analyzer, AWS Config):\n%s", n, progress)
	}
	for _, w := range []string{"fvdeploy-account", "AWS Config bills every configuration item", "account 123456789012, region us-east-1"} {
		if !strings.Contains(progress.String(), w) {
			t.Errorf("the warnings do not say %q:\n%s", w, progress)
		}
	}

	// ---- converged: no call that changes anything, and nothing said ----
	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("second run made mutating calls: %v", m)
	}
	if n := len(stub.Calls("CreateAnalyzer")); n != 1 {
		t.Errorf("%d CreateAnalyzer calls after the second run, want still 1", n)
	}
	if n := accountWideWarnings(progress); n != 2 {
		t.Errorf("a no-op run warned again: %d warnings\n%s", n, progress)
	}

	// ---- lost state: everything is found again, as ours ----
	from = len(rec.Calls())
	lost := phasetest.NewDoc(in)
	applyGuardrails(t, in, lost)
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("a run without state made mutating calls: %v", m)
	}
	assertOwned(t, lost, map[string]string{observability.KeyAnalyzer: "fvdeploy-account", observability.KeyConfigRecorder: "default", observability.KeyConfigChannel: "default", observability.KeyConfigRecording: "default"})

	// ---- destroy ----
	from = len(rec.Calls())
	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	got := guardrailMutations(rec, from)
	want := []string{"AccessAnalyzer.DeleteAnalyzer", "Config Service.DeleteConfigurationRecorder", "Config Service.DeleteDeliveryChannel", "Config Service.StopConfigurationRecorder"}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("destroy's account-wide calls %v, want exactly %v (the service-linked role stays)", got, want)
	}
	stop, delCh, delRec := phasetest.CallIndex(rec, from, "Config Service.StopConfigurationRecorder"), phasetest.CallIndex(rec, from, "Config Service.DeleteDeliveryChannel"), phasetest.CallIndex(rec, from, "Config Service.DeleteConfigurationRecorder")
	if stop > delCh || delCh > delRec {
		t.Errorf("stop at %d, delete channel at %d, delete recorder at %d: want that order (AWS refuses to delete the channel of a recording recorder)", stop, delCh, delRec)
	}
	if d := stub.Calls("DeleteAnalyzer"); len(d) != 1 || aws.ToString(d[0].(*accessanalyzer.DeleteAnalyzerInput).AnalyzerName) != "fvdeploy-account" {
		t.Errorf("DeleteAnalyzer calls %v", d)
	}
	if live := describeConfig(t, in); len(live.recorders) != 0 || len(live.channels) != 0 {
		t.Errorf("left behind: recorders %+v channels %+v", live.recorders, live.channels)
	}
	if _, err := in.AWS.S3().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		t.Errorf("bucket %s (empty) was kept", bucket)
	}
	for key := range doc.Resources {
		if strings.HasPrefix(key, "observability/") {
			t.Errorf("%s still in state after destroy", key)
		}
	}
}

func assertConfigBucketPolicy(t *testing.T, in *kit.Inputs, bucket string) {
	t.Helper()
	pol, err := in.AWS.S3().GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:s3:::" + bucket
	type grant struct{ action, resource, acl string }
	var got []grant
	for _, s := range phasetest.PolicyStatements(t, aws.ToString(pol.Policy)) {
		p, _ := s["Principal"].(map[string]any)
		if p["Service"] != "config.amazonaws.com" {
			continue
		}
		cond, _ := s["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if s["Effect"] != "Allow" || eq["aws:SourceAccount"] != "123456789012" {
			t.Errorf("statement %v is not limited to this account", s)
		}
		acl, _ := eq["s3:x-amz-acl"].(string)
		for _, a := range kit.SortedList(s["Action"]) {
			for _, r := range kit.SortedList(s["Resource"]) {
				got = append(got, grant{a.(string), r.(string), acl})
			}
		}
	}
	want := []grant{
		{"s3:GetBucketAcl", arn, ""},
		{"s3:ListBucket", arn, ""},
		{"s3:PutObject", arn + "/AWSLogs/123456789012/Config/*", "bucket-owner-full-control"},
	}
	slices.SortFunc(got, func(a, b grant) int { return strings.Compare(a.action, b.action) })
	if !slices.Equal(got, want) {
		t.Errorf("AWS Config's grants on %s:\n got %v\nwant %v", bucket, got, want)
	}
}

// An account that has its own analyzer, recorder and delivery channel: fvdeploy adopts
// them as they are, recording or not, creates none and deletes none, even at destroy.
func TestGuardrailsAdoptTheAccountsOwn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recording bool
	}{
		{"recording", true},
		// A stopped recorder that is not fvdeploy's stays stopped, and fvdeploy says so.
		{"stopped", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			in, rec := phasetest.NewTestInputs(t, "dev", nil)
			progress := &phasetest.ProgressLog{T: t}
			in.Progress = progress.Printf
			in.Config.Observability.Guardrails = true
			// No answers for CreateAnalyzer, TagResource or DeleteAnalyzer: any such call
			// fails the test.
			stub := stubAccessAnalyzer(t, in, map[string][]any{
				"ListAnalyzers": {&accessanalyzer.ListAnalyzersOutput{Analyzers: []aatypes.AnalyzerSummary{
					{Name: aws.String("an-old-one"), Arn: aws.String("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/an-old-one"),
						Type: aatypes.TypeAccount, Status: aatypes.AnalyzerStatusFailed},
					{Name: aws.String("security-team"), Arn: aws.String("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/security-team"),
						Type: aatypes.TypeAccount, Status: aatypes.AnalyzerStatusActive, Tags: map[string]string{"team": "security"}},
				}}},
			})
			// The account's own AWS Config, set up directly in moto.
			c := in.AWS.ConfigService()
			theirs := cfgtypes.ConfigurationRecorder{Name: aws.String("corp"), RoleARN: aws.String("arn:aws:iam::123456789012:role/corp-config"),
				RecordingGroup: &cfgtypes.RecordingGroup{ResourceTypes: []cfgtypes.ResourceType{cfgtypes.ResourceTypeInstance}}}
			if _, err := c.PutConfigurationRecorder(ctx, &configservice.PutConfigurationRecorderInput{ConfigurationRecorder: &theirs}); err != nil {
				t.Fatal(err)
			}
			if _, err := in.AWS.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("corp-config-logs")}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutDeliveryChannel(ctx, &configservice.PutDeliveryChannelInput{DeliveryChannel: &cfgtypes.DeliveryChannel{
				Name: aws.String("corp"), S3BucketName: aws.String("corp-config-logs"), S3KeyPrefix: aws.String("audit")}}); err != nil {
				t.Fatal(err)
			}
			if tc.recording {
				if _, err := c.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String("corp")}); err != nil {
					t.Fatal(err)
				}
			}
			before := describeConfig(t, in)
			doc := phasetest.NewDoc(in)

			from := len(rec.Calls())
			applyGuardrails(t, in, doc)
			if m := guardrailMutations(rec, from); len(m) != 0 {
				t.Errorf("adopting made account-wide mutating calls: %v", m)
			}
			// Only the (empty) config bucket is made: see configBucket.
			for _, m := range phasetest.Mutations(rec, from) {
				if !strings.HasPrefix(m, "S3.") {
					t.Errorf("adopting called %s", m)
				}
			}
			for key, id := range map[string]string{observability.KeyAnalyzer: "security-team", observability.KeyConfigRecorder: "corp", observability.KeyConfigChannel: "corp", observability.KeyConfigRecording: "corp"} {
				if r := doc.Resources[key]; r == nil || r.ID != id || r.Attrs["owned"] != "false" {
					t.Errorf("%s recorded as %+v, want %s adopted (owned=false)", key, r, id)
				}
			}
			if after := describeConfig(t, in); !sameConfig(before, after) {
				t.Errorf("the account's AWS Config changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if n := accountWideWarnings(progress); n != 0 {
				t.Errorf("warned of creating account-wide controls when none was created:\n%s", progress)
			}
			if said := strings.Contains(progress.String(), "corp, which fvdeploy did not create, is not recording"); said == tc.recording {
				t.Errorf("recording %v, said it is not: %v\n%s", tc.recording, said, progress)
			}

			from = len(rec.Calls())
			applyGuardrails(t, in, doc)
			if m := phasetest.Mutations(rec, from); len(m) != 0 {
				t.Errorf("second run made mutating calls: %v", m)
			}

			from = len(rec.Calls())
			phasetest.DestroyAll(t, in, doc)
			if m := guardrailMutations(rec, from); len(m) != 0 {
				t.Errorf("destroy touched what the account had: %v", m)
			}
			if after := describeConfig(t, in); !sameConfig(before, after) {
				t.Errorf("destroy changed the account's AWS Config:\nbefore %+v\nafter  %+v", before, after)
			}
			if n := len(stub.Calls("DeleteAnalyzer")) + len(stub.Calls("CreateAnalyzer")) + len(stub.Calls("TagResource")); n != 0 {
				t.Errorf("%d calls changed the account's analyzer", n)
			}
		})
	}
}

// sameConfig compares what matters of the account's recorder and channel.
func sameConfig(a, b liveConfig) bool {
	str := func(l liveConfig) string {
		var parts []string
		for _, r := range l.recorders {
			g := r.RecordingGroup
			if g == nil {
				g = &cfgtypes.RecordingGroup{}
			}
			parts = append(parts, fmt.Sprintf("recorder %s role %s all %v global %v types %v",
				aws.ToString(r.Name), aws.ToString(r.RoleARN), g.AllSupported, g.IncludeGlobalResourceTypes, g.ResourceTypes))
		}
		for _, c := range l.channels {
			parts = append(parts, fmt.Sprintf("channel %s to %s/%s", aws.ToString(c.Name), aws.ToString(c.S3BucketName), aws.ToString(c.S3KeyPrefix)))
		}
		for _, n := range slices.Sorted(maps.Keys(l.recording)) {
			parts = append(parts, fmt.Sprintf("%s recording %v", n, l.recording[n]))
		}
		return strings.Join(parts, "; ")
	}
	return str(a) == str(b)
}

// Drift on a recorder fvdeploy owns is repaired: one stopped is started again, one whose
// settings were changed gets fvdeploy's back. Nothing else is called, and nothing is
// announced as a creation.
func TestGuardrailsRepairAnOwnedRecorder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drift func(ctx context.Context, c *configservice.Client) error
		want  []string
	}{
		{"stopped", func(ctx context.Context, c *configservice.Client) error {
			_, err := c.StopConfigurationRecorder(ctx, &configservice.StopConfigurationRecorderInput{ConfigurationRecorderName: aws.String("default")})
			return err
		}, []string{"Config Service.StartConfigurationRecorder"}},
		{"global types switched off", func(ctx context.Context, c *configservice.Client) error {
			_, err := c.PutConfigurationRecorder(ctx, &configservice.PutConfigurationRecorderInput{ConfigurationRecorder: &cfgtypes.ConfigurationRecorder{
				Name: aws.String("default"), RoleARN: aws.String("arn:aws:iam::123456789012:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"),
				RecordingGroup: &cfgtypes.RecordingGroup{AllSupported: true}}})
			return err
		}, []string{"Config Service.PutConfigurationRecorder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			in, rec := phasetest.NewTestInputs(t, "dev", nil)
			progress := &phasetest.ProgressLog{T: t}
			in.Progress = progress.Printf
			in.Config.Observability.Guardrails = true
			stubAccessAnalyzer(t, in, cleanAccountAnalyzer())
			doc := phasetest.NewDoc(in)
			applyGuardrails(t, in, doc)
			warned := accountWideWarnings(progress)

			if err := tc.drift(ctx, in.AWS.ConfigService()); err != nil {
				t.Fatal(err)
			}
			from := len(rec.Calls())
			applyGuardrails(t, in, doc)
			if got := phasetest.Mutations(rec, from); !slices.Equal(got, tc.want) {
				t.Errorf("repair called %v, want %v", got, tc.want)
			}
			live := describeConfig(t, in)
			if len(live.recorders) != 1 || !live.recording["default"] || !live.recorders[0].RecordingGroup.IncludeGlobalResourceTypes {
				t.Errorf("after the repair: %+v recording %v", live.recorders, live.recording)
			}
			if n := accountWideWarnings(progress); n != warned {
				t.Errorf("a repair announced a creation:\n%s", progress)
			}
			phasetest.DestroyAll(t, in, doc)
		})
	}
}

// With guardrails off nothing of them is declared; switched off after a run, what
// fvdeploy created is deleted and what it adopted is left.
func TestGuardrailsSwitchedOff(t *testing.T) {
	in, rec := phasetest.NewTestInputs(t, "dev", nil)
	in.Config.Observability.Guardrails = false
	for _, r := range phasetest.Declared(t, in, "observability") {
		if strings.Contains(r.Type(), "config:") || strings.Contains(r.Type(), "accessanalyzer:") || r.Key() == observability.KeyConfigBucket {
			t.Errorf("guardrails off, yet %s is declared", r.Key())
		}
	}
	in.Config.Observability.Guardrails = true
	keys := map[string]bool{}
	for _, r := range phasetest.Declared(t, in, "observability") {
		keys[r.Key()] = true
	}
	for _, k := range []string{observability.KeyAnalyzer, observability.KeyConfigRecorder, observability.KeyConfigBucket, observability.KeyConfigChannel, observability.KeyConfigRecording} {
		if !keys[k] {
			t.Errorf("guardrails on, yet %s is not declared", k)
		}
	}

	// An owned AWS Config and an adopted analyzer, then guardrails off: the engine's
	// deleters (by type) take the AWS Config ones away and leave the analyzer.
	stub := stubAccessAnalyzer(t, in, map[string][]any{"ListAnalyzers": {&accessanalyzer.ListAnalyzersOutput{Analyzers: []aatypes.AnalyzerSummary{{
		Name: aws.String("security-team"), Arn: aws.String("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/security-team"),
		Type: aatypes.TypeAccount, Status: aatypes.AnalyzerStatusActive,
	}}}}})
	doc := phasetest.NewDoc(in)
	applyGuardrails(t, in, doc)
	in.Config.Observability.Guardrails = false
	from := len(rec.Calls())
	res, err := phasetest.NewEngine(t, in).Apply(context.Background(), nil, doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	got := guardrailMutations(rec, from)
	slices.Sort(got)
	want := []string{"Config Service.DeleteConfigurationRecorder", "Config Service.DeleteDeliveryChannel", "Config Service.StopConfigurationRecorder"}
	if !slices.Equal(got, want) {
		t.Errorf("switching guardrails off called %v, want %v", got, want)
	}
	if len(stub.Calls("DeleteAnalyzer")) != 0 {
		t.Error("the adopted analyzer was deleted")
	}
	if len(doc.Resources) != 0 {
		t.Errorf("left in state: %v", slices.Sorted(maps.Keys(doc.Resources)))
	}
}
