// Package testenv starts the real parts that tests run against: the moto AWS emulator on
// loopback, and the fvdeploy binary built from this tree. Tests never skip for want of
// them; a missing emulator is a failure that says how to install it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Moto is a running moto server.
type Moto struct {
	Endpoint string
	cmd      *exec.Cmd
}

// RepoRoot is the module root, found from this source file so tests work from any package.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func motoBinary() (string, error) {
	if p := os.Getenv("FVDEPLOY_MOTO_SERVER"); p != "" {
		return p, nil
	}
	p := filepath.Join(RepoRoot(), ".venv", "bin", "moto_server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("moto emulator not installed at %s (run `make test`, which installs it, or set FVDEPLOY_MOTO_SERVER): %w", p, err)
	}
	return p, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartMoto starts moto in server mode on a free loopback port and waits until it answers.
// ECS services report running == desired (moto never runs tasks) and ACM certificates are
// issued at once.
func StartMoto(ecsRunning int) (*Moto, error) {
	bin, err := motoBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("finding a free port for moto: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(serverEnv(),
		"MOTO_ACM_VALIDATION_WAIT=0",
		"MOTO_ECS_SERVICE_RUNNING="+strconv.Itoa(ecsRunning),
		"MOTO_IAM_LOAD_MANAGED_POLICIES=true",
	)
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("fvdeploy-moto-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating moto log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting moto (%s): %w", bin, err)
	}
	logFile.Close()
	m := &Moto{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := waitUntilAnswers(m.Endpoint+"/moto-api/data.json", http.StatusOK, exited, 60*time.Second); err != nil {
		m.Stop()
		return nil, fmt.Errorf("moto on %s (log: %s): %w", m.Endpoint, logPath, err)
	}
	return m, nil
}

// Stop kills the server.
func (m *Moto) Stop() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
}

// Reset gives the next test a clean account.
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("resetting moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resetting moto: HTTP %d", resp.StatusCode)
	}
}

// Env is the environment that points the AWS SDK (in-process or in the binary) at the
// emulator with dummy credentials, and away from any real profile or instance role.
func (m *Moto) Env() map[string]string { return emulatorEnv(m.Endpoint) }

// emulatorEnv points the AWS SDK at an emulator's endpoint.
func emulatorEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// serverEnv is this process's environment for an emulator it starts, without the AWS
// settings that point this process's SDK somewhere: an emulator reads them through its
// own SDK (boto), and an empty AWS_PROFILE, say, breaks it.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// RunWithMoto is a TestMain body: it starts one emulator for the package, points the
// process's AWS SDK at it, runs the tests and always stops the emulator.
func RunWithMoto(m *testing.M, started **Moto) int {
	moto, err := StartMoto(2)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer moto.Stop()
	for k, v := range moto.Env() {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
	}
	*started = moto
	return m.Run()
}
