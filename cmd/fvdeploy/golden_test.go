package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from this run")

// volatile are the parts of fvdeploy's output that differ from run to run (IDs the
// emulator makes up), replaced by stable placeholders before comparing.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`arn:aws:[^\s"]+`), "<arn>"},
	{regexp.MustCompile(`\b(vpc|subnet|igw|rtb|sg|nat|eipalloc|acl|fl)-[0-9a-f]{8,17}\b`), "<$1-id>"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`-\d+\.us-east-1\.elb\.amazonaws\.com`), "-<n>.us-east-1.elb.amazonaws.com"},
	// validate: the local app's port, timings and how many tries and log lines it took.
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:<port>"},
	{regexp.MustCompile(`\b(in|within) [0-9.]+(ns|µs|ms|s)\b`), "$1 <duration>"},
	{regexp.MustCompile(`\b\d+ (attempt|line)\(s\)`), "<n> $1(s)"},
}

// golden compares got, normalised, with testdata/<name>; with -update it rewrites the
// file instead, for a person to review in the diff.
func golden(t *testing.T, name, got string) {
	t.Helper()
	for _, v := range volatile {
		got = v.re.ReplaceAllString(got, v.with)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./cmd/fvdeploy -run %s -update` to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The text and JSON that people and CI read, pinned: plan on an empty account, up (its
// summary; every resource with --verbose), status of the converged environment, plan
// without --image (a build, in one line), destroy; prod's plan with its canary.
func TestGoldenOutputs(t *testing.T) {
	c := newCLI(t)
	args := func(cmd string, extra ...string) []string {
		return append([]string{cmd, "--env", "dev", "--phases", "network,secrets,cluster", "--image", stackImage}, extra...)
	}
	golden(t, "plan-dev.txt", mustRun(t, c, args("plan")...).Stdout)
	golden(t, "plan-dev.json", mustRun(t, c, args("plan", "--output", "json")...).Stdout)
	golden(t, "up-dev.txt", mustRun(t, c, args("up")...).Stdout)
	golden(t, "up-dev-again.json", mustRun(t, c, args("up", "--output", "json")...).Stdout)
	golden(t, "up-dev-again-verbose.txt", mustRun(t, c, args("up", "--verbose")...).Stdout)
	golden(t, "status-dev.txt", mustRun(t, c, "status", "--env", "dev").Stdout)
	golden(t, "status-dev.json", mustRun(t, c, "status", "--env", "dev", "--output", "json").Stdout)
	golden(t, "plan-dev-build.txt", mustRun(t, c, "plan", "--env", "dev", "--phases", "image,network,secrets,cluster").Stdout)
	golden(t, "destroy-dev.txt", mustRun(t, c, "destroy", "--env", "dev", "--yes").Stdout)
	// Prod's canary: the strategy's objects in the plan, and its modelled deploy time.
	golden(t, "plan-prod.txt", mustRun(t, c, "plan", "--env", "prod", "--phases", "network,secrets,cluster", "--image", stackImage).Stdout)
}
