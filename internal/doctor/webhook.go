package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
)

type secretDescriber interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// chatWebhook says where up gets the chat relay's webhook from: the environment
// (checked) or the secret an earlier run stored. An error says what to set.
func chatWebhook(ctx context.Context, api secretDescriber, cfg *config.Config, getenv func(string) string) (string, error) {
	name := observability.ChatWebhookSecretName(cfg)
	if u := getenv(observability.EnvChatWebhookURL); u != "" {
		if err := observability.CheckWebhookURL(u); err != nil {
			return "", err
		}
		return fmt.Sprintf("given in %s; up keeps it in secret %s", observability.EnvChatWebhookURL, name), nil
	}
	d, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil && !secretGone(err) {
		return "", fmt.Errorf("describing secret %s: %w", name, err)
	}
	if d == nil || d.DeletedDate != nil {
		return "", fmt.Errorf("no webhook stored in secret %s, and %s is not set", name, observability.EnvChatWebhookURL)
	}
	return "stored in secret " + name, nil
}

// secretGone reports whether Secrets Manager says the secret does not exist.
func secretGone(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && strings.HasSuffix(apiErr.ErrorCode(), "NotFoundException")
}
