package phases

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fvdeploy/fvdeploy/internal/alertrelay"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
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

// ---- the webhook secret ----

// webhookSecret is <app>-<env>-chat-webhook, holding the webhook URL as its plain string
// value. Like the admin secret, its value is read only to compare it with one the user
// gave, and state holds only its name and ARN.
type webhookSecret struct {
	in  *Inputs
	api secretAPI
}

func (r *webhookSecret) Key() string         { return keyChatWebhook }
func (r *webhookSecret) Type() string        { return "secretsmanager:webhook-secret" }
func (r *webhookSecret) DependsOn() []string { return nil }

func (r *webhookSecret) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	d, err := describeSecret(ctx, r.api, chatWebhookSecretName(r.in), rec)
	if err != nil || d == nil {
		return nil, err
	}
	found, err := foundSecret(r.in, keyChatWebhook, d, rec)
	if err != nil || found == nil {
		return nil, err
	}
	change, err := secretPolicyDrift(ctx, r.api, found.Record.ARN, secretPolicy(r.in, webhookSecretAccess(r.in)))
	if err != nil {
		return nil, err
	}
	if change != nil {
		found.Changes = append(found.Changes, *change)
	}
	if given := r.in.Getenv(EnvChatWebhookURL); given != "" {
		out, err := r.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: d.ARN})
		if err != nil {
			return nil, fmt.Errorf("reading the value of secret %s: %w", found.Record.ID, err)
		}
		if aws.ToString(out.SecretString) != given {
			found.Changes = append(found.Changes, engine.Change{Field: "value", From: sensitiveFrom, To: "(sensitive, from " + EnvChatWebhookURL + ")"})
		}
	}
	return found, nil
}

// given is the webhook URL from the environment, checked.
func (r *webhookSecret) given() (string, error) {
	u := r.in.Getenv(EnvChatWebhookURL)
	if u == "" {
		return "", fmt.Errorf("alarms.chat_relay is on but no webhook is stored yet: set %s to the incoming webhook URL for `fvdeploy up` (it is kept in Secrets Manager as %s, never in state or config)",
			EnvChatWebhookURL, chatWebhookSecretName(r.in))
	}
	return u, CheckWebhookURL(u)
}

func (r *webhookSecret) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := chatWebhookSecretName(r.in)
	value, err := r.given()
	if err != nil {
		return nil, err
	}
	d, err := describeSecret(ctx, r.api, name, nil)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return adoptSecret(ctx, r.in, r.api, r, d)
	}
	out, err := r.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		Description:        aws.String(fmt.Sprintf("Chat webhook the alarms of %s (%s) are relayed to, managed by fvdeploy", r.in.Config.App, r.in.Config.Env)),
		SecretString:       aws.String(value),
		Tags:               secretTags(r.in.tags(keyChatWebhook)),
		ClientRequestToken: aws.String(r.in.clientToken(keyChatWebhook)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	if err := putSecretPolicy(ctx, r.api, aws.ToString(out.ARN), secretPolicy(r.in, webhookSecretAccess(r.in))); err != nil {
		return nil, err
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.ARN)}, nil
}

