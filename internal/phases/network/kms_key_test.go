package network_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// keyGrants reads a key policy: per principal ("AWS ..." or "Service ..."), its actions
// and conditions, one line per statement.
func keyGrants(t *testing.T, doc string) map[string][]string {
	t.Helper()
	doc, err := kit.ConditionsAsLists(doc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range phasetest.PolicyStatements(t, doc) {
		p, _ := s["Principal"].(map[string]any)
		for kind, who := range p {
			for _, w := range kit.AsList(who) {
				k := fmt.Sprintf("%s %v", kind, w)
				out[k] = append(out[k], fmt.Sprintf("%v %v if %v", s["Effect"], kit.SortedList(s["Action"]), s["Condition"]))
			}
		}
	}
	return out
}

// The key's policy: the account administers it; each AWS service uses it only for this
// environment's objects, the trail's statements only while there is a trail.
func TestEnvKeyPolicyScopesEveryService(t *testing.T) {
	alarms := "Allow [kms:Decrypt kms:GenerateDataKey*] if map[ArnLike:map[aws:SourceArn:[arn:aws:cloudwatch:us-east-1:123456789012:alarm:fastapi-vars-prod-*]] StringEquals:map[aws:SourceAccount:[123456789012]]]"
	logs := "Allow [kms:Decrypt* kms:Describe* kms:Encrypt* kms:GenerateDataKey* kms:ReEncrypt*] if map[ArnLike:map[kms:EncryptionContext:aws:logs:arn:[" +
		"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fastapi-vars-prod-chat-relay arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fastapi-vars-prod-secret-rotation " +
		"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/flow-logs/fastapi-vars-prod arn:aws:logs:us-east-1:123456789012:log-group:/ecs/fastapi-vars-prod]]]"
	trail := []string{
		"Allow [kms:GenerateDataKey*] if map[StringEquals:map[aws:SourceArn:[arn:aws:cloudtrail:us-east-1:123456789012:trail/fastapi-vars-prod-audit]] StringLike:map[kms:EncryptionContext:aws:cloudtrail:arn:[arn:aws:cloudtrail:*:123456789012:trail/fastapi-vars-prod-audit]]]",
		"Allow [kms:DescribeKey] if map[StringEquals:map[aws:SourceArn:[arn:aws:cloudtrail:us-east-1:123456789012:trail/fastapi-vars-prod-audit]]]",
	}
	for name, tc := range map[string]struct {
		trail bool
		want  map[string][]string
	}{
		"no trail": {want: map[string][]string{
			"AWS arn:aws:iam::123456789012:root":   {"Allow [kms:*] if <nil>"},
			"Service cloudwatch.amazonaws.com":     {alarms},
			"Service logs.us-east-1.amazonaws.com": {logs},
		}},
		"trail": {trail: true, want: map[string][]string{
			"AWS arn:aws:iam::123456789012:root":   {"Allow [kms:*] if <nil>"},
			"Service cloudwatch.amazonaws.com":     {alarms},
			"Service logs.us-east-1.amazonaws.com": {logs},
			"Service cloudtrail.amazonaws.com":     trail,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Defaults("prod")
			if err != nil {
				t.Fatal(err)
			}
			in := &kit.Inputs{Account: "123456789012", Region: "us-east-1", Config: cfg}
			in.Config.Observability.CloudTrail = tc.trail
			got := keyGrants(t, network.EnvKeyPolicy(in))
			for k := range got {
				slices.Sort(got[k])
			}
			for k := range tc.want {
				slices.Sort(tc.want[k])
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("key policy grants\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// logsWithKeys is the emulator's CloudWatch Logs with the part it lacks: moto has no
// AssociateKmsKey. This stand-in keeps each group's key itself (from CreateLogGroup and
// AssociateKmsKey) and answers DescribeLogGroups with it; the rest is moto's.
type logsWithKeys struct {
	kinds.LogsAPI
	mu         sync.Mutex
	keys       map[string]string
	associated []string
}

func (l *logsWithKeys) CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error) {
	out, err := l.LogsAPI.CreateLogGroup(ctx, in, opts...)
	if err == nil {
		l.mu.Lock()
		l.keys[aws.ToString(in.LogGroupName)] = aws.ToString(in.KmsKeyId)
		l.mu.Unlock()
	}
	return out, err
}

func (l *logsWithKeys) AssociateKmsKey(_ context.Context, in *cloudwatchlogs.AssociateKmsKeyInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.AssociateKmsKeyOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys[aws.ToString(in.LogGroupName)] = aws.ToString(in.KmsKeyId)
	l.associated = append(l.associated, aws.ToString(in.LogGroupName))
	return &cloudwatchlogs.AssociateKmsKeyOutput{}, nil
}

func (l *logsWithKeys) DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error) {
	out, err := l.LogsAPI.DescribeLogGroups(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range out.LogGroups {
		out.LogGroups[i].KmsKeyId = nil
		if k := l.keys[aws.ToString(out.LogGroups[i].LogGroupName)]; k != "" {
			out.LogGroups[i].KmsKeyId = aws.String(k)
		}
	}
	return out, nil
}

// The environment's key encrypts the log group and the trail from their creation; a
// deployment made before (topic key under its old name, key policy without conditions,
// a log group and a trail without the key) converges with one up: the key's policy put,
// the key associated with the group, the trail updated, the old key scheduled for
// deletion; a second up changes nothing.
func TestEnvKeyEncryptsLogsAndTrailAndOldDeploymentsConverge(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	in.Config.Observability.CloudTrail = true
	logs := &logsWithKeys{LogsAPI: in.AWS.Logs(), keys: map[string]string{}}
	resources := []engine.Resource{
		&network.EnvKey{In: in, API: in.AWS.KMS()},
		&kinds.LogGroup{In: in, API: logs, KMS: in.AWS.KMS(), ResourceKey: clusterphase.KeyLogGroup, Name: kit.LogGroupName(in)},
		observability.TrailBucket(in),
		&observability.Trail{In: in, API: in.AWS.CloudTrail(), KMS: in.AWS.KMS()},
	}
	apply := func(doc *state.Document) *engine.Result {
		t.Helper()
		res, err := phasetest.NewEngine(t, in).Apply(ctx, resources, doc, func(context.Context, *state.Document) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return res
	}

	doc := phasetest.NewDoc(in)
	apply(doc)
	keyARN := doc.Resources[kit.KeyEnvKey].ARN
	if got := logs.keys[kit.LogGroupName(in)]; got != keyARN || keyARN == "" {
		t.Fatalf("log group created with key %q, want the environment's %q", got, keyARN)
	}
	tr, err := in.AWS.CloudTrail().GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(kit.TrailName(in))})
	if err != nil || aws.ToString(tr.Trail.KmsKeyId) != keyARN {
		t.Fatalf("trail key %v (%v), want %s", tr, err, keyARN)
	}

	// ---- the same deployment as an older fvdeploy left it ----
	kmsc := in.AWS.KMS()
	old, err := kmsc.CreateKey(ctx, &kms.CreateKeyInput{Tags: network.KMSTags(in.Tags("observability/topic-key"))})
	if err != nil {
		t.Fatal(err)
	}
	oldAlias := "alias/" + in.Prefix() + "-alerts"
	if _, err := kmsc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &oldAlias, TargetKeyId: old.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	doc.Resources["observability/topic-key"] = &state.Resource{Type: "kms:key", ID: aws.ToString(old.KeyMetadata.KeyId), ARN: aws.ToString(old.KeyMetadata.Arn), Attrs: map[string]string{"alias": oldAlias}}
	bare := `{"Version":"2012-10-17","Statement":[{"Sid":"AccountAdministers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"CloudWatchAlarmsPublish","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*"}]}`
	if _, err := kmsc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &doc.Resources[kit.KeyEnvKey].ID, PolicyName: aws.String("default"), Policy: &bare}); err != nil {
		t.Fatal(err)
	}
	delete(logs.keys, kit.LogGroupName(in))
	if _, err := in.AWS.CloudTrail().UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(kit.TrailName(in)), KmsKeyId: aws.String("")}); err != nil {
		t.Fatal(err)
	}

	plan, err := phasetest.NewEngine(t, in).Plan(ctx, resources, doc)
	if err != nil {
		t.Fatal(err)
	}
	for key, field := range map[string]string{kit.KeyEnvKey: "policy", clusterphase.KeyLogGroup: "kms_key", observability.KeyTrail: "kms_key"} {
		if it := phasetest.Item(plan, key); it.Action != engine.Update || !slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return c.Field == field }) {
			t.Errorf("plan of %s: %s %v, want an update of %s", key, it.Action, it.Changes, field)
		}
	}
	if it := phasetest.Item(plan, "observability/topic-key"); it.Action != engine.Delete {
		t.Errorf("plan of the old topic key: %s, want delete", it.Action)
	}

	from := len(rec.Calls())
	apply(doc)
	if got := phasetest.Mutations(rec, from); !slices.Contains(got, "KMS.PutKeyPolicy") || !slices.Contains(got, "CloudTrail.UpdateTrail") ||
		!slices.Contains(got, "KMS.ScheduleKeyDeletion") || !slices.Contains(got, "KMS.DeleteAlias") {
		t.Errorf("up on the old deployment called %v", got)
	}
	if !slices.Equal(logs.associated, []string{kit.LogGroupName(in)}) || logs.keys[kit.LogGroupName(in)] != keyARN {
		t.Errorf("AssociateKmsKey on %v, group key %q; want %s with %s", logs.associated, logs.keys[kit.LogGroupName(in)], kit.LogGroupName(in), keyARN)
	}
	pol, err := kmsc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &doc.Resources[kit.KeyEnvKey].ID, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := kit.ResourcePolicyDiff(aws.ToString(pol.Policy), network.EnvKeyPolicy(in)); err != nil || d != nil {
		t.Errorf("key policy after up: %v %v", d, err)
	}
	if doc.Resources["observability/topic-key"] != nil {
		t.Error("the old topic key is still in state")
	}

	from = len(rec.Calls())
	apply(doc)
	if m := phasetest.Mutations(rec, from); len(m) != 0 || len(logs.associated) != 1 {
		t.Errorf("a second up changed %v (associations %v)", m, logs.associated)
	}
}

