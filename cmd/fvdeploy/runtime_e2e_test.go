package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The service really runs: fvdeploy builds the app image through the Engine API, pushes
// it to ministack's registry, and ministack runs the service's task as a container of
// the ground's own engine and forwards its ALB to it. Every request below goes through
// that ALB, at ministack's loopback gateway.
//
// What ministack does not model, and this test therefore tolerates, by name:
//   - no target health checks: a task's container joins the target group once it runs,
//     so while a broken build starts and crashes, the ALB may forward to it (502);
//   - it keeps the exited containers of failed tasks for its reaper (minutes);
//   - it has no Application Auto Scaling: moto answers it, holding a stand-in of the
//     service, as the scalable target needs one;
//   - a rollout completes once the new container starts, not once it answers (no health
//     checks): after up, deploy and rotate the test waits for the app to listen
//     (waitListening) before it asserts anything through the ALB, and rotate runs
//     behind a healthGate, which holds ECS's answers as AWS's health checks would;
//   - alarms and the NAT gateway read back thinner than written (drift), so up is not
//     re-run here for convergence (moto's e2e tests prove that).
func TestServiceRunsOnTheRuntimeGround(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	rt, err := testenv.StartRuntime()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Stop)
	t.Logf("runtime ground (bridge %s %s, dockerd, ministack, moto) up in %s", rt.Bridge.Name, rt.Bridge.Gateway, time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	base, err := testenv.PythonBaseImage(ctx, rt.DockerHost)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offline Python base image %s ready in %s", base, time.Since(start).Round(100*time.Millisecond))
	if err := rt.StandInService(ctx, "fastapi-vars-dev", "fastapi-vars-dev"); err != nil {
		t.Fatal(err)
	}
	engine, err := client.New(client.WithHost(rt.DockerHost))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()

	env := rt.Env()
	env["ADMIN_USER"] = "admin"
	env["ADMIN_PASS"] = adminPass
	c := &testenv.CLI{Bin: bin, Dir: t.TempDir(), Env: env, Forbidden: []string{adminPass}}
	t.Cleanup(func() { c.CheckNoLeaksInFiles(t) })
	appRepo(t, c.Dir, rt.Registry, base)
	secrets := secretsmanager.NewFromConfig(rt.AWSConfig(), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(rt.Endpoint) })
	storedPassword := func() string {
		out, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("fastapi-vars-dev-admin")})
		if err != nil {
			t.Fatal(err)
		}
		var creds map[string]string
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &creds); err != nil {
			t.Fatal(err)
		}
		return creds["ADMIN_PASS"]
	}
	var alb string
	step := func(name string, f func(t *testing.T)) {
		start := time.Now()
		if !t.Run(name, f) {
			t.FailNow()
		}
		t.Logf("%s: %s", name, time.Since(start).Round(100*time.Millisecond))
	}

	step("up builds, pushes and runs the app behind the ALB", func(t *testing.T) {
		mustRun(t, c, "up", "--env", "dev")
		var rec struct{ ID string }
		if err := json.Unmarshal(stateResources(t, c, "dev")["network/alb"], &rec); err != nil {
			t.Fatal(err)
		}
		alb = rt.ALBURL(rec.ID)
		waitListening(t, alb)
		if pass := storedPassword(); pass != adminPass {
			t.Fatalf("Secrets Manager holds another password than ADMIN_PASS")
		}
		running := runningTasks(t, engine)
		if len(running) != 1 || !runsDigest(t, engine, running[0], buildRecord(t, c, "dev")["digest"]) {
			t.Fatalf("want one task container running the digest in state, have %v", running)
		}
		expectAnswer(t, alb+"/", "admin", adminPass, http.StatusOK, greeting)
		for _, cred := range [][2]string{{"", ""}, {"admin", "wrong"}, {"root", adminPass}} {
			resp := get(t, alb+"/", cred[0], cred[1])
			if resp.status != http.StatusUnauthorized || resp.body != refusal || resp.header.Get("WWW-Authenticate") != "Basic" {
				t.Errorf("credentials %q: HTTP %d %s, WWW-Authenticate %q; want 401 %s with a Basic challenge", cred[0], resp.status, resp.body, resp.header.Get("WWW-Authenticate"), refusal)
			}
		}
		expectAnswer(t, alb+"/health", "", "", http.StatusOK, `{"status":"ok"}`)
	})

	step("validate passes every check through the ALB", func(t *testing.T) {
		res := mustRun(t, c, "validate", "--env", "dev", "--url", alb)
		for _, check := range []string{"target group: every target healthy", "logs: the service's access log lines for validate's requests arrive in CloudWatch"} {
			if !strings.Contains(res.Stderr, "ok   "+check) {
				t.Errorf("validate did not pass %q:\n%s", check, res.Stderr)
			}
		}
		if !strings.Contains(res.Stdout, "All 8 checks passed.") {
			t.Errorf("validate's result:\n%s", res.Stdout)
		}
	})

	step("status reports what exists as existing", func(t *testing.T) {
		res := mustRun(t, c, "status", "--env", "dev", "--output", "json")
		var out struct {
			Resources map[string]resourceStatus `json:"resources"`
		}
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("%v:\n%s", err, res.Stdout)
		}
		// ministack reads alarms and the NAT gateway back thinner than they were written:
		// they show as drifted, and what depends on the NAT as "will be updated".
		for key, rs := range out.Resources {
			switch rs.Status {
			case "in sync", "drifted", "will be updated":
			default:
				t.Errorf("%s is %q (%s): every resource up created exists", key, rs.Status, rs.Error)
			}
		}
	})

	step("deploy of a new commit replaces the running task", func(t *testing.T) {
		before := runningTasks(t, engine)
		appendFile(t, filepath.Join(c.Dir, "api", "main.py"), "# second build\n")
		commitAll(t, c.Dir, "second build")
		res := mustRun(t, c, "deploy", "--env", "dev")
		waitListening(t, alb)
		digest := buildRecord(t, c, "dev")["digest"]
		if !strings.Contains(res.Stdout, "fastapi-vars@"+digest+"): all tasks run it") {
			t.Errorf("deploy's result does not name the new digest %s:\n%s", digest, res.Stdout)
		}
		after := settledTasks(t, engine, 1)
		if len(after) != 1 || !runsDigest(t, engine, after[0], digest) || slices.Contains(ids(after), before[0].ID) {
			t.Fatalf("after deploy: running %v (before: %v); want only a new container on %s", ids(after), ids(before), digest)
		}
		if !strings.Contains(readFromContainer(t, engine, after[0].ID, "/app/main.py"), "# second build") {
			t.Error("the running container does not hold the new commit's code")
		}
		expectAnswer(t, alb+"/", "admin", adminPass, http.StatusOK, greeting)
	})

	step("a build that exits at start is rolled back while the previous one answers", func(t *testing.T) {
		good := runningTasks(t, engine)
		appendFile(t, filepath.Join(c.Dir, "api", "main.py"), "raise SystemExit('broken on purpose')\n")
		commitAll(t, c.Dir, "broken build")
		probe := startProbe(alb+"/", "admin", adminPass)
		res := c.Run(t, "deploy", "--env", "dev")
		during := probe.stop()
		if res.Code != 1 || !strings.Contains(res.Stderr, "circuit breaker") || !strings.Contains(res.Stderr, "Essential container exited") {
			t.Fatalf("deploy of a crashing build: exit %d; want 1 naming the circuit breaker and the stopped tasks' reason:\n%s", res.Code, res.Stderr)
		}
		// ministack forwards to a task as soon as its container runs, without a health
		// check, and until it notices the task stopped: a crashing task takes requests
		// that fail with a 502 naming its address. Any other failure is fvdeploy's: so
		// is any non-200 once deploy has returned.
		goodTarget := taskAddress(good[0]) + ":8000"
		t.Logf("during the failed deploy: %d requests, non-200: %v (a 502 naming another target than %s is the emulator routing to a crashing task)", during.total, during.failures, goodTarget)
		for _, f := range during.failures {
			if !strings.HasPrefix(f, "HTTP 502") || !strings.Contains(f, "Target ") || strings.Contains(f, goodTarget) {
				t.Errorf("during the failed deploy the previous version did not answer: %s", f)
			}
		}
		if during.total-len(during.failures) == 0 {
			t.Error("no request was answered during the failed deploy")
		}
		probe = startProbe(alb+"/", "admin", adminPass)
		time.Sleep(3 * time.Second)
		after := probe.stop()
		if len(after.failures) != 0 || after.total == 0 {
			t.Errorf("after the rollback: %d requests, non-200: %v", after.total, after.failures)
		}
		if running := runningTasks(t, engine); len(running) != 1 || running[0].ID != good[0].ID {
			t.Errorf("after the rollback running %v, want the previous container %s", ids(running), good[0].ID)
		}
	})

	// The rollover: a client keeps using the old password while rotate runs. Stage A stores
	// both passwords and rolls every task onto them; only then does stage B clear the old
	// one (the moment the test sees the secret stop carrying it) and roll again. Every
	// answer to the old password until that moment must be a 200; once rotate has
	// returned, every one a 401.
	step("secrets rotate: the old password answers until every task runs the new one, then is refused", func(t *testing.T) {
		before := runningTasks(t, engine)
		watch := watchSecret(ctx, secrets, "fastapi-vars-dev-admin")
		gate := startHealthGate(t, rt.Endpoint, engine, adminPass)
		rotating := *c
		rotating.Env = maps.Clone(c.Env)
		rotating.Env["AWS_ENDPOINT_URL_ECS"] = gate.URL
		probe := startTimedProbe(alb+"/", "admin", adminPass)
		began := time.Now()
		res := mustRun(t, &rotating, "secrets", "rotate", "--env", "dev")
		took := time.Since(began)
		during := probe.stop()
		seen := watch.stop()
		newPass := storedPassword()
		c.Forbidden = append(c.Forbidden, newPass)
		if newPass == adminPass || strings.Contains(res.Stdout+res.Stderr, newPass) {
			t.Fatal("rotate kept the password or showed it")
		}
		if !seen.bothStored || seen.cleared.IsZero() {
			t.Fatalf("the secret never held both passwords (%v), or never dropped the old one (%v)", seen.bothStored, seen.cleared)
		}
		var okA, connectErrs int
		for _, a := range during {
			if !a.end.Before(seen.cleared) {
				continue
			}
			switch {
			case a.status == http.StatusOK:
				okA++
			// ministack routes to a new task as soon as its container runs, before the app
			// listens (it has no health checks): a 502 naming a target's connect error is
			// the emulator's, never a refusal.
			case a.status == http.StatusBadGateway && strings.Contains(a.body, "connect error"):
				connectErrs++
			default:
				t.Errorf("the old password was refused before every task ran the new one: HTTP %d %s (at %s, stage B at %s)", a.status, a.body, a.end.Format(time.StampMilli), seen.cleared.Format(time.StampMilli))
			}
		}
		t.Logf("rotate took %s; until stage B: %d answers to the old password, %d of them 200, %d emulator connect errors; %d answers in all",
			took.Round(100*time.Millisecond), okA+connectErrs, okA, connectErrs, len(during))
		if okA < 10 {
			t.Errorf("only %d requests with the old password were answered during stage A", okA)
		}
		// The new tasks of stage A themselves accept the old password (by
		// ADMIN_PASS_PREVIOUS); stage B's refuse it.
		for stage, want := range map[string]int{"old": http.StatusOK, "A": http.StatusOK, "B": http.StatusUnauthorized} {
			got := gate.answers(stage)
			t.Logf("task containers of stage %s answered the old password with %v", stage, got)
			if len(got) == 0 || slices.ContainsFunc(got, func(s int) bool { return s != want }) {
				t.Errorf("task containers of stage %s answered the old password with %v, want HTTP %d from at least one and every one", stage, got, want)
			}
		}
		waitListening(t, alb)
		after := settledTasks(t, engine, 1)
		if len(after) != 1 || slices.Contains(ids(after), before[0].ID) {
			t.Errorf("after rotate: running %v (before: %v); want one new task", ids(after), ids(before))
		}
		expectAnswer(t, alb+"/", "admin", newPass, http.StatusOK, greeting)
		probe = startTimedProbe(alb+"/", "admin", adminPass)
		time.Sleep(3 * time.Second)
		for _, a := range probe.stop() {
			if a.status != http.StatusUnauthorized || a.body != refusal {
				t.Errorf("the old password after rotate: HTTP %d %s, want 401", a.status, a.body)
			}
		}
	})

	step("destroy leaves no task running and no state", func(t *testing.T) {
		mustRun(t, c, "destroy", "--env", "dev", "--yes")
		if running := settledTasks(t, engine, 0); len(running) != 0 {
			t.Errorf("task containers still running after destroy: %v", ids(running))
		}
		if left := stateResources(t, c, "dev"); len(left) != 0 {
			t.Errorf("state still records %v", keysOf(left))
		}
	})
}

