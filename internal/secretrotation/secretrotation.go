// Package secretrotation holds the admin secret's rotation function for Secrets Manager:
// handler.py, which rotates the admin password in the same two stages as internal/rotation
// (the new password with the previous one kept, rolled out; then the previous one cleared,
// rolled out), and its deployment zip. The code ships inside fvdeploy.
package secretrotation

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"time"
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

// zipTime is every entry's modification time: a fixed one keeps the zip, and so the
// CodeSha256 Lambda reports, the same from run to run and machine to machine.
var zipTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Zip is the deployment package: handler.py at the root of the archive.
func Zip() ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "handler.py", Method: zip.Deflate, Modified: zipTime}
	hdr.SetMode(0o644)
	f, err := w.CreateHeader(hdr)
	if err == nil {
		_, err = f.Write(handler)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("packaging the admin password rotation function: %w", err)
	}
	return buf.Bytes(), nil
}
