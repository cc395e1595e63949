// Package secretrotation holds the admin secret's rotation function for Secrets Manager:
// handler.py, which rotates the admin password in the same two stages as internal/rotation
// (the new password with the previous one kept, rolled out; then the previous one cleared,
// rolled out), and its deployment zip. The code ships inside fvdeploy.
package secretrotation

import (
	_ "embed"
	"fmt"

	"github.com/fvdeploy/fvdeploy/internal/lambdazip"
)

// The function's runtime and entry point, as handler.py is written for them.
const (
	Runtime = "python3.12"
	Handler = "handler.handler"
	// The environment variables handler.py reads: the secret it rotates and the ECS
	// service it rolls onto each stage.
	SecretEnv  = "SECRET_ARN"
	ClusterEnv = "CLUSTER"
	ServiceEnv = "SERVICE"
)

//go:embed handler.py
var handler []byte

// Zip is the deployment package: handler.py at the root of the archive.
func Zip() ([]byte, error) {
	b, err := lambdazip.Handler(handler)
	if err != nil {
		return nil, fmt.Errorf("packaging the admin password rotation function: %w", err)
	}
	return b, nil
}
