package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// stackImage stands in for the image phase's output; the emulator never pulls it.
const stackImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-vars@sha256:5d41402abc4b2a76b9719d911017c592ae5d41402abc4b2a76b9719d911017c5"

func upArgs(env string, extra ...string) []string {
	return append([]string{"up", "--env", env, "--phases", "network,secrets,cluster", "--image", stackImage}, extra...)
}

// wantProdStack is prod's stack: its canary adds the alternate target group, the
// production listener rule and the role ECS shifts traffic with; the admin secret's
// rotation (every 30 days in prod) its function, the function's role and its rule.
func wantProdStack() inventory {
	inv := withRotation(withFlowLogs(wantStack(2, 2, 2, 6)))
	inv.TGs, inv.ListenerRules = 2, 1
	inv.Roles++
	return inv
}

// withFlowLogs adds what network.flow_logs (on in prod) makes: the flow log, its log
// group and its role.
func withFlowLogs(inv inventory) inventory {
	inv.FlowLogs, inv.FlowLogGroups = 1, 1
	inv.Roles++
	return inv
}

// withRotation adds the admin secret's rotation (secrets.rotation_days > 0, as in prod):
// its function, the function's role and its rule.
func withRotation(inv inventory) inventory {
	inv.Roles, inv.Functions, inv.Rules = inv.Roles+1, 1, 1
	return inv
}

func wantStack(nats, desired, minCap, maxCap int) inventory {
	return inventory{
		VPCs: 1, Subnets: 4, AZs: 2, IGWs: 1, NATs: nats, EIPs: nats, RouteTables: 3, SGs: 2, NACLs: 2,
		ALBs: 1, TGs: 1, Listeners: 1, Secrets: 1, Clusters: 1, LogGroups: 1, Roles: 2, TaskDefs: 1,
		Services: 1, ScalableTargets: 1, ScalingPolicies: 1, ServiceDesired: desired, MinCap: minCap, MaxCap: maxCap,
	}
}

// traced reads a --trace-calls file.
func traced(t testing.TB, path string) []tracedCall {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []tracedCall
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c tracedCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	return calls
}

func mutatingCalls(calls []tracedCall) []string {
	var out []string
	for _, c := range calls {
		if c.Mutating {
			out = append(out, c.Service+"."+c.Operation)
		}
	}
	return out
}

func mustRun(t *testing.T, c *testenv.CLI, args ...string) testenv.Result {
	t.Helper()
	res := c.Run(t, args...)
	if res.Code != 0 {
		t.Fatalf("fvdeploy %s: exit %d\n%s", strings.Join(args, " "), res.Code, res.Stderr)
	}
	return res
}

func TestUpConvergesAndDestroyLeavesNothing(t *testing.T) {
	c := newCLI(t)
	trace := func(name string) string { return filepath.Join(c.Dir, name) }

	mustRun(t, c, upArgs("prod", "--trace-calls", trace("up1"))...)
	if got, want := takeInventory(t, "fastapi-vars", "prod"), wantProdStack(); got != want {
		t.Errorf("prod inventory:\n got %+v\nwant %+v", got, want)
	}

	// A converged environment: no mutating call, and plan has nothing to do.
	res := mustRun(t, c, upArgs("prod", "--trace-calls", trace("up2"))...)
	if m := mutatingCalls(traced(t, trace("up2"))); len(m) != 0 {
		t.Errorf("second up made mutating calls: %v", m)
	}
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("second up:\n%s", res.Stdout)
	}
	for _, args := range [][]string{{}, {"--image", stackImage}} {
		res = mustRun(t, c, append([]string{"plan", "--env", "prod", "--phases", "network,secrets,cluster"}, args...)...)
		if !strings.Contains(res.Stdout, "No changes") {
			t.Errorf("plan %v after up:\n%s", args, res.Stdout)
		}
	}
	// Without --image, plan says in one line that up would build an image from the work
	// tree and run it: neither the build nor the task definition is listed as drift. The
	// repository, never created by an up with --image, is a real change.
	res = mustRun(t, c, "plan", "--env", "prod", "--phases", "image,network,secrets,cluster")
	if !strings.Contains(res.Stdout, "up would build a new image from the working tree and run it (not drift") ||
		strings.Contains(res.Stdout, "image/build") || strings.Contains(res.Stdout, "cluster/taskdef") ||
		!strings.Contains(res.Stdout, "image/repository") || !strings.Contains(res.Stdout, "Plan: 1 to create, 0 to update") {
		t.Errorf("plan without --image after up --image:\n%s", res.Stdout)
	}

	// dev stands beside prod with its own, smaller network.
	mustRun(t, c, upArgs("dev")...)
	if got, want := takeInventory(t, "fastapi-vars", "dev"), wantStack(1, 1, 1, 2); got != want {
		t.Errorf("dev inventory:\n got %+v\nwant %+v", got, want)
	}

	res = mustRun(t, c, "destroy", "--env", "prod", "--yes", "--trace-calls", trace("destroy"))
	if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
		t.Errorf("left behind after destroy: %+v", got)
	}
	if out := stateOutputs(t, c, "prod"); len(out) != 0 {
		t.Errorf("state keeps outputs of what was destroyed: %v", out)
	}
	assertTeardownOrder(t, res.Stderr)
	if got, want := takeInventory(t, "fastapi-vars", "dev"), wantStack(1, 1, 1, 2); got != want {
		t.Errorf("destroying prod touched dev:\n got %+v\nwant %+v", got, want)
	}
	res = mustRun(t, c, "destroy", "--env", "prod", "--yes")
	if !strings.Contains(res.Stderr, "Nothing to destroy") {
		t.Errorf("second destroy:\n%s", res.Stderr)
	}

	// A destroy killed as it deletes the load balancer: state keeps the outputs of what
	// it still records (the ALB's URL), and none of what is gone.
	proxy := newKillingProxy(t)
	cmd := c.Command("destroy", "--env", "dev", "--yes")
	cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+proxy.URL)
	proxy.mu.Lock()
	proxy.op = "DeleteLoadBalancer"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proxy.pid = cmd.Process.Pid
	proxy.mu.Unlock()
	_ = cmd.Wait()
	recorded, outputs := stateResources(t, c, "dev"), stateOutputs(t, c, "dev")
	gone := 0
	for output, key := range map[string]string{"url": "network/alb", "alb_dns": "network/alb", "service": "cluster/service", "image": "cluster/taskdef"} {
		_, exists := recorded[key]
		if !exists {
			gone++
		}
		if _, kept := outputs[output]; kept != exists {
			t.Errorf("after a partial destroy, output %s kept %v but %s in state %v", output, kept, key, exists)
		}
	}
	if _, alb := recorded["network/alb"]; !alb || gone == 0 {
		t.Fatalf("the partial destroy deleted nothing, or the load balancer (%d of 4 outputs' resources gone)", gone)
	}
	mustRun(t, c, "destroy", "--env", "dev", "--yes")
	if out := stateOutputs(t, c, "dev"); len(out) != 0 {
		t.Errorf("state keeps outputs after a resumed destroy: %v", out)
	}
}

