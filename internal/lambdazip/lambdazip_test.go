package lambdazip

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
)

// The package is handler.py, byte for byte, and the same bytes every time: Lambda's
// CodeSha256 then only changes when the code does.
func TestHandler(t *testing.T) {
	code := []byte("def handler(event, context):\n    return event\n")
	a, err := Handler(code)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Handler(code)
	if !bytes.Equal(a, b) {
		t.Error("two packages of the same code differ")
	}
	if c, _ := Handler(append(code, '#')); bytes.Equal(a, c) {
		t.Error("packages of different code are the same")
	}
	r, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != 1 || r.File[0].Name != "handler.py" {
		t.Fatalf("entries %v, want handler.py alone", r.File)
	}
	f, err := r.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(f); !bytes.Equal(got, code) {
		t.Error("the packaged handler.py is not the code given")
	}
}
