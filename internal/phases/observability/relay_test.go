package observability_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fvdeploy/fvdeploy/internal/alertrelay"
	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

const testWebhook = "https://hooks.example.com/services/T000/B000/relay-token-e2e"

// relayInputs are dev's Inputs with the chat relay on and the webhook in the environment.
func relayInputs(t *testing.T, webhook string) (*kit.Inputs, *awsclients.Recorder) {
	t.Helper()
	in, rec := phasetest.NewTestInputs(t, "dev", map[string]string{observability.EnvChatWebhookURL: webhook})
	in.Config.Alarms.ChatRelay = true
	return in, rec
}

// The relay against the emulator: what exists and how it is wired. The emulator runs no
// Lambda code here (that needs Docker), so the handler's behaviour is proven by its
// pytest suite in internal/alertrelay/tests.
func TestChatRelay(t *testing.T) {
	ctx := context.Background()
	in, rec := relayInputs(t, testWebhook)
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "observability")

	name := in.Prefix() + "-chat-relay"
	fn, err := in.AWS.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Configuration
	secretARN := doc.Resources[observability.KeyChatWebhook].ARN
	roleARN := doc.Resources[observability.KeyChatRelayRole].ARN
	if string(c.Runtime) != alertrelay.Runtime || aws.ToString(c.Handler) != alertrelay.Handler || aws.ToString(c.Role) != roleARN ||
		c.Environment.Variables[alertrelay.SecretEnv] != secretARN || aws.ToInt32(c.Timeout) != observability.RelayTimeoutSeconds || fn.Tags["fvdeploy:key"] != observability.KeyChatRelay {
		t.Errorf("function %+v tags %v; want role %s, secret %s", c, fn.Tags, roleARN, secretARN)
	}
	// The webhook is in the secret, and nowhere in state.
	val, err := in.AWS.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil || aws.ToString(val.SecretString) != testWebhook {
		t.Errorf("secret holds %q (%v)", aws.ToString(val.SecretString), err)
	}
	if raw, _ := json.Marshal(doc); strings.Contains(string(raw), "relay-token-e2e") {
		t.Error("the webhook URL reached state")
	}
	// The role: assumable by Lambda only, allowed its own log group and its own secret.
	role, err := in.AWS.IAM().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(doc.Resources[observability.KeyChatRelayRole].ID), PolicyName: aws.String(kinds.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	logGroupARN := doc.Resources[observability.KeyChatRelayLogs].ARN
	var got []string
	for _, s := range phasetest.PolicyStatements(t, aws.ToString(role.PolicyDocument)) {
		b, _ := json.Marshal([]any{s["Action"], s["Resource"]})
		got = append(got, string(b))
	}
	want := []string{
		`[["logs:CreateLogStream","logs:PutLogEvents"],["` + logGroupARN + `:*"]]`,
		`[["secretsmanager:GetSecretValue"],["` + secretARN + `"]]`,
	}
	if !slices.Equal(got, want) || !strings.HasSuffix(logGroupARN, ":log-group:/aws/lambda/"+name) {
		t.Errorf("role policy %v, want %v", got, want)
	}
	trust, _ := in.AWS.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(doc.Resources[observability.KeyChatRelayRole].ID)})
	if doc, _ := kit.DecodePolicy(aws.ToString(trust.Role.AssumeRolePolicyDocument)); !strings.Contains(doc, `"lambda.amazonaws.com"`) {
		t.Errorf("trust policy %s", doc)
	}
	// Subscribed to the alarm topic, which alone may invoke it.
	topicARN := doc.Resources[observability.KeyTopic].ARN
	subs, err := in.AWS.SNS().ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicARN)})
	if err != nil || !slices.ContainsFunc(subs.Subscriptions, func(s snstypes.Subscription) bool {
		return aws.ToString(s.Protocol) == "lambda" && aws.ToString(s.Endpoint) == aws.ToString(c.FunctionArn)
	}) {
		t.Errorf("topic subscriptions %+v (%v)", subs, err)
	}
	policy, err := in.AWS.Lambda().GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(name)})
	if err != nil || !strings.Contains(aws.ToString(policy.Policy), `"sns.amazonaws.com"`) || !strings.Contains(aws.ToString(policy.Policy), topicARN) {
		t.Errorf("function policy %s (%v)", aws.ToString(policy.Policy), err)
	}
	groups, _ := in.AWS.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/" + name)})
	if len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 7 {
		t.Errorf("log groups %+v", groups.LogGroups)
	}

	// Converged: a second run makes no mutating call, also with the webhook given again.
	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("second apply made %v", m)
	}

	// A new webhook is stored in place; the function is not touched.
	in.Getenv = func(k string) string {
		return map[string]string{observability.EnvChatWebhookURL: testWebhook + "-rotated"}[k]
	}
	from = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "observability")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutSecretValue"}) {
		t.Errorf("new webhook made %v", m)
	}

	// Switched off: everything of the relay goes, the topic stays.
	in.Config.Alarms.ChatRelay = false
	phasetest.ApplyScoped(t, in, doc, "observability")
	for _, k := range []string{observability.KeyChatWebhook, observability.KeyChatRelayLogs, observability.KeyChatRelayRole, observability.KeyChatRelay, observability.KeyChatRelaySub} {
		if doc.Resources[k] != nil {
			t.Errorf("%s still in state after switching the relay off", k)
		}
	}
	if _, err := in.AWS.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}); !kit.IsNotFound(err) {
		t.Errorf("function after switching off: %v", err)
	}
	subs, _ = in.AWS.SNS().ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicARN)})
	if len(subs.Subscriptions) != 0 {
		t.Errorf("subscriptions left: %+v", subs.Subscriptions)
	}
	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil {
		t.Fatal(err)
	}
}

