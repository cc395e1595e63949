package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildBinary builds cmd/fvdeploy into dir and returns its path.
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "fvdeploy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fvdeploy")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building fvdeploy: %v\n%s", err, out)
	}
	return bin, nil
}

// CLI runs the built binary in a working directory of its own, with an environment that
// holds nothing of the caller's AWS setup but what Env says.
type CLI struct {
	Bin string
	Dir string
	Env map[string]string
	// Forbidden strings (secrets) that must never appear in output or in Dir's files.
	Forbidden []string
}

// Result is one run of the binary.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs fvdeploy with args and checks that no forbidden string leaked into its output.
func (c *CLI) Run(t testing.TB, args ...string) Result {
	t.Helper()
	cmd := c.Command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running fvdeploy %v: %v", args, err)
	}
	c.checkLeaks(t, fmt.Sprintf("output of fvdeploy %s", strings.Join(args, " ")), res.Stdout+res.Stderr)
	return res
}

// Command prepares a run without starting it, for tests that need the process itself.
func (c *CLI) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.Bin, args...)
	cmd.Dir = c.Dir
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.Dir, "USER=tester"}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	return cmd
}

func (c *CLI) checkLeaks(t testing.TB, where, text string) {
	t.Helper()
	for _, secret := range c.Forbidden {
		if secret != "" && strings.Contains(text, secret) {
			t.Errorf("a secret appears in the %s", where)
		}
	}
}

// CheckNoLeaksInFiles fails the test if a forbidden string is in any file under Dir
// (state, backups, lock records).
func (c *CLI) CheckNoLeaksInFiles(t testing.TB) {
	t.Helper()
	err := filepath.WalkDir(c.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.checkLeaks(t, "file "+path, string(data))
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", c.Dir, err)
	}
}