func (r *webhookSecret) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		switch c.Field {
		case "tags":
			if _, err := r.api.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: arn, Tags: secretTags(r.in.tags(keyChatWebhook))}); err != nil {
				return nil, fmt.Errorf("tagging secret %s: %w", found.Record.ID, err)
			}
		case fieldResourcePolicy:
			if err := putSecretPolicy(ctx, r.api, found.Record.ARN, c.To); err != nil {
				return nil, err
			}
		case "value":
			value, err := r.given()
			if err != nil {
				return nil, err
			}
			if _, err := r.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: arn, SecretString: aws.String(value)}); err != nil {
				return nil, fmt.Errorf("storing the webhook in secret %s: %w", found.Record.ID, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *webhookSecret) Delete(ctx context.Context, rec *state.Resource) error {
	return deleteSecretNow(ctx, r.api, rec)
}

// ---- its subscription to the alarm topic ----

// relaySubscription is the function subscribed to the alarm topic, with the permission
// in the function's policy that lets that topic, and only it, invoke the function.
type relaySubscription struct {
	in     *Inputs
	lambda lambdaPermissionAPI
	sns    subscriptionsAPI
}

func (r *relaySubscription) Key() string         { return keyChatRelaySub }
func (r *relaySubscription) Type() string        { return "sns:lambda-subscription" }
func (r *relaySubscription) DependsOn() []string { return []string{keyTopic, keyChatRelay} }

// endpoints are the topic's and the function's ARNs; ok is false while either is missing.
func endpoints(deps engine.Deps) (topicARN, functionARN string, ok bool) {
	t, f := deps.Get(keyTopic), deps.Get(keyChatRelay)
	if t == nil || f == nil {
		return "", "", false
	}
	return t.ARN, f.ARN, true
}

// permission lets topicARN, and only it, invoke the function.
func (r *relaySubscription) permission(topicARN string) invokePermission {
	return invokePermission{sid: relayPermissionSid, principal: "sns.amazonaws.com", sourceARN: topicARN}
}

func (r *relaySubscription) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	topicARN, functionARN, ok := endpoints(deps)
	if !ok {
		return nil, nil
	}
	subs, err := listSubscriptions(ctx, r.sns, topicARN)
	if err != nil {
		return nil, fmt.Errorf("listing the subscriptions of SNS topic %s: %w", topicARN, err)
	}
	var subARN string
	for _, s := range subs {
		if aws.ToString(s.Protocol) == "lambda" && aws.ToString(s.Endpoint) == functionARN {
			subARN = aws.ToString(s.SubscriptionArn)
		}
	}
	permitted, err := r.permission(topicARN).permitted(ctx, r.lambda, functionARN, r.in.Account)
	if err != nil {
		return nil, err
	}
	if subARN == "" && !permitted && rec == nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: subARN, Attrs: map[string]string{"function": functionARN}}}
	if !permitted {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "sns.amazonaws.com from " + topicARN})
	}
	if subARN == "" {
		found.Changes = append(found.Changes, engine.Change{Field: "subscription", From: "(none)", To: "lambda:" + functionARN})
	}
	return found, nil
}

func (r *relaySubscription) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	return r.Update(ctx, deps, &engine.Found{Changes: []engine.Change{{Field: "permission"}, {Field: "subscription"}}})
}

func (r *relaySubscription) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	topicARN, functionARN, ok := endpoints(deps)
	if !ok {
		return nil, fmt.Errorf("subscribing the alarm relay: the topic or the function does not exist")
	}
	rec := &state.Resource{ID: found.Record.ID, Attrs: map[string]string{"function": functionARN}}
	for _, c := range found.Changes {
		switch c.Field {
		case "permission":
			// A statement of this ID for another topic is replaced.
			if err := r.permission(topicARN).put(ctx, r.lambda, functionARN, r.in.Account); err != nil {
				return nil, err
			}
		case "subscription":
			out, err := r.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("lambda"),
				Endpoint: aws.String(functionARN), ReturnSubscriptionArn: true})
			if err != nil {
				return nil, fmt.Errorf("subscribing Lambda function %s to SNS topic %s: %w", functionARN, topicARN, err)
			}
			rec.ID = aws.ToString(out.SubscriptionArn)
		}
	}
	return rec, nil
}

func (r *relaySubscription) Delete(ctx context.Context, rec *state.Resource) error {
	if rec.ID != "" {
		if _, err := r.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(rec.ID)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("unsubscribing the alarm relay (%s): %w", rec.ID, err)
		}
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return removePermission(ctx, r.lambda, fn, relayPermissionSid)
	}
	return nil
}

// ChatWebhookSecretName is the secret up keeps the chat relay's webhook in.
func ChatWebhookSecretName(cfg *config.Config) string {
	return chatWebhookSecretName(&Inputs{Config: cfg})
}