// Destroy removes the relay with the rest, subscription first.
func TestChatRelayDestroy(t *testing.T) {
	ctx := context.Background()
	in, rec := relayInputs(t, testWebhook)
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "observability")
	from := len(rec.Calls())
	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil {
		t.Fatal(err)
	}
	if _, err := in.AWS.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(in.Prefix() + "-chat-relay")}); !kit.IsNotFound(err) {
		t.Errorf("function after destroy: %v", err)
	}
	if _, err := in.AWS.SecretsManager().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(in.Prefix() + "-chat-webhook")}); !kit.IsNotFound(err) {
		t.Errorf("secret after destroy: %v", err)
	}
	if _, err := in.AWS.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(in.Prefix() + "-chat-relay")}); !kit.IsNotFound(err) {
		t.Errorf("role after destroy: %v", err)
	}
	unsub, delFn := phasetest.CallIndex(rec, from, "SNS.Unsubscribe"), phasetest.CallIndex(rec, from, "Lambda.DeleteFunction")
	if unsub < 0 || delFn < 0 || unsub > delFn {
		t.Errorf("unsubscribe at %d, function deleted at %d: want the subscription gone first", unsub, delFn)
	}
}

// Without a webhook stored or given, the relay fails with what to set, naming no value.
func TestChatRelayNeedsWebhook(t *testing.T) {
	for name, tt := range map[string]struct{ webhook, want string }{
		"none given": {"", "set FVDEPLOY_CHAT_WEBHOOK_URL to the incoming webhook URL"},
		"not https":  {"http://hooks.example.com/x", "FVDEPLOY_CHAT_WEBHOOK_URL is not an https:// URL"},
	} {
		t.Run(name, func(t *testing.T) {
			in, _ := relayInputs(t, tt.webhook)
			r := &observability.WebhookSecret{In: in, API: in.AWS.SecretsManager()}
			_, err := r.Create(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || tt.webhook != "" && strings.Contains(err.Error(), tt.webhook) {
				t.Errorf("error %v, want one with %q and without the URL", err, tt.want)
			}
		})
	}
}
