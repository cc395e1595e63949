package phases

import (
	"fmt"
	"net/url"

	"github.com/fvdeploy/fvdeploy/internal/alertrelay"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// The alarm relay's keys: the webhook secret, the function with its log group and role,
// and its subscription to the alarm topic.
const (
	keyChatWebhook   = "observability/chat-webhook"
	keyChatRelayLogs = "observability/chat-relay-logs"
	keyChatRelayRole = "observability/chat-relay-role"
	keyChatRelay     = "observability/chat-relay"
	keyChatRelaySub  = "observability/chat-relay-subscription"

	// EnvChatWebhookURL is where up reads the incoming webhook URL from. The URL is a
	// credential (anyone holding it can post), so it never goes into the config file.
	EnvChatWebhookURL = "FVDEPLOY_CHAT_WEBHOOK_URL"

	relayTimeoutSeconds = 15
	relayMemoryMiB      = 128
	// relayPermissionSid is the function policy statement that lets the topic invoke it.
	relayPermissionSid = "alarm-topic"
)

// chatRelayResources relay the alarm topic's messages to a chat webhook: a Lambda function
// running internal/alertrelay/handler.py, allowed only to write its logs and read the
// webhook from its own secret.
func chatRelayResources(in *Inputs) []engine.Resource {
	lc := in.AWS.Lambda()
	return []engine.Resource{
		&webhookSecret{in: in, api: in.AWS.SecretsManager()},
		&logGroup{in: in, api: in.AWS.Logs(), kms: in.AWS.KMS(), key: keyChatRelayLogs, name: chatRelayLogGroupName(in)},
		&role{in: in, api: in.AWS.IAM(), key: keyChatRelayRole, name: boundedName(in.prefix()+"-chat-relay", 64),
			trust: lambdaTrustPolicy(in),
			deps:  []string{keyChatWebhook, keyChatRelayLogs}, policy: chatRelayPolicy,
			description: "Alarm relay of " + in.prefix() + ": write its logs, read its webhook secret"},
		&lambdaFunction{in: in, api: lc, key: keyChatRelay, name: chatRelayName(in),
			description: "Posts the alarms of " + in.prefix() + " to a chat webhook (fvdeploy)",
			roleKey:     keyChatRelayRole, deps: []string{keyChatWebhook, keyChatRelayLogs},
			runtime: alertrelay.Runtime, handler: alertrelay.Handler, timeoutSeconds: relayTimeoutSeconds, memoryMiB: relayMemoryMiB,
			zip: alertrelay.Zip, environment: relayEnvironment, missing: "its role or webhook secret"},
		&relaySubscription{in: in, lambda: lc, sns: in.AWS.SNS()},
	}
}

// relayEnvironment is what the relay's handler reads: its webhook secret.
func relayEnvironment(deps engine.Deps) map[string]string {
	secret := deps.Get(keyChatWebhook)
	if secret == nil {
		return nil
	}
	return map[string]string{alertrelay.SecretEnv: secret.ARN}
}

func chatRelayName(in *Inputs) string         { return boundedName(in.prefix()+"-chat-relay", 64) }
func chatRelayLogGroupName(in *Inputs) string { return "/aws/lambda/" + chatRelayName(in) }
func chatWebhookSecretName(in *Inputs) string { return in.prefix() + "-chat-webhook" }

// chatRelayPolicy is all the function may do: write to its own log group and read its
// own secret.
func chatRelayPolicy(in *Inputs, deps engine.Deps, _ string) (string, bool) {
	secret, logs := deps.Get(keyChatWebhook), deps.Get(keyChatRelayLogs)
	if secret == nil || logs == nil || secret.ARN == "" {
		return "", false
	}
	return policyJSON(
		policyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logs.ARN + ":*"}},
		policyStatement{Sid: "ReadWebhook", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{secret.ARN}},
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
	return chatWebhookSecretName(&Inputs{Config: cfg})
}
