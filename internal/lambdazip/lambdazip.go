// Package lambdazip packages a Python Lambda handler that ships inside fvdeploy: a zip
// with handler.py at its root, the same bytes from run to run and machine to machine, so
// that the CodeSha256 Lambda reports changes only when the code does and `up` converges.
package lambdazip

import (
	"archive/zip"
	"bytes"
	"time"
)

// modified is every entry's modification time: a fixed one keeps the zip the same.
var modified = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Handler is the deployment package of one handler.py.
func Handler(code []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "handler.py", Method: zip.Deflate, Modified: modified}
	hdr.SetMode(0o644)
	f, err := w.CreateHeader(hdr)
	if err == nil {
		_, err = f.Write(code)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
