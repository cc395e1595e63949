package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/moby/moby/client"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// imageRepo makes the CLI's folder a git work tree holding a tiny FROM scratch image,
// and points fvdeploy at the registry. The .dockerignore keeps state and traces out of
// the build context, so that they never make the tree "dirty".
func imageRepo(t *testing.T, c *testenv.CLI, registryHost string) {
	t.Helper()
	writeFile(t, c.Dir, "Dockerfile", "FROM scratch\nCOPY hello.txt /\n")
	writeFile(t, c.Dir, "hello.txt", "hello\n")
	writeFile(t, c.Dir, ".dockerignore", "*\n!Dockerfile\n!hello.txt\n")
	writeFile(t, c.Dir, "fvdeploy.yaml", "image:\n  registry: \""+registryHost+"\"\n")
	gitIn(t, c.Dir, "init", "-q")
	commitAll(t, c.Dir, "first")
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-qm", msg)
	return gitIn(t, dir, "rev-parse", "HEAD")
}

// registryDigest asks the registry itself, with the ECR-style credentials, which
// manifest a tag names.
func registryDigest(t *testing.T, host, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.SetBasicAuth(testenv.ECRUser, testenv.ECRPassword)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// buildRecord is the image/build record in env's state.
func buildRecord(t *testing.T, c *testenv.CLI, env string) map[string]string {
	t.Helper()
	raw, ok := stateResources(t, c, env)["image/build"]
	if !ok {
		t.Fatal("no image/build in state")
	}
	var rec struct{ Attrs map[string]string }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Attrs
}

// The image phase and deploy against a real Docker engine, a real registry on loopback
// that admits the emulator's ECR token, and the emulator for ECR, ECS and the rest.
func TestImageAndDeployWithRealDocker(t *testing.T) {
	docker, err := testenv.StartDocker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(docker.Stop)
	registry, err := testenv.StartRegistry(testenv.ECRUser, testenv.ECRPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(registry.Stop)
	newImageCLI := func(t *testing.T, registryHost string) *testenv.CLI {
		c := newCLI(t)
		c.Env["DOCKER_HOST"] = docker.Host
		imageRepo(t, c, registryHost)
		return c
	}

	t.Run("phase image builds, pushes and records the registry's digest", func(t *testing.T) {
		c := newImageCLI(t, registry.Host)
		sha := gitIn(t, c.Dir, "rev-parse", "HEAD")
		trace := filepath.Join(c.Dir, "trace")
		res := mustRun(t, c, "phase", "image", "--env", "dev")
		for _, w := range []string{": COPY hello.txt /", "pushing " + registry.Host + "/fastapi-vars:" + sha[:12]} {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("progress lacks %q:\n%s", w, res.Stderr)
			}
		}
		rec := buildRecord(t, c, "dev")
		want := registryDigest(t, registry.Host, "fastapi-vars", sha[:12])
		if want == "" || rec["digest"] != want || rec["uri"] != registry.Host+"/fastapi-vars@"+want {
			t.Fatalf("state records %v; the registry has %q for %s", rec, want, sha[:12])
		}
		if got := registryDigest(t, registry.Host, "fastapi-vars", "latest"); got != want {
			t.Errorf("latest is %q, want %q", got, want)
		}
		// Unchanged tree: nothing built, nothing pushed, no mutating AWS call.
		res = mustRun(t, c, "phase", "image", "--env", "dev", "--trace-calls", trace)
		if m := mutatingCalls(traced(t, trace)); len(m) != 0 || strings.Contains(res.Stderr, "building") || !strings.Contains(res.Stdout, "No changes") {
			t.Errorf("second run: mutating %v\n%s\n%s", m, res.Stdout, res.Stderr)
		}
		// A commit that changes nothing in the context only adds its tag.
		writeFile(t, c.Dir, "README.md", "docs\n")
		sha2 := commitAll(t, c.Dir, "docs")
		res = mustRun(t, c, "phase", "image", "--env", "dev")
		if strings.Contains(res.Stderr, "building") || registryDigest(t, registry.Host, "fastapi-vars", sha2[:12]) != want {
			t.Errorf("docs-only commit rebuilt or did not tag:\n%s", res.Stderr)
		}
		// Uncommitted changes in the context: built, tagged -dirty, and said so.
		writeFile(t, c.Dir, "hello.txt", "hello, world\n")
		res = mustRun(t, c, "phase", "image", "--env", "dev")
		dirty := buildRecord(t, c, "dev")
		if !strings.Contains(res.Stderr, "uncommitted changes in the build context (hello.txt)") || dirty["digest"] == want ||
			registryDigest(t, registry.Host, "fastapi-vars", sha2[:12]+"-dirty") != dirty["digest"] {
			t.Errorf("dirty build: %v\n%s", dirty, res.Stderr)
		}
		// Another environment adopts the pushed image without building it again.
		gitIn(t, c.Dir, "checkout", "-q", "--", "hello.txt")
		res = mustRun(t, c, "phase", "image", "--env", "hml")
		if strings.Contains(res.Stderr, "building") || buildRecord(t, c, "hml")["digest"] != want {
			t.Errorf("hml did not adopt %s:\n%s", want, res.Stderr)
		}
	})

	t.Run("a wrong registry password fails with the registry's message", func(t *testing.T) {
		strangers, err := testenv.StartRegistry(testenv.ECRUser, "not-the-ecr-token")
		if err != nil {
			t.Fatal(err)
		}
		defer strangers.Stop()
		// The config names the good registry; --registry overrides it.
		c := newImageCLI(t, registry.Host)
		res := c.Run(t, "phase", "image", "--env", "dev", "--registry", strangers.Host)
		if res.Code != 1 || !strings.Contains(res.Stderr, "authentication required") {
			t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
		}
		// Also when only the push can tell: an uncommitted change skips the registry lookup.
		writeFile(t, c.Dir, "hello.txt", "changed\n")
		res = c.Run(t, "phase", "image", "--env", "dev", "--registry", strangers.Host)
		if res.Code != 1 || !strings.Contains(res.Stderr, "pushing") || !strings.Contains(res.Stderr, "authentication required") {
			t.Fatalf("push with a wrong password: exit %d:\n%s", res.Code, res.Stderr)
		}
	})

	t.Run("up builds the image and runs it; a second up changes nothing", func(t *testing.T) {
		c := newImageCLI(t, registry.Host)
		args := []string{"up", "--env", "dev", "--phases", "image,network,secrets,cluster"}
		mustRun(t, c, args...)
		rec := buildRecord(t, c, "dev")
		td, err := testClients(t).ECS().DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: describeDevService(t).TaskDefinition})
		if err != nil {
			t.Fatal(err)
		}
		if img := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); img != rec["uri"] || !strings.Contains(img, "@sha256:") {
			t.Errorf("the task definition runs %s, the build is %s", img, rec["uri"])
		}
		trace := filepath.Join(c.Dir, "trace")
		res := mustRun(t, c, append(args, "--trace-calls", trace)...)
		if m := mutatingCalls(traced(t, trace)); len(m) != 0 || strings.Contains(res.Stderr, "building") || !strings.Contains(res.Stdout, "No changes") {
			t.Errorf("second up: mutating %v\n%s\n%s", m, res.Stdout, res.Stderr)
		}
		if res := mustRun(t, c, "plan", "--env", "dev", "--phases", "image,network,secrets,cluster"); !strings.Contains(res.Stdout, "No changes") {
			t.Errorf("plan after up:\n%s", res.Stdout)
		}
		// A change in the context: the plan says in one line that up would build and run
		// a new image, without listing the build and the task definition as drift.
		writeFile(t, c.Dir, "hello.txt", "v2\n")
		commitAll(t, c.Dir, "v2")
		res = mustRun(t, c, "plan", "--env", "dev", "--phases", "image,network,secrets,cluster")
		if !strings.Contains(res.Stdout, "No changes: ") || !strings.Contains(res.Stdout, "up would build a new image from the working tree and run it") ||
			strings.Contains(res.Stdout, "container.image") {
			t.Errorf("plan after a change:\n%s", res.Stdout)
		}
		res = mustRun(t, c, "plan", "--env", "dev", "--phases", "image,network,secrets,cluster", "--output", "json")
		if !strings.Contains(res.Stdout, `"builds_image": true`) || !strings.Contains(res.Stdout, `"key": "image/build"`) {
			t.Errorf("plan --output json after a change:\n%s", res.Stdout)
		}
	})

	t.Run("doctor: all ok with the engine up; the engine stopped fails it and up", func(t *testing.T) {
		c := newImageCLI(t, registry.Host)
		sha := gitIn(t, c.Dir, "rev-parse", "HEAD")
		out, res := runDoctor(t, c)
		if res.Code != 0 || !out.OK {
			t.Fatalf("exit %d: %+v\n%s", res.Code, out, res.Stderr)
		}
		for name, want := range map[string]string{"docker": "(API 1.", "git": "commit " + sha[:12] + ", clean", "dockerfile": "/Dockerfile"} {
			if status, detail, _ := out.check(t, name); status != "ok" || !strings.Contains(detail, want) {
				t.Errorf("%s: %s %q, want ok with %q", name, status, detail, want)
			}
		}
		writeFile(t, c.Dir, "hello.txt", "uncommitted\n")
		out, res = runDoctor(t, c)
		if status, detail, _ := out.check(t, "git"); res.Code != 0 || status != "warn" || !strings.Contains(detail, "tagged "+sha[:12]+"-dirty") {
			t.Errorf("dirty tree: exit %d, %s %q", res.Code, status, detail)
		}
		gitIn(t, c.Dir, "checkout", "-q", "--", "hello.txt")

		c.Env["DOCKER_HOST"] = "unix://" + stoppedEngineSocket(t)
		out, res = runDoctor(t, c)
		status, detail, fix := out.check(t, "docker")
		if res.Code != 1 || status != "fail" || !strings.Contains(detail, "does not answer") || !strings.Contains(fix, "start the Docker engine") {
			t.Errorf("engine stopped: exit %d, %s %q (%s)", res.Code, status, detail, fix)
		}
		trace := filepath.Join(c.Dir, "trace")
		for _, args := range [][]string{{"up", "--env", "dev", "--phases", "image,network"}, {"phase", "image", "--env", "dev"}} {
			res := c.Run(t, append(args, "--trace-calls", trace)...)
			if m := mutatingCalls(traced(t, trace)); res.Code != 1 || len(m) != 0 || !strings.Contains(res.Stderr, "preflight failed, nothing was changed") {
				t.Errorf("%v with the engine stopped: exit %d, mutating %v\n%s", args, res.Code, m, res.Stderr)
			}
		}
	})

	t.Run("build tags the image in the local engine without AWS", func(t *testing.T) {
		c := newImageCLI(t, registry.Host)
		sha := gitIn(t, c.Dir, "rev-parse", "HEAD")
		trace := filepath.Join(c.Dir, "trace")
		res := mustRun(t, c, "build", "--output", "json", "--trace-calls", trace)
		var out struct{ Tags []string }
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatal(err)
		}
		want := []string{"fastapi-vars:" + sha[:12], "fastapi-vars:latest"}
		if !slices.Equal(out.Tags, want) || len(traced(t, trace)) != 0 {
			t.Fatalf("tags %v (want %v), AWS calls %v", out.Tags, want, traced(t, trace))
		}
		api, err := client.New(client.WithHost(docker.Host))
		if err != nil {
			t.Fatal(err)
		}
		defer api.Close()
		first, err := api.ImageInspect(context.Background(), want[0])
		if err != nil {
			t.Fatal(err)
		}
		if latest, err := api.ImageInspect(context.Background(), want[1]); err != nil || latest.ID != first.ID {
			t.Errorf("latest is %v (%v), want %s", latest.ID, err, first.ID)
		}
	})

	t.Run("deploy registers a revision only when the image changed", func(t *testing.T) {
		c := newImageCLI(t, registry.Host)
		mustRun(t, c, upArgs("dev")...)
		trace := filepath.Join(c.Dir, "trace")
		// The emulator never starts a deployment (see TestRolloutStateMachine for the
		// wait): --no-wait, which returns once ECS accepted the revision.
		res := mustRun(t, c, "deploy", "--env", "dev", "--no-wait", "--trace-calls", trace)
		m := mutatingCalls(traced(t, trace))
		for _, want := range []string{"ECR.CreateRepository", "ECS.RegisterTaskDefinition", "ECS.UpdateService"} {
			if !slices.Contains(m, want) {
				t.Errorf("first deploy made %v, lacking %s", m, want)
			}
		}
		rec := buildRecord(t, c, "dev")
		svc := describeDevService(t)
		td, err := testClients(t).ECS().DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: svc.TaskDefinition})
		if err != nil {
			t.Fatal(err)
		}
		if img := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); img != rec["uri"] || !strings.Contains(res.Stdout, "not waiting (--no-wait)") {
			t.Errorf("the service runs %s, the build is %s\n%s", img, rec["uri"], res.Stdout)
		}
		// The same digest again: not a single mutating call.
		res = mustRun(t, c, "deploy", "--env", "dev", "--no-wait", "--trace-calls", trace)
		if m := mutatingCalls(traced(t, trace)); len(m) != 0 || !strings.Contains(res.Stdout, "already runs") {
			t.Errorf("second deploy made %v\n%s", m, res.Stdout)
		}
		// New content: one new revision, and the service is pointed at it.
		writeFile(t, c.Dir, "hello.txt", "v2\n")
		commitAll(t, c.Dir, "v2")
		mustRun(t, c, "deploy", "--env", "dev", "--no-wait", "--trace-calls", trace)
		m = mutatingCalls(traced(t, trace))
		if m = slices.DeleteFunc(m, func(s string) bool { return !strings.HasPrefix(s, "ECS.") }); !slices.Equal(m, []string{"ECS.RegisterTaskDefinition", "ECS.UpdateService"}) {
			t.Errorf("deploying new content made %v", m)
		}
		if got := aws.ToString(describeDevService(t).TaskDefinition); !strings.HasSuffix(got, ":3") {
			t.Errorf("service runs %s, want revision 3", got)
		}
	})
}

// stoppedEngineSocket is where an engine listened before it stopped: the socket file is
// left, and connecting is refused.
func stoppedEngineSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dk") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "docker.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	return path
}

func describeDevService(t *testing.T) *ecstypes.Service {
	t.Helper()
	out, err := testClients(t).ECS().DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("fastapi-vars-dev"), Services: []string{"fastapi-vars-dev"}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describing the dev service: %v", err)
	}
	return &out.Services[0]
}
