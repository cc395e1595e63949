package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// BenchmarkNoOpUp measures `up --env prod` with every default phase on a converged
// environment: its wall time, and the read calls it makes per resource, preflight
// included (target: ≤ 1.5, and no mutating call).
func BenchmarkNoOpUp(b *testing.B) {
	c := benchCLI(b)
	trace := filepath.Join(c.Dir, "calls")
	up := []string{"up", "--env", "prod", "--image", stackImage}
	benchRun(b, c, up...)
	b.ResetTimer()
	for range b.N {
		benchRun(b, c, append(up, "--trace-calls", trace)...)
	}
	b.StopTimer()
	calls := traced(b, trace)
	resources := float64(len(stateResources(b, c, "prod")))
	reads := 0
	for _, call := range calls {
		if !call.Mutating {
			reads++
		}
	}
	b.ReportMetric(resources, "resources")
	b.ReportMetric(float64(reads), "reads")
	b.ReportMetric(float64(reads)/resources, "reads/resource")
	b.ReportMetric(float64(len(mutatingCalls(calls))), "mutating")
}

// BenchmarkUpSerialDepth runs a full prod `up` with and without a fixed delay added to
// every API call. (wall with delay − wall without) ÷ delay is the effective number of
// calls made one after another; divided by the total number of calls it shows how much
// independent work overlaps (target ≤ 0.4).
func BenchmarkUpSerialDepth(b *testing.B) {
	const delay = 100 * time.Millisecond
	u, _ := url.Parse(moto.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	for range b.N {
		c := benchCLI(b)
		start := time.Now()
		benchRun(b, c, upArgs("prod")...)
		fast := time.Since(start)

		c = benchCLI(b)
		c.Env["AWS_ENDPOINT_URL"] = slow.URL
		trace := filepath.Join(c.Dir, "calls")
		start = time.Now()
		benchRun(b, c, upArgs("prod", "--trace-calls", trace)...)
		slowWall := time.Since(start)

		calls := float64(len(traced(b, trace)))
		depth := float64(slowWall-fast) / float64(delay)
		b.ReportMetric(calls, "calls")
		b.ReportMetric(depth, "serial-depth")
		b.ReportMetric(depth/calls, "depth/calls")
		b.ReportMetric(fast.Seconds(), "s-without-delay")
		b.ReportMetric(slowWall.Seconds(), "s-with-delay")
	}
}

func benchCLI(b *testing.B) *testenv.CLI {
	b.Helper()
	moto.Reset(b)
	return &testenv.CLI{Bin: bin, Dir: b.TempDir(), Env: moto.Env()}
}

func benchRun(b *testing.B, c *testenv.CLI, args ...string) {
	b.Helper()
	if res := c.Run(b, args...); res.Code != 0 {
		b.Fatalf("fvdeploy %v: exit %d\n%s", args, res.Code, res.Stderr)
	}
}
