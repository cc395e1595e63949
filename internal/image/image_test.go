package image

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The project's own .dockerignore is an allow-list: "*" then "!" re-includes.
func TestContextHonoursAllowListDockerignore(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, map[string]string{
		".dockerignore":        "*\n!Dockerfile\n!api/requirements.txt\n!api/*.py\n",
		"Dockerfile":           "FROM scratch\n",
		"api/main.py":          "print()\n",
		"api/requirements.txt": "fastapi\n",
		"api/tests/test_x.py":  "x\n",
		"api/notes.md":         "x\n",
		".venv/lib/site.py":    "x\n",
		"README.md":            "x\n",
		".git/config":          "x\n",
	})
	c, err := LoadContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "api/main.py", "api/requirements.txt"}
	if got := c.Files(); !slices.Equal(got, want) {
		t.Fatalf("context files %v, want %v", got, want)
	}
	// The digest follows content and nothing else.
	again, _ := LoadContext(dir, "Dockerfile")
	testenv.WriteFiles(t, dir, map[string]string{"README.md": "changed\n", "api/tests/test_x.py": "changed\n"})
	unrelated, _ := LoadContext(dir, "Dockerfile")
	testenv.WriteFiles(t, dir, map[string]string{"api/main.py": "print(1)\n"})
	changed, _ := LoadContext(dir, "Dockerfile")
	if c.Digest != again.Digest || c.Digest != unrelated.Digest || c.Digest == changed.Digest {
		t.Errorf("digests: %s %s %s %s", c.Digest, again.Digest, unrelated.Digest, changed.Digest)
	}
}

