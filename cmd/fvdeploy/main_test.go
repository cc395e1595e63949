package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

var (
	moto *testenv.Moto
	bin  string
)

// TestMain builds the real binary and starts the emulator: the tests here drive fvdeploy
// as a user or CI would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fvdeploy-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = testenv.BuildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := testenv.RunWithMoto(m, &moto)
	os.RemoveAll(dir)
	os.Exit(code)
}

// adminPass is set in every run's environment, as a user deploying would have it; it
// must never come back out.
const adminPass = "S3cr3t-Adm1n-Pa55-e2e"

func newCLI(t *testing.T) *testenv.CLI {
	t.Helper()
	moto.Reset(t)
	env := moto.Env()
	env["ADMIN_USER"] = "admin"
	env["ADMIN_PASS"] = adminPass
	c := &testenv.CLI{Bin: bin, Dir: t.TempDir(), Env: env, Forbidden: []string{adminPass}}
	t.Cleanup(func() { c.CheckNoLeaksInFiles(t) })
	return c
}

// testClients are AWS clients pointed, like the binary, at the package's emulator.
func testClients(t *testing.T) *awsclients.Clients {
	t.Helper()
	c, err := awsclients.Load(context.Background(), awsclients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
