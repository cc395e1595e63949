package phases

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

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
