package testenv

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// App is the service (api/) run by uvicorn from the repository's .venv on a free
// loopback port: what validate talks to when the emulator routes no traffic.
type App struct {
	URL string

	mu    sync.Mutex
	lines []string
}

// StartApp starts the app with the given credentials and stops it when the test ends.
// The app's stdout (its JSON access log) is collected; see Lines.
func StartApp(t testing.TB, user, pass string) *App {
	t.Helper()
	uvicorn := filepath.Join(RepoRoot(), ".venv", "bin", "uvicorn")
	if _, err := os.Stat(uvicorn); err != nil {
		t.Fatalf("uvicorn not installed at %s (run `make test-deps`): %v", uvicorn, err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("finding a free port for the app: %v", err)
	}
	cmd := exec.Command(uvicorn, "main:app", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--no-access-log")
	cmd.Dir = filepath.Join(RepoRoot(), "api")
	cmd.Env = append(os.Environ(), "ADMIN_USER="+user, "ADMIN_PASS="+pass)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the app: %v", err)
	}
	a := &App{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			a.mu.Lock()
			a.lines = append(a.lines, sc.Text())
			a.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not answer %s/health within 30s: %v", a.URL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Lines returns the access log lines written so far, from the n-th on.
func (a *App) Lines(n int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n >= len(a.lines) {
		return nil
	}
	return append([]string(nil), a.lines[n:]...)
}
