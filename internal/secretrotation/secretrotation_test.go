package secretrotation

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"testing"
)

// The package is handler.py, byte for byte, and the same bytes every time: Lambda's
// CodeSha256 then only changes when the code does.
func TestZip(t *testing.T) {
	a, err := Zip()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Zip()
	if !bytes.Equal(a, b) {
		t.Error("two packages of the same code differ")
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
	got, _ := io.ReadAll(f)
	want, _ := os.ReadFile("handler.py")
	if !bytes.Equal(got, want) || len(want) == 0 {
		t.Error("the packaged handler.py is not the file on disk")
	}
}
