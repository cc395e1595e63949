// Package alertrelay holds the alarm relay's Lambda function: handler.py, which posts the
// alarm topic's messages to a Slack-compatible incoming webhook, and its deployment zip.
// The code ships inside fvdeploy, so a deployment downloads nothing.
package alertrelay

import (
	_ "embed"
	"fmt"

	"github.com/fvdeploy/fvdeploy/internal/lambdazip"
)

// The function's runtime and entry point, as handler.py is written for them.
const (
	Runtime = "python3.12"
	Handler = "handler.handler"
	// SecretEnv names the environment variable that holds the webhook secret's ARN.
	SecretEnv = "WEBHOOK_SECRET_ARN"
)

//go:embed handler.py
var handler []byte

// Zip is the deployment package: handler.py at the root of the archive.
func Zip() ([]byte, error) {
	b, err := lambdazip.Handler(handler)
	if err != nil {
		return nil, fmt.Errorf("packaging the alarm relay: %w", err)
	}
	return b, nil
}