// The repository's real context: the app, its requirements and the Dockerfile only.
func TestRepositoryContextIsTheApp(t *testing.T) {
	c, err := LoadContext(testenv.RepoRoot(), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Files() {
		if f != "Dockerfile" && f != ".dockerignore" && f != "api/requirements.txt" && !(strings.HasPrefix(f, "api/") && strings.Count(f, "/") == 1 && strings.HasSuffix(f, ".py")) {
			t.Errorf("%s is in the build context", f)
		}
	}
	if !slices.Contains(c.Files(), "api/main.py") {
		t.Errorf("api/main.py is not in the build context: %v", c.Files())
	}
}

func TestRevisionIsDirtyOnlyForContextChanges(t *testing.T) {
	ctx := context.Background()
	dir := testenv.GitRepo(t, map[string]string{".dockerignore": "*\n!app.txt\n", "Dockerfile": "FROM scratch\nCOPY app.txt /\n", "app.txt": "v1\n"})
	load := func() Revision {
		t.Helper()
		c, err := LoadContext(dir, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		rev, err := GitRevision(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	clean := load()
	if clean.Dirty || len(clean.SHA) != 40 || clean.Tag() != clean.SHA[:12] {
		t.Fatalf("fresh commit: %+v, tag %s", clean, clean.Tag())
	}
	// State files and notes next to the code are not part of the image.
	testenv.WriteFiles(t, dir, map[string]string{".fvdeploy/dev.json": "{}", "NOTES.md": "x"})
	if rev := load(); rev.Dirty {
		t.Fatalf("files outside the context made the tree dirty: %+v", rev)
	}
	testenv.WriteFiles(t, dir, map[string]string{"app.txt": "v2\n"})
	if rev := load(); !rev.Dirty || rev.Tag() != clean.SHA[:12]+"-dirty" || !slices.Equal(rev.Changed, []string{"app.txt"}) {
		t.Fatalf("a changed context file: %+v, tag %s", rev, rev.Tag())
	}
	if _, err := GitRoot(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in a git work tree") {
		t.Errorf("GitRoot outside a repository: %v", err)
	}
}

// Errors arrive inside the JSON stream with HTTP 200, in errorDetail or, from older
// engines, in error alone.
func TestStreamErrorsFailWithTheirMessage(t *testing.T) {
	e := &Engine{Progress: t.Logf}
	for name, stream := range map[string]string{
		"errorDetail": `{"status":"Preparing","id":"a"}` + "\n" + `{"errorDetail":{"message":"denied: not allowed"},"error":"denied: not allowed"}`,
		"error only":  `{"stream":"Step 1/2"}{"error":"COPY failed: no source files"}`,
	} {
		var seen int
		err := e.follow(strings.NewReader(stream), func(message) { seen++ })
		var se *StreamError
		if !errors.As(err, &se) || seen != 1 || !strings.Contains(se.Message, map[string]string{"errorDetail": "denied: not allowed", "error only": "COPY failed"}[name]) {
			t.Errorf("%s: err %v after %d messages", name, err, seen)
		}
	}
	if err := e.follow(strings.NewReader(`{"status":"ok"}`), func(message) {}); err != nil {
		t.Errorf("a clean stream: %v", err)
	}
}

func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// A FROM scratch image built through the Engine API and pushed with ECR-style
// credentials: the digest the push reports is the registry's manifest digest, every tag
// names it, and a tag can be moved through the registry alone.
func TestBuildAndPushFromScratch(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t)
	dir := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /\n", "hello.txt": "hello\n"})
	c, err := LoadContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{goodRegistry.Host + "/team/hello:one", goodRegistry.Host + "/team/hello:latest"}
	id, err := e.Build(ctx, c, BuildOptions{Tags: refs, Platform: "linux/amd64", Labels: map[string]string{"dev.fvdeploy.inputs": "abc"}})
	if err != nil || !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("build: %q %v", id, err)
	}
	var digests []string
	for _, ref := range refs {
		d, err := e.Push(ctx, ref, ecrLikeUser)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	reg := NewRegistry(goodRegistry.Host, ecrLikeUser)
	for i, tag := range []string{"one", "latest"} {
		got, err := reg.Digest(ctx, "team/hello", tag)
		if err != nil || got != digests[i] || digests[i] != digests[0] {
			t.Fatalf("registry has %s:%s at %q (%v); the push said %v", "team/hello", tag, got, err, digests)
		}
	}
	labels, err := reg.Labels(ctx, "team/hello", digests[0])
	if err != nil || labels["dev.fvdeploy.inputs"] != "abc" {
		t.Fatalf("labels %v %v", labels, err)
	}
	if _, err := reg.Digest(ctx, "team/hello", "v1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing tag: %v", err)
	}
	if err := reg.Retag(ctx, "team/hello", digests[0], "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Digest(ctx, "team/hello", "v1.0.0"); err != nil || got != digests[0] {
		t.Fatalf("retagged: %s %v", got, err)
	}
}

// A wrong password fails the push with the registry's own words.
func TestPushWithWrongPasswordFails(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t)
	dir := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /\n", "hello.txt": "hi\n"})
	c, err := LoadContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ref := strangers.Host + "/hello:one"
	if _, err := e.Build(ctx, c, BuildOptions{Tags: []string{ref}, Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Push(ctx, ref, ecrLikeUser)
	var se *StreamError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("push with a wrong password: %v", err)
	}
	_, err = NewRegistry(strangers.Host, ecrLikeUser).Digest(ctx, "hello", "one")
	var re *RegistryError
	if !errors.As(err, &re) || re.Status != 401 || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("registry read with a wrong password: %v", err)
	}
}

// A failing Dockerfile step fails the build with the builder's message.
func TestBuildErrorFailsWithTheBuildersMessage(t *testing.T) {
	e := newEngine(t)
	dir := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY missing.txt /\n"})
	c, err := LoadContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Build(context.Background(), c, BuildOptions{Tags: []string{"broken:1"}, Platform: "linux/amd64"})
	var se *StreamError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "missing.txt") {
		t.Fatalf("build of a broken Dockerfile: %v", err)
	}
}

func TestLoopbackRegistriesSpeakHTTP(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "127.0.0.1": true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com": false, "registry.example.com:443": false} {
		if IsLoopback(host) != want {
			t.Errorf("IsLoopback(%s) = %v", host, !want)
		}
	}
}
