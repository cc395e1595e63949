package observability

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// WebhookSecret is <app>-<env>-chat-webhook, holding the webhook URL as its plain string
// value. Like the admin secret, its value is read only to compare it with one the user
// gave, and state holds only its name and ARN.
type WebhookSecret struct {
	In  *kit.Inputs
	API kinds.SecretAPI
}

func (r *WebhookSecret) Key() string         { return KeyChatWebhook }
func (r *WebhookSecret) Type() string        { return "secretsmanager:webhook-secret" }
func (r *WebhookSecret) DependsOn() []string { return nil }

func (r *WebhookSecret) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	d, err := kinds.DescribeSecret(ctx, r.API, chatWebhookSecretName(r.In), rec)
	if err != nil || d == nil {
		return nil, err
	}
	found, err := kinds.FoundSecret(r.In, KeyChatWebhook, d, rec)
	if err != nil || found == nil {
		return nil, err
	}
	change, err := kinds.SecretPolicyDrift(ctx, r.API, found.Record.ARN, kinds.SecretPolicy(r.In, kinds.WebhookSecretAccess(r.In)))
	if err != nil {
		return nil, err
	}
	if change != nil {
		found.Changes = append(found.Changes, *change)
	}
	if given := r.In.Getenv(EnvChatWebhookURL); given != "" {
		out, err := r.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: d.ARN})
		if err != nil {
			return nil, fmt.Errorf("reading the value of secret %s: %w", found.Record.ID, err)
		}
		if aws.ToString(out.SecretString) != given {
			found.Changes = append(found.Changes, engine.Change{Field: "value", From: kinds.SensitiveFrom, To: "(sensitive, from " + EnvChatWebhookURL + ")"})
		}
	}
	return found, nil
}

// given is the webhook URL from the environment, checked.
func (r *WebhookSecret) given() (string, error) {
	u := r.In.Getenv(EnvChatWebhookURL)
	if u == "" {
		return "", fmt.Errorf("alarms.chat_relay is on but no webhook is stored yet: set %s to the incoming webhook URL for `fvdeploy up` (it is kept in Secrets Manager as %s, never in state or config)",
			EnvChatWebhookURL, chatWebhookSecretName(r.In))
	}
	return u, CheckWebhookURL(u)
}

func (r *WebhookSecret) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := chatWebhookSecretName(r.In)
	value, err := r.given()
	if err != nil {
		return nil, err
	}
	d, err := kinds.DescribeSecret(ctx, r.API, name, nil)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return kinds.AdoptSecret(ctx, r.In, r.API, r, d)
	}
	out, err := r.API.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		Description:        aws.String(fmt.Sprintf("Chat webhook the alarms of %s (%s) are relayed to, managed by fvdeploy", r.In.Config.App, r.In.Config.Env)),
		SecretString:       aws.String(value),
		Tags:               kit.SecretTags(r.In.Tags(KeyChatWebhook)),
		ClientRequestToken: aws.String(r.In.ClientToken(KeyChatWebhook)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	if err := kinds.PutSecretPolicy(ctx, r.API, aws.ToString(out.ARN), kinds.SecretPolicy(r.In, kinds.WebhookSecretAccess(r.In))); err != nil {
		return nil, err
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.ARN)}, nil
}

func (r *WebhookSecret) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		switch c.Field {
		case "tags":
			if _, err := r.API.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: arn, Tags: kit.SecretTags(r.In.Tags(KeyChatWebhook))}); err != nil {
				return nil, fmt.Errorf("tagging secret %s: %w", found.Record.ID, err)
			}
		case kinds.FieldResourcePolicy:
			if err := kinds.PutSecretPolicy(ctx, r.API, found.Record.ARN, c.To); err != nil {
				return nil, err
			}
		case "value":
			value, err := r.given()
			if err != nil {
				return nil, err
			}
			if _, err := r.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: arn, SecretString: aws.String(value)}); err != nil {
				return nil, fmt.Errorf("storing the webhook in secret %s: %w", found.Record.ID, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *WebhookSecret) Delete(ctx context.Context, rec *state.Resource) error {
	return kinds.DeleteSecretNow(ctx, r.API, rec)
}