// The challenge's API contract, as its FastAPI app renders it.
const (
	greeting = `{"message":"Olá candidato, seja bem vindo ao Vars!","username":"admin"}`
	refusal  = `{"detail":"Usuário ou senha estão incorretos"}`
)

// appRepo makes dir a git work tree with the service (the repository's Dockerfile and
// api/) built on the offline base image, pushed to registry.
func appRepo(t *testing.T, dir, registry, base string) {
	t.Helper()
	root := testenv.RepoRoot()
	files, err := filepath.Glob(filepath.Join(root, "api", "*.py"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "api", "requirements.txt"), filepath.Join(root, "Dockerfile"), filepath.Join(root, ".dockerignore"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, rel, string(data))
	}
	writeFile(t, dir, ".gitignore", ".fvdeploy/\n")
	writeFile(t, dir, "fvdeploy.yaml", fmt.Sprintf("image:\n  registry: %q\n  build_args: [BASE_IMAGE=%s, INSTALL_REQUIREMENTS=false]\n", registry, base))
	gitIn(t, dir, "init", "-q")
	commitAll(t, dir, "the service")
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// runningTasks are the running containers of the service's tasks, as ministack labels them.
func runningTasks(t *testing.T, engine *client.Client) []container.Summary {
	t.Helper()
	res, err := engine.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", "com.amazonaws.ecs.task-definition-family=fastapi-vars-dev").Add("status", "running"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// taskAddress is the container's address on the ground's bridge: the ALB's target.
func taskAddress(c container.Summary) string {
	if c.NetworkSettings != nil {
		for _, n := range c.NetworkSettings.Networks {
			if n != nil && n.IPAddress.IsValid() {
				return n.IPAddress.String()
			}
		}
	}
	return ""
}

// settledTasks waits, 30 s at most, until want task containers run, and returns those
// running then: a stopped task's container takes a moment to exit after ECS says so.
func settledTasks(t *testing.T, engine *client.Client, want int) []container.Summary {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		running := runningTasks(t, engine)
		if len(running) == want || time.Now().After(deadline) {
			return running
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ids(cs []container.Summary) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// runsDigest reports whether the container runs the image the registry knows as digest.
func runsDigest(t *testing.T, engine *client.Client, c container.Summary, digest string) bool {
	t.Helper()
	img, err := engine.ImageInspect(context.Background(), c.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range img.RepoDigests {
		if strings.HasSuffix(d, "@"+digest) {
			return true
		}
	}
	t.Logf("container %s runs %s (%v), not %s", c.ID[:12], c.Image, img.RepoDigests, digest)
	return false
}

// readFromContainer reads one file out of a container through the Engine API's archive.
func readFromContainer(t *testing.T, engine *client.Client, id, path string) string {
	t.Helper()
	res, err := engine.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Content.Close()
	data, err := io.ReadAll(res.Content)
	if err != nil {
		t.Fatal(err)
	}
	// A tar of one file: the header is binary but the content is the text we look for.
	return string(data)
}

// waitListening waits (a minute at most) until the ALB reaches a task that listens: ministack
// completes a rollout when the container starts, where AWS waits for the target's health
// checks, and the app needs a few seconds more under load. Only ministack's "connect
// error" 502 is waited out; any other answer ends the wait.
func waitListening(t *testing.T, alb string) {
	t.Helper()
	start := time.Now()
	for {
		a, err := fetch(alb+"/health", "", "")
		if err == nil && !(a.status == http.StatusBadGateway && strings.Contains(a.body, "connect error")) {
			t.Logf("the task answered %s after %s", alb, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no task listens behind %s after a minute: %v %v", alb, a, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type answer struct {
	status int
	body   string
	header http.Header
}

// Longer than ministack's 10 s connect timeout to a target, so that its 502 (naming the
// target) arrives rather than the client giving up.
var probeClient = &http.Client{Timeout: 20 * time.Second}

func get(t *testing.T, url, user, pass string) answer {
	t.Helper()
	a, err := fetch(url, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fetch(url, user, pass string) (answer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{}, err
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(body), header: resp.Header}, err
}

func expectAnswer(t *testing.T, url, user, pass string, status int, body string) {
	t.Helper()
	if a := get(t, url, user, pass); a.status != status || a.body != body {
		t.Errorf("GET %s as %q: HTTP %d %s; want %d %s", url, user, a.status, a.body, status, body)
	}
}

// timedAnswer is one answer of a timedProbe, with when it was asked and when it arrived.
type timedAnswer struct {
	start  time.Time
	end    time.Time
	status int
	body   string
}

type timedProbe struct {
	done    chan struct{}
	wg      sync.WaitGroup
	answers []timedAnswer
}

// startTimedProbe sends requests one after another, 100 ms apart, until stopped, and
// keeps every answer with its time; a request that fails outright is status 0.
func startTimedProbe(url, user, pass string) *timedProbe {
	p := &timedProbe{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			start := time.Now()
			a, err := fetch(url, user, pass)
			ta := timedAnswer{start: start, end: time.Now(), status: a.status, body: strings.TrimSpace(a.body)}
			if err != nil {
				ta.body = err.Error()
			}
			p.answers = append(p.answers, ta)
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *timedProbe) stop() []timedAnswer {
	close(p.done)
	p.wg.Wait()
	return p.answers
}

// secretWatch polls the admin secret (every 100 ms) and notes whether it held a previous
// password, and when it first held none again after that.
type secretWatch struct {
	done chan struct{}
	wg   sync.WaitGroup

	bothStored bool
	cleared    time.Time
}

func watchSecret(ctx context.Context, sm *secretsmanager.Client, id string) *secretWatch {
	w := &secretWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			if err == nil {
				var v map[string]string
				if json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v) == nil {
					if v["ADMIN_PASS_PREVIOUS"] != "" {
						w.bothStored = true
					} else if w.bothStored && w.cleared.IsZero() {
						w.cleared = time.Now()
					}
				}
			}
			select {
			case <-w.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *secretWatch) stop() *secretWatch {
	close(w.done)
	w.wg.Wait()
	return w
}

// healthGate stands between fvdeploy and ministack's ECS and answers DescribeServices
// only once every running task container of the service answers HTTP on :8000: the
// health check after which AWS's ECS counts a task toward a rollout, which ministack
// does not model (it completes a rollout once a container has run for a second, maybe
// before the app listens). It asks each container with the old password and records the
// answer by stage, told apart by the password variables ECS resolved into the
// container's environment: "old" (the old password alone), "A" (the old one as
// ADMIN_PASS_PREVIOUS), "B" (another password alone).
type healthGate struct {
	URL string

	engine *client.Client
	old    string
	mu     sync.Mutex
	seen   map[string]gateAnswer // by container ID
}

type gateAnswer struct {
	stage  string
	status int
}

func startHealthGate(t *testing.T, target string, engine *client.Client, old string) *healthGate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &healthGate{engine: engine, old: old, seen: map[string]gateAnswer{}}
	forward := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DescribeServices") {
			if err := g.waitHealthy(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// waitHealthy returns once every running task container has answered (30 s at most).
func (g *healthGate) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, err := g.askRunning(ctx)
		switch {
		case err != nil:
			return err
		case pending == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("health gate: %d task containers did not answer on :8000 within 30s", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// askRunning asks each running task container that has not answered yet, and counts
// those that still do not.
func (g *healthGate) askRunning(ctx context.Context) (pending int, err error) {
	res, err := g.engine.ContainerList(ctx, client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", "com.amazonaws.ecs.task-definition-family=fastapi-vars-dev").Add("status", "running"),
	})
	if err != nil {
		return 0, fmt.Errorf("health gate: listing task containers: %w", err)
	}
	for _, c := range res.Items {
		g.mu.Lock()
		_, done := g.seen[c.ID]
		g.mu.Unlock()
		if done {
			continue
		}
		in, err := g.engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil || in.Container.Config == nil {
			pending++ // stopping: asked again next round
			continue
		}
		env := map[string]string{}
		for _, kv := range in.Container.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		stage := "B"
		switch g.old {
		case env["ADMIN_PASS_PREVIOUS"]:
			stage = "A"
		case env["ADMIN_PASS"]:
			stage = "old"
		}
		addr := taskAddress(c)
		if addr == "" {
			pending++ // not on the bridge yet
			continue
		}
		a, err := fetch("http://"+addr+":8000/", "admin", g.old)
		if err != nil {
			pending++
			continue
		}
		g.mu.Lock()
		g.seen[c.ID] = gateAnswer{stage: stage, status: a.status}
		g.mu.Unlock()
	}
	return pending, nil
}

// answers are the statuses the task containers of stage gave the old password.
func (g *healthGate) answers(stage string) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for _, a := range g.seen {
		if a.stage == stage {
			out = append(out, a.status)
		}
	}
	return out
}

// probe sends requests one after another until stopped (at most 3000, 100 ms apart) and
// counts the answers that are not 200.
type probe struct {
	done chan struct{}
	wg   sync.WaitGroup

	total    int
	failures []string
}

func startProbe(url, user, pass string) *probe {
	p := &probe{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for range 3000 {
			a, err := fetch(url, user, pass)
			p.total++
			switch {
			case err != nil:
				p.failures = append(p.failures, err.Error())
			case a.status != http.StatusOK:
				p.failures = append(p.failures, fmt.Sprintf("HTTP %d %s", a.status, strings.TrimSpace(a.body)))
			}
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *probe) stop() *probe {
	close(p.done)
	p.wg.Wait()
	return p
}