// stateOutputs reads the outputs in the local state of env.
func stateOutputs(t testing.TB, c *testenv.CLI, env string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, ".fvdeploy", env+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Outputs
}

// assertTeardownOrder checks, from the progress lines, that each object was deleted only
// after everything that depends on it: the emulator would not refuse a wrong order.
func assertTeardownOrder(t *testing.T, stderr string) {
	t.Helper()
	deleted := func(key string) int {
		return strings.Index(stderr, "deleted "+key+" (")
	}
	deleting := func(key string) int {
		return strings.Index(stderr, "deleting "+key+" ...")
	}
	before := [][2]string{
		{"cluster/service", "cluster/cluster"},
		{"cluster/service", "network/tg"},
		{"network/listener-http", "network/alb"},
		{"network/alb", "network/subnet-public-a"},
		{"network/alb", "network/sg-alb"},
		{"network/nat-a", "network/eip-nat-a"},
		{"network/nat-b", "network/eip-nat-b"},
		{"network/sg-ecs", "network/sg-alb"},
		{"network/subnet-private-a", "network/vpc"},
		{"network/rt-private-a", "network/vpc"},
		{"network/igw", "network/vpc"},
	}
	for _, p := range before {
		first, second := deleted(p[0]), deleting(p[1])
		if first < 0 || second < 0 || first > second {
			t.Errorf("%s must be deleted before %s starts (positions %d, %d)", p[0], p[1], first, second)
		}
	}
}

func TestDriftShowsInPlanAndUpRestoresIt(t *testing.T) {
	c := newCLI(t)
	mustRun(t, c, upArgs("prod")...)
	ctx := context.Background()
	clients := testClients(t)
	// Out of band: an SG rule revoked, the service scaled to 0.
	sgs, err := clients.EC2().DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:fvdeploy:key"), Values: []string{"network/sg-alb"}},
		{Name: aws.String("tag:fvdeploy:env"), Values: []string{"prod"}},
	}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("finding sg-alb: %v", err)
	}
	sg := sgs.SecurityGroups[0]
	var https []ec2types.IpPermission
	for _, p := range sg.IpPermissions {
		if aws.ToInt32(p.FromPort) == 443 {
			https = append(https, p)
		}
	}
	if _, err := clients.EC2().RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: https}); err != nil || len(https) == 0 {
		t.Fatalf("revoking 443 (%d rules): %v", len(https), err)
	}
	if _, err := clients.ECS().UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("fastapi-vars-prod"), Service: aws.String("fastapi-vars-prod"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}

	res := mustRun(t, c, "plan", "--env", "prod", "--phases", "network,secrets,cluster", "--output", "json")
	var plan resultJSON
	if err := json.Unmarshal([]byte(res.Stdout), &plan); err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for _, it := range plan.Items {
		if it.Action != "no-op" {
			changed[it.Key] = string(it.Action)
		}
	}
	want := map[string]string{"network/sg-alb-rules": "update", "cluster/service": "update"}
	if len(changed) != len(want) || changed["network/sg-alb-rules"] != "update" || changed["cluster/service"] != "update" {
		t.Errorf("plan shows %v, want %v", changed, want)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(mustRun(t, c, "status", "--env", "prod", "--output", "json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	for key, r := range st.Resources {
		wantStatus := "in sync"
		switch {
		case want[key] != "":
			wantStatus = "drifted"
		case !strings.HasPrefix(key, "network/") && !strings.HasPrefix(key, "secrets/") && !strings.HasPrefix(key, "cluster/"):
			wantStatus = "not deployed"
		}
		if r.Status != wantStatus || (wantStatus == "drifted") != (len(r.Changes) > 0) {
			t.Errorf("status of %s: %q %v, want %q", key, r.Status, r.Changes, wantStatus)
		}
	}
	mustRun(t, c, upArgs("prod")...)
	if got, want := takeInventory(t, "fastapi-vars", "prod"), wantProdStack(); got != want {
		t.Errorf("after repair:\n got %+v\nwant %+v", got, want)
	}
	res = mustRun(t, c, "plan", "--env", "prod", "--phases", "network,secrets,cluster")
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("plan after repair:\n%s", res.Stdout)
	}
}