// A deployment from before the key moved to the secrets phase: state has the topic's key
// (observability/topic-key, alias/<app>-<env>-alerts) and no secrets/kms-key, the log
// group has no key. The plan says so truthfully (the key created, the topic and the group
// moved to it, the old key deleted, nothing created twice) and one up converges.
func TestEnvKeyMigratesFromTheTopicKey(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "dev", nil)
	logs := &logsWithKeys{LogsAPI: in.AWS.Logs(), keys: map[string]string{}}
	resources := []engine.Resource{
		&network.EnvKey{In: in, API: in.AWS.KMS()},
		&observability.Topic{In: in, API: in.AWS.SNS(), KMS: in.AWS.KMS()},
		&kinds.LogGroup{In: in, API: logs, KMS: in.AWS.KMS(), ResourceKey: clusterphase.KeyLogGroup, Name: kit.LogGroupName(in)},
	}
	eng := phasetest.NewEngine(t, in)
	apply := func(doc *state.Document) {
		t.Helper()
		res, err := eng.Apply(ctx, resources, doc, func(context.Context, *state.Document) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
	}
	doc := phasetest.NewDoc(in)
	apply(doc)

	// Back to the old layout: the key fvdeploy made then, the topic under it, no key on
	// the group, no secrets/kms-key (its key gone as if never made).
	kmsc := in.AWS.KMS()
	newer := doc.Resources[kit.KeyEnvKey]
	if _, err := kmsc.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/fvdeploy/" + in.Prefix())}); err != nil {
		t.Fatal(err)
	}
	if _, err := kmsc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &newer.ID, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	delete(doc.Resources, kit.KeyEnvKey)
	old, err := kmsc.CreateKey(ctx, &kms.CreateKeyInput{Tags: network.KMSTags(in.Tags("observability/topic-key"))})
	if err != nil {
		t.Fatal(err)
	}
	oldAlias, oldARN := "alias/"+in.Prefix()+"-alerts", aws.ToString(old.KeyMetadata.Arn)
	if _, err := kmsc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &oldAlias, TargetKeyId: old.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	doc.Resources["observability/topic-key"] = &state.Resource{Type: "kms:key", ID: aws.ToString(old.KeyMetadata.KeyId), ARN: oldARN, Attrs: map[string]string{"alias": oldAlias}}
	if _, err := in.AWS.SNS().SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: &doc.Resources[observability.KeyTopic].ARN,
		AttributeName: aws.String("KmsMasterKeyId"), AttributeValue: &oldARN}); err != nil {
		t.Fatal(err)
	}
	delete(logs.keys, kit.LogGroupName(in))

	plan, err := eng.Plan(ctx, resources, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		kit.KeyEnvKey:             "create",
		observability.KeyTopic:    `update [kms_key: "` + oldARN + `" -> "` + kit.KeyToCreate + `"]`,
		clusterphase.KeyLogGroup:  `update [kms_key: "(none)" -> "` + kit.KeyToCreate + `"]`,
		"observability/topic-key": "delete",
	}
	for key, w := range want {
		it := phasetest.Item(plan, key)
		got := string(it.Action)
		if len(it.Changes) > 0 {
			got += " " + fmt.Sprint(it.Changes)
		}
		if got != w {
			t.Errorf("plan of %s: %s, want %s", key, got, w)
		}
	}

	apply(doc)
	keyARN := doc.Resources[kit.KeyEnvKey].ARN
	attrs, err := in.AWS.SNS().GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &doc.Resources[observability.KeyTopic].ARN})
	if err != nil || attrs.Attributes["KmsMasterKeyId"] != keyARN || keyARN == "" || keyARN == newer.ARN {
		t.Errorf("topic key %q (%v), want the new environment key %s", attrs.Attributes["KmsMasterKeyId"], err, keyARN)
	}
	if logs.keys[kit.LogGroupName(in)] != keyARN {
		t.Errorf("log group key %q, want %s", logs.keys[kit.LogGroupName(in)], keyARN)
	}
	if k, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: old.KeyMetadata.KeyId}); err != nil || k.KeyMetadata.KeyState != "PendingDeletion" {
		t.Errorf("the old topic key after up: %v, want it pending deletion", err)
	}
	if _, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &oldAlias}); err == nil {
		t.Errorf("%s still exists", oldAlias)
	}
	from := len(rec.Calls())
	apply(doc)
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("a second up changed %v", m)
	}
}
