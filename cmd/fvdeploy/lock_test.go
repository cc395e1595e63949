package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// stallingProxy forwards to the emulator but holds the requests match picks until told,
// so that a real fvdeploy process can be caught while it holds the state lock.
type stallingProxy struct {
	*httptest.Server
	match   func(r *http.Request, body string) bool
	mu      sync.Mutex
	release chan struct{}
	reached chan struct{}
}

func newStallingProxy(t *testing.T, target string, match func(r *http.Request, body string) bool) *stallingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{match: match}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if p.match(r, string(body)) {
			p.mu.Lock()
			release, reached := p.release, p.reached
			p.mu.Unlock()
			if release != nil {
				close(reached)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// stall makes the next request for the path wait; it returns a func that lets it go.
func (p *stallingProxy) stall() (reached <-chan struct{}, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.release, p.reached = make(chan struct{}), make(chan struct{})
	r := p.release
	return p.reached, func() {
		p.mu.Lock()
		p.release = nil
		p.mu.Unlock()
		close(r)
	}
}

func createBucket(t *testing.T, name string) {
	t.Helper()
	clients := testClients(t)
	if _, err := clients.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
}

func startHeld(t *testing.T, c *testenv.CLI, proxy *stallingProxy, args ...string) *exec.Cmd {
	t.Helper()
	reached, release := proxy.stall()
	cmd := c.Command(args...)
	cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+proxy.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); release() })
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("first fvdeploy never read its state; stderr:\n%s", stderr.String())
	}
	return cmd
}

func TestS3StateLockBetweenTwoProcesses(t *testing.T) {
	c := newCLI(t)
	createBucket(t, "team-state")
	stateURL := "s3://team-state/fvdeploy"
	proxy := newStallingProxy(t, moto.Endpoint, func(r *http.Request, _ string) bool {
		return r.Method == http.MethodGet && r.URL.Path == "/team-state/fvdeploy/dev.json"
	})
	args := []string{"destroy", "--yes", "--env", "dev", "--state", stateURL}

	// A first run takes the lock and is held while reading the state.
	first := startHeld(t, c, proxy, args...)
	second := c.Run(t, args...)
	if second.Code != 3 {
		t.Fatalf("second run: exit %d, want 3 (lock held)\n%s", second.Code, second.Stderr)
	}
	for _, want := range []string{
		"state s3://team-state/fvdeploy/dev.json is locked by ",
		fmt.Sprintf("(pid %d, fvdeploy destroy) since %d-", first.Process.Pid, time.Now().Year()),
		"fvdeploy unlock --env dev",
	} {
		if !strings.Contains(second.Stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, second.Stderr)
		}
	}

	// The holder dies mid-run: its lock stays, until unlock clears it deliberately.
	_ = first.Process.Kill()
	_ = first.Wait()
	if res := c.Run(t, args...); res.Code != 3 {
		t.Fatalf("after the holder died: exit %d, want 3 until unlocked\n%s", res.Code, res.Stderr)
	}
	res := c.Run(t, "unlock", "--env", "dev", "--state", stateURL)
	if res.Code != 0 || !strings.Contains(res.Stdout, "Cleared the lock on s3://team-state/fvdeploy/dev.json held by ") ||
		!strings.Contains(res.Stdout, fmt.Sprintf("(pid %d, fvdeploy destroy)", first.Process.Pid)) {
		t.Fatalf("unlock: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	res = c.Run(t, args...)
	if res.Code != 0 || !strings.Contains(res.Stderr, "Nothing to destroy") {
		t.Fatalf("after unlock: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := c.Run(t, "unlock", "--env", "dev", "--state", stateURL); res.Code != 0 || !strings.Contains(res.Stdout, "was not locked") {
		t.Errorf("second unlock: exit %d\n%s", res.Code, res.Stdout)
	}
}

// Two real processes on local state: the first is held at its first AWS call after taking
// the OS lock; the second is refused with the first's identity; once the first dies, the
// OS has freed the lock and nothing needs unlocking.
func TestLocalStateLockBetweenTwoProcesses(t *testing.T) {
	c := newCLI(t)
	proxy := newStallingProxy(t, moto.Endpoint, func(_ *http.Request, body string) bool {
		return strings.Contains(body, "Action=DescribeVpcs")
	})
	args := []string{"up", "--env", "dev", "--phases", "network", "--timeout", "2m"}
	first := startHeld(t, c, proxy, args...)
	second := c.Run(t, args...)
	if second.Code != 3 || !strings.Contains(second.Stderr, "state .fvdeploy/dev.json is locked by ") ||
		!strings.Contains(second.Stderr, fmt.Sprintf("(pid %d, fvdeploy up) since %d-", first.Process.Pid, time.Now().Year())) {
		t.Fatalf("second run: exit %d, want 3 naming the first:\n%s", second.Code, second.Stderr)
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	if res := c.Run(t, "unlock", "--env", "dev"); res.Code != 0 {
		t.Fatalf("unlock after the holder died: exit %d\n%s", res.Code, res.Stderr)
	}
	mustRun(t, c, args...)
}

func TestLocalStateLockHeld(t *testing.T) {
	c := newCLI(t)
	// This test process holds the lock through the same code the binary uses.
	backend, err := state.Open(c.Dir+"/.fvdeploy", "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := backend.Lock(context.Background(), "up")
	if err != nil {
		t.Fatal(err)
	}
	res := c.Run(t, "destroy", "--yes", "--env", "prod")
	if res.Code != 3 || !strings.Contains(res.Stderr, "state .fvdeploy/prod.json is locked by") ||
		!strings.Contains(res.Stderr, "fvdeploy up) since") {
		t.Fatalf("exit %d, want 3 naming the holder:\n%s", res.Code, res.Stderr)
	}
	// A live local holder is never cleared: that would let two writers run.
	res = c.Run(t, "unlock", "--env", "prod")
	if res.Code != 3 || !strings.Contains(res.Stderr, "stop it first") {
		t.Fatalf("unlock of a live local lock: exit %d\n%s", res.Code, res.Stderr)
	}
	if err := held.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := c.Run(t, "destroy", "--yes", "--env", "prod"); res.Code != 0 {
		t.Fatalf("after the holder released: exit %d\n%s", res.Code, res.Stderr)
	}
}