// killingProxy forwards to the emulator and, once a chosen operation has been carried
// out, SIGKILLs the fvdeploy process before it can see the answer or save state: the
// worst moment for a crash.
type killingProxy struct {
	*httptest.Server
	mu     sync.Mutex
	op     string
	pid    int
	killed bool
}

func newKillingProxy(t *testing.T) *killingProxy {
	u, _ := url.Parse(moto.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &killingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndex(op, "."); i >= 0 {
			op = op[i+1:]
		}
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			op = form.Get("Action")
		}
		p.mu.Lock()
		hit := !p.killed && op == p.op
		p.mu.Unlock()
		if !hit {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		p.mu.Lock()
		p.killed = true
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		p.mu.Unlock()
	}))
	t.Cleanup(p.Close)
	return p
}

func TestCrashRightAfterCreateIsAdoptedNotDuplicated(t *testing.T) {
	for _, op := range []string{"CreateVpc", "CreateNatGateway", "CreateLoadBalancer", "CreateSecret", "CreateService"} {
		t.Run(op, func(t *testing.T) {
			c := newCLI(t)
			proxy := newKillingProxy(t)
			cmd := c.Command(upArgs("prod")...)
			cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+proxy.URL)
			proxy.mu.Lock()
			proxy.op = op
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			proxy.pid = cmd.Process.Pid
			proxy.mu.Unlock()
			_ = cmd.Wait()
			proxy.mu.Lock()
			killed := proxy.killed
			proxy.mu.Unlock()
			if !killed {
				t.Fatalf("the run finished without calling %s", op)
			}
			// The local lock died with the process; the re-run resumes.
			mustRun(t, c, upArgs("prod")...)
			if got, want := takeInventory(t, "fastapi-vars", "prod"), wantProdStack(); got != want {
				t.Errorf("after a crash at %s:\n got %+v\nwant %+v", op, got, want)
			}
		})
	}
}

// stateResources reads the local state of env as fvdeploy left it.
func stateResources(t testing.TB, c *testenv.CLI, env string) map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, ".fvdeploy", env+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Resources
}

func TestSecretsRotateChangesThePasswordAndRollsTheService(t *testing.T) {
	c := newCLI(t)
	mustRun(t, c, upArgs("dev")...)
	ctx := context.Background()
	clients := testClients(t)
	read := func() string {
		out, err := clients.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("fastapi-vars-dev-admin")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SecretString)
	}
	before := read()
	if !strings.Contains(before, adminPass) {
		t.Fatalf("the secret was not created from ADMIN_PASS")
	}
	trace := filepath.Join(c.Dir, "rotate")
	res := mustRun(t, c, "secrets", "rotate", "--env", "dev", "--trace-calls", trace)
	after := read()
	if after == before || !strings.Contains(after, `"ADMIN_USER":"admin"`) {
		t.Errorf("rotate did not set a new password for the same user")
	}
	var user struct{ ADMIN_PASS, ADMIN_PASS_PREVIOUS string }
	if err := json.Unmarshal([]byte(after), &user); err != nil || strings.Contains(res.Stdout+res.Stderr, user.ADMIN_PASS) || strings.Contains(res.Stdout+res.Stderr, adminPass) {
		t.Errorf("a password appears in the output (%v)", err)
	}
	if user.ADMIN_PASS_PREVIOUS != "" {
		t.Error("after rotate the secret still holds the previous password")
	}
	// Two stages, each stored then rolled out: both passwords, then the new one alone.
	want := []string{"Secrets Manager.PutSecretValue", "ECS.UpdateService", "Secrets Manager.PutSecretValue", "ECS.UpdateService"}
	if m := mutatingCalls(traced(t, trace)); !slices.Equal(m, want) {
		t.Errorf("rotate made %v, want %v", m, want)
	}
}
