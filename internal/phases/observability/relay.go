package observability

import (
	"fmt"
	"net/url"

	"github.com/fvdeploy/fvdeploy/internal/alertrelay"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// The alarm relay's keys: the webhook secret, the function with its log group and role,
// and its subscription to the alarm topic.
const (
	KeyChatWebhook   = "observability/chat-webhook"
	KeyChatRelayLogs = "observability/chat-relay-logs"
	KeyChatRelayRole = "observability/chat-relay-role"
	KeyChatRelay     = "observability/chat-relay"
	KeyChatRelaySub  = "observability/chat-relay-subscription"

	// EnvChatWebhookURL is where up reads the incoming webhook URL from. The URL is a
	// credential (anyone holding it can post), so it never goes into the config file.
	EnvChatWebhookURL = "FVDEPLOY_CHAT_WEBHOOK_URL"

	RelayTimeoutSeconds = 15
	relayMemoryMiB      = 128
	// relayPermissionSid is the function policy statement that lets the topic invoke it.
	relayPermissionSid = "alarm-topic"
)

// ChatRelayResources relay the alarm topic's messages to a chat webhook: a Lambda function
// running internal/alertrelay/handler.py, allowed only to write its logs and read the
// webhook from its own secret.
func ChatRelayResources(in *kit.Inputs) []engine.Resource {
	lc := in.AWS.Lambda()
	return []engine.Resource{
		&WebhookSecret{In: in, API: in.AWS.SecretsManager()},
		&kinds.LogGroup{In: in, API: in.AWS.Logs(), KMS: in.AWS.KMS(), ResourceKey: KeyChatRelayLogs, Name: kit.ChatRelayLogGroupName(in)},
		&kinds.Role{In: in, API: in.AWS.IAM(), ResourceKey: KeyChatRelayRole, Name: kit.BoundedName(in.Prefix()+"-chat-relay", 64),
			Trust: kit.LambdaTrustPolicy(in),
			Deps:  []string{KeyChatWebhook, KeyChatRelayLogs}, Policy: chatRelayPolicy,
			Description: "Alarm relay of " + in.Prefix() + ": write its logs, read its webhook secret"},
		&kinds.LambdaFunction{In: in, API: lc, ResourceKey: KeyChatRelay, Name: kit.ChatRelayName(in),
			Description: "Posts the alarms of " + in.Prefix() + " to a chat webhook (fvdeploy)",
			RoleKey:     KeyChatRelayRole, Deps: []string{KeyChatWebhook, KeyChatRelayLogs},
			Runtime: alertrelay.Runtime, Handler: alertrelay.Handler, TimeoutSeconds: RelayTimeoutSeconds, MemoryMiB: relayMemoryMiB,
			Zip: alertrelay.Zip, Environment: relayEnvironment, Missing: "its role or webhook secret"},
		&relaySubscription{in: in, lambda: lc, sns: in.AWS.SNS()},
	}
}

// relayEnvironment is what the relay's handler reads: its webhook secret.
func relayEnvironment(deps engine.Deps) map[string]string {
	secret := deps.Get(KeyChatWebhook)
	if secret == nil {
		return nil
	}
	return map[string]string{alertrelay.SecretEnv: secret.ARN}
}

func chatWebhookSecretName(in *kit.Inputs) string { return in.Prefix() + "-chat-webhook" }

// chatRelayPolicy is all the function may do: write to its own log group and read its
// own secret.
func chatRelayPolicy(in *kit.Inputs, deps engine.Deps, _ string) (string, bool) {
	secret, logs := deps.Get(KeyChatWebhook), deps.Get(KeyChatRelayLogs)
	if secret == nil || logs == nil || secret.ARN == "" {
		return "", false
	}
	return kit.PolicyJSON(
		kit.PolicyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logs.ARN + ":*"}},
		kit.PolicyStatement{Sid: "ReadWebhook", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{secret.ARN}},
	), true
}

// CheckWebhookURL says what is wrong with a webhook URL given in FVDEPLOY_CHAT_WEBHOOK_URL,
// without quoting it: it is a credential.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s is not an https:// URL (the incoming webhook's address, e.g. https://hooks.slack.com/services/...)", EnvChatWebhookURL)
	}
	return nil
}

// ChatWebhookSecretName is the secret up keeps the chat relay's webhook in.
func ChatWebhookSecretName(cfg *config.Config) string {
	return chatWebhookSecretName(&kit.Inputs{Config: cfg})
}
