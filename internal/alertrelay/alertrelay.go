// Package alertrelay holds the alarm relay's Lambda function: handler.py, which posts the
// alarm topic's messages to a Slack-compatible incoming webhook, and its deployment zip.
// The code ships inside fvdeploy, so a deployment downloads nothing.
package alertrelay

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
	// SecretEnv names the environment variable that holds the webhook secret's ARN.
	SecretEnv = "WEBHOOK_SECRET_ARN"
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
		return nil, fmt.Errorf("packaging the alarm relay: %w", err)
	}
	return buf.Bytes(), nil
}
