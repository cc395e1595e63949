package secretrotation

import (
	"bytes"
	"os"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/lambdazip"
)

// The package is handler.py as it is on disk (lambdazip tests the packaging itself).
func TestZip(t *testing.T) {
	got, err := Zip()
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile("handler.py")
	if err != nil || len(code) == 0 {
		t.Fatalf("reading handler.py: %v", err)
	}
	want, _ := lambdazip.Handler(code)
	if !bytes.Equal(got, want) {
		t.Error("the package is not handler.py as on disk")
	}
}
