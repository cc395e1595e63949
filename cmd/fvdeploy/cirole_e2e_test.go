package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"go.yaml.in/yaml/v3"

	"github.com/fvdeploy/fvdeploy/internal/iampolicy"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// apiCall is one AWS API request as the recording proxy saw it: the signing name of the
// service, the operation, its parameters and, for JSON protocols, the answer.
type apiCall struct {
	Service, Operation string
	Params             map[string]any
	Answer             map[string]any
}

// apiRecorder stands between the binary and its AWS endpoints and keeps every request:
// --trace-calls names the operations, the requests carry the resources they act on.
type apiRecorder struct {
	// answer, when set, may answer a request itself (JSON protocols) instead of the
	// upstream: the stopped tasks the emulator never has.
	answer func(op string, params map[string]any) map[string]any

	mu    sync.Mutex
	calls []apiCall
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request`)

// front returns a loopback endpoint that records each request and forwards it to
// upstream unchanged.
func (a *apiRecorder) front(t *testing.T, upstream string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		call := apiCall{Params: map[string]any{}}
		if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			call.Service = m[1]
		}
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			call.Operation = target[strings.LastIndex(target, ".")+1:]
			_ = json.Unmarshal(body, &call.Params)
		} else if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			call.Operation = form.Get("Action")
			for k, v := range form {
				call.Params[k] = v[0]
			}
		} else {
			call.Operation = r.Method + " " + r.URL.Path // a REST protocol: the table must say
		}
		if a.answer != nil {
			if out := a.answer(call.Operation, call.Params); out != nil {
				a.mu.Lock()
				a.calls = append(a.calls, call)
				a.mu.Unlock()
				writeJSON(w, out)
				return
			}
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(answer, &call.Answer)
		a.mu.Lock()
		a.calls = append(a.calls, call)
		a.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (a *apiRecorder) take() []apiCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls := a.calls
	a.calls = nil
	return calls
}

// registryRecorder is a reverse proxy in front of the test registry that keeps the
// method and path of every request the Docker engine and fvdeploy make to it: a push
// goes over the registry's HTTP API, not the SDK, and ECR authorises each of those
// requests as an IAM action of its own.
type registryRecorder struct {
	Host string
	mu   sync.Mutex
	reqs []string
}

func newRegistryRecorder(t *testing.T, registryHost string) *registryRecorder {
	rr := &registryRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: registryHost})
	// The Host header is left as the engine sent it, so that the registry's upload
	// locations point back through the proxy.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr.mu.Lock()
		// A PUT that completes an upload may carry the last part itself.
		req := r.Method + " " + r.URL.Path
		if r.ContentLength > 0 && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			req += " +data"
		}
		rr.reqs = append(rr.reqs, req)
		rr.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rr.Host = strings.TrimPrefix(srv.URL, "http://")
	return rr
}

func (rr *registryRecorder) take() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	reqs := rr.reqs
	rr.reqs = nil
	return reqs
}

// need is one IAM permission a request needs: an action on a resource, with the
// request's condition keys.
type need struct {
	call     string // what needed it: "ecs.UpdateService", "registry PUT /v2/…"
	action   string
	resource string
	context  map[string][]string
	// tolerated, when set, says why a refusal is fine: the caller degrades, and the
	// role stays narrower for it.
	tolerated string
}

func (n need) String() string {
	s := n.action + " on " + n.resource
	if len(n.context) > 0 {
		s += fmt.Sprintf(" with %v", n.context)
	}
	return s + " (" + n.call + ")"
}

// deployTarget is what the requests name by name rather than ARN.
type deployTarget struct{ region, account string }

func (d deployTarget) ecs(kind, cluster, id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	if cluster != "" {
		id = cluster + "/" + id
	}
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s/%s", d.region, d.account, kind, id)
}

func (d deployTarget) cluster(params map[string]any) string {
	c, _ := params["cluster"].(string)
	return d.ecs("cluster", "", c)
}

func (d deployTarget) clusterName(params map[string]any) string {
	c, _ := params["cluster"].(string)
	return c[strings.LastIndex(c, "/")+1:]
}

func (d deployTarget) repo(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", d.region, d.account, name)
}

func (d deployTarget) role(name string) string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", d.account, name)
}

func strs(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// apiPermissions is, per operation deploy calls, the IAM permissions it needs (from the
// AWS Service Authorization Reference), implied ones included. An operation missing
// here fails the test: the table cannot fall behind what deploy does.
var apiPermissions = map[string]func(d deployTarget, c apiCall) []need{
	// No permission is needed to ask who one is.
	"sts.GetCallerIdentity": func(deployTarget, apiCall) []need { return nil },
	// The preflight of `phase image` counts the deployment's tagged resources; refused,
	// it warns and goes on.
	"tagging.GetResources": func(deployTarget, apiCall) []need {
		return []need{{action: "tag:GetResources", resource: "*",
			tolerated: "the preflight only warns; granting it would show the deploy role every tagged resource in the account"}}
	},
	"ecr.GetAuthorizationToken": func(deployTarget, apiCall) []need {
		return []need{{action: "ecr:GetAuthorizationToken", resource: "*"}}
	},
	"ecr.DescribeRepositories": func(d deployTarget, c apiCall) []need {
		var out []need
		for _, r := range strs(c.Params["repositoryNames"]) {
			out = append(out, need{action: "ecr:DescribeRepositories", resource: d.repo(r)})
		}
		if len(out) == 0 { // all repositories
			out = append(out, need{action: "ecr:DescribeRepositories", resource: "*"})
		}
		return out
	},
	"ecr.GetLifecyclePolicy": func(d deployTarget, c apiCall) []need {
		return []need{{action: "ecr:GetLifecyclePolicy", resource: d.repo(fmt.Sprint(c.Params["repositoryName"]))}}
	},
	"ecr.ListTagsForResource": func(d deployTarget, c apiCall) []need {
		return []need{{action: "ecr:ListTagsForResource", resource: fmt.Sprint(c.Params["resourceArn"])}}
	},
	"iam.GetRole": func(d deployTarget, c apiCall) []need {
		return []need{{action: "iam:GetRole", resource: d.role(fmt.Sprint(c.Params["RoleName"]))}}
	},
	"iam.GetRolePolicy": func(d deployTarget, c apiCall) []need {
		return []need{{action: "iam:GetRolePolicy", resource: d.role(fmt.Sprint(c.Params["RoleName"]))}}
	},
	// No resource-level permissions: "*".
	"ecs.DescribeTaskDefinition": func(deployTarget, apiCall) []need {
		return []need{{action: "ecs:DescribeTaskDefinition", resource: "*"}}
	},
	// The new revision, tagging it as it is created, and handing ECS the roles it names.
	"ecs.RegisterTaskDefinition": func(d deployTarget, c apiCall) []need {
		td, _ := c.Answer["taskDefinition"].(map[string]any)
		arn, _ := td["taskDefinitionArn"].(string)
		if arn == "" { // refused: the revision it would have been
			arn = d.ecs("task-definition", "", fmt.Sprint(c.Params["family"])+":*")
		}
		out := []need{{action: "ecs:RegisterTaskDefinition", resource: arn}}
		if tags, _ := c.Params["tags"].([]any); len(tags) > 0 {
			out = append(out, need{action: "ecs:TagResource", resource: arn, context: map[string][]string{"ecs:CreateAction": {"RegisterTaskDefinition"}}})
		}
		for _, k := range []string{"taskRoleArn", "executionRoleArn"} {
			if r, _ := c.Params[k].(string); r != "" {
				out = append(out, need{action: "iam:PassRole", resource: r, context: map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}})
			}
		}
		return out
	},
	"ecs.DescribeServices": func(d deployTarget, c apiCall) []need {
		var out []need
		for _, s := range strs(c.Params["services"]) {
			out = append(out, need{action: "ecs:DescribeServices", resource: d.ecs("service", d.clusterName(c.Params), s),
				context: map[string][]string{"ecs:cluster": {d.cluster(c.Params)}}})
		}
		return out
	},
	"ecs.UpdateService": func(d deployTarget, c apiCall) []need {
		ctx := map[string][]string{"ecs:cluster": {d.cluster(c.Params)}}
		if td, _ := c.Params["taskDefinition"].(string); td != "" {
			ctx["ecs:task-definition"] = []string{d.ecs("task-definition", "", td)}
		}
		return []need{{action: "ecs:UpdateService", resource: d.ecs("service", d.clusterName(c.Params), fmt.Sprint(c.Params["service"])), context: ctx}}
	},
	"ecs.DescribeServiceDeployments": func(d deployTarget, c apiCall) []need {
		var out []need
		for _, a := range strs(c.Params["serviceDeploymentArns"]) {
			out = append(out, need{action: "ecs:DescribeServiceDeployments", resource: a})
		}
		return out
	},
	// No resource of its own on Fargate: "*", with the cluster as a condition key.
	"ecs.ListTasks": func(d deployTarget, c apiCall) []need {
		return []need{{action: "ecs:ListTasks", resource: "*", context: map[string][]string{"ecs:cluster": {d.cluster(c.Params)}}}}
	},
	"ecs.DescribeTasks": func(d deployTarget, c apiCall) []need {
		var out []need
		for _, task := range strs(c.Params["tasks"]) {
			out = append(out, need{action: "ecs:DescribeTasks", resource: d.ecs("task", d.clusterName(c.Params), task),
				context: map[string][]string{"ecs:cluster": {d.cluster(c.Params)}}})
		}
		return out
	},
}

// registryPermissions maps the registry's HTTP API, as ECR authorises it, to IAM
// actions on the repository the path names.
var registryPermissions = []struct {
	method  string
	path    *regexp.Regexp
	actions []string
}{
	// The login check: GetAuthorizationToken's credentials are all it needs.
	{"GET", regexp.MustCompile(`^/v2/$`), nil},
	{"HEAD", regexp.MustCompile(`^/v2/(.+)/manifests/[^/]+$`), []string{"ecr:BatchGetImage"}},
	{"GET", regexp.MustCompile(`^/v2/(.+)/manifests/[^/]+$`), []string{"ecr:BatchGetImage"}},
	{"PUT", regexp.MustCompile(`^/v2/(.+)/manifests/[^/]+$`), []string{"ecr:PutImage"}},
	{"HEAD", regexp.MustCompile(`^/v2/(.+)/blobs/sha256:[0-9a-f]+$`), []string{"ecr:BatchCheckLayerAvailability"}},
	{"GET", regexp.MustCompile(`^/v2/(.+)/blobs/sha256:[0-9a-f]+$`), []string{"ecr:GetDownloadUrlForLayer"}},
	{"POST", regexp.MustCompile(`^/v2/(.+)/blobs/uploads/$`), []string{"ecr:InitiateLayerUpload"}},
	{"PATCH", regexp.MustCompile(`^/v2/(.+)/blobs/uploads/[^/]+$`), []string{"ecr:UploadLayerPart"}},
	{"PUT", regexp.MustCompile(`^/v2/(.+)/blobs/uploads/[^/]+$`), []string{"ecr:CompleteLayerUpload"}},
	{"PUT+data", regexp.MustCompile(`^/v2/(.+)/blobs/uploads/[^/]+$`), []string{"ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}},
}

func registryNeeds(d deployTarget, req string) ([]need, bool) {
	method, path, _ := strings.Cut(req, " ")
	path, data := strings.CutSuffix(path, " +data")
	if data {
		method += "+data"
	}
	for _, p := range registryPermissions {
		m := p.path.FindStringSubmatch(path)
		if p.method != method || m == nil {
			continue
		}
		var out []need
		for _, a := range p.actions {
			out = append(out, need{call: "registry " + req, action: a, resource: d.repo(m[1])})
		}
		return out, true
	}
	return nil, false
}

// signingName is the name a service signs its requests with, from the SDK's service ID.
func signingName(serviceID string) string {
	if n, ok := map[string]string{
		"Resource Groups Tagging API": "tagging", "CloudWatch Logs": "logs", "Elastic Load Balancing v2": "elasticloadbalancing",
		"Application Auto Scaling": "application-autoscaling",
	}[serviceID]; ok {
		return n
	}
	return strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
}

// needsOf maps what one deploy did — the traced operations, the requests behind them
// and the registry's requests — to the permissions it needed.
func needsOf(t *testing.T, d deployTarget, trace []tracedCall, calls []apiCall, registry []string) []need {
	t.Helper()
	// The trace names every operation the binary made; the proxy saw each (a retry may
	// show twice there, once in the trace).
	seen := map[string]int{}
	for _, c := range calls {
		seen[c.Service+"."+c.Operation]++
	}
	for _, tc := range trace {
		key := signingName(tc.Service) + "." + tc.Operation
		if seen[key] == 0 {
			t.Errorf("traced %s.%s never reached the recording proxy", tc.Service, tc.Operation)
		}
		seen[key]--
	}
	var out []need
	for _, c := range calls {
		key := c.Service + "." + c.Operation
		perms, ok := apiPermissions[key]
		if !ok {
			t.Errorf("deploy called %s, which the permission table does not know: add it", key)
			continue
		}
		for _, n := range perms(d, c) {
			n.call = key
			out = append(out, n)
		}
	}
	for _, r := range registry {
		needs, ok := registryNeeds(d, r)
		if !ok {
			t.Errorf("deploy made registry request %q, which the permission table does not know: add it", r)
		}
		out = append(out, needs...)
	}
	return out
}

// missing evaluates every need against the policies and returns those not allowed.
func missing(t *testing.T, policies []*iampolicy.Policy, needs []need) []string {
	t.Helper()
	var out []string
	for _, n := range needs {
		res, err := iampolicy.Evaluate(policies, iampolicy.Request{Action: n.action, Resource: n.resource, Context: n.context})
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision != iampolicy.Allow {
			out = append(out, res.Decision.String()+": "+n.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// rolePolicies reads back every policy document of a role: inline and attached.
func rolePolicies(t *testing.T, roleName string) []*iampolicy.Policy {
	t.Helper()
	ctx := t.Context()
	api := testClients(t).IAM()
	var out []*iampolicy.Policy
	inline, err := api.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &roleName})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range inline.PolicyNames {
		doc, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &roleName, PolicyName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := iampolicy.Parse(roleName+"/"+name, aws.ToString(doc.PolicyDocument))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	attached, err := api.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &roleName})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attached.AttachedPolicies {
		pol, err := api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: a.PolicyArn})
		if err != nil {
			t.Fatal(err)
		}
		v, err := api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: a.PolicyArn, VersionId: pol.Policy.DefaultVersionId})
		if err != nil {
			t.Fatal(err)
		}
		p, err := iampolicy.Parse(aws.ToString(a.PolicyName), aws.ToString(v.PolicyVersion.Document))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("role %s has no policy", roleName)
	}
	return out
}

// stoppedTaskStandIn answers, for the failed rollout, what ECS would: one stopped task
// of the new revision. The emulator runs no task, so without it deploy would never
// describe one.
func stoppedTaskStandIn(op string, params map[string]any) map[string]any {
	const task = "arn:aws:ecs:us-east-1:123456789012:task/fastapi-vars-dev/0123456789abcdef"
	switch op {
	case "ListTasks":
		return map[string]any{"taskArns": []string{task}}
	case "DescribeTasks":
		return map[string]any{"failures": []any{}, "tasks": []any{map[string]any{
			"taskArn": task, "lastStatus": "STOPPED", "stoppedReason": "Essential container in task exited",
			"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-dev:3",
			"containers":        []any{map[string]any{"name": "app", "exitCode": 1}},
		}}}
	}
	return nil
}

// The CI deploy role is sufficient for `fvdeploy deploy` (and the workflow's `phase
// image`), and nothing in it is idle: every AWS call they make (recorded by
// --trace-calls, its resources by a recording proxy) and every registry request of the
// push (by a proxy in front of the registry) is evaluated against the role's policies as
// `up` created them, read back from IAM. The emulator evaluates no IAM (EMULATOR-NOTES),
// hence the evaluator. Removing any one statement must leave something deploy needs
// refused.
func TestDeployRoleSufficesForDeploy(t *testing.T) {
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
	reg := newRegistryRecorder(t, registry.Host)

	c := newCLI(t)
	c.Env["DOCKER_HOST"] = docker.Host
	imageRepo(t, c, reg.Host)
	// Canary, prod's strategy: its rollout reads ECS's service deployments.
	writeFile(t, c.Dir, "fvdeploy.yaml", "image:\n  registry: \""+reg.Host+"\"\ncicd:\n  github_repo: acme/shop\ndeploy: {strategy: canary}\n")
	commitAll(t, c.Dir, "ci")
	mustRun(t, c, "up", "--env", "dev", "--phases", "image,network,secrets,cluster,cicd")
	policies := rolePolicies(t, "fastapi-vars-dev-deploy")

	d := deployTarget{region: "us-east-1", account: "123456789012"}
	var needs []need
	// Each story a new commit, run as the workflow's jobs run it: `phase image` (the
	// build-and-push job), a canary deploy that completes, and a deploy the circuit
	// breaker rolls back (stopped tasks read for the error).
	for i, story := range []struct {
		name string
		args []string
		code int
	}{
		{"build-and-push", []string{"phase", "image", "--env", "dev"}, 0},
		{"canary", []string{"deploy", "--env", "dev", "--wait-timeout", "1m", "--output", "json"}, 0},
		{"rollback", []string{"deploy", "--env", "dev", "--wait-timeout", "1m"}, 1},
	} {
		writeFile(t, c.Dir, "hello.txt", fmt.Sprintf("v%d\n", i+2))
		commitAll(t, c.Dir, story.name)
		rec := &apiRecorder{}
		if story.code != 0 {
			rec.answer = stoppedTaskStandIn
		}
		rollout := newRolloutProxy(t, story.name)
		c.Env["AWS_ENDPOINT_URL"] = rec.front(t, moto.Endpoint)
		c.Env["AWS_ENDPOINT_URL_ECS"] = rec.front(t, rollout.URL)
		reg.take()
		trace := filepath.Join(c.Dir, "trace-"+story.name)
		res := c.Run(t, append(story.args, "--trace-calls", trace)...)
		if res.Code != story.code {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", story.name, res.Code, story.code, res.Stdout, res.Stderr)
		}
		// The workflow reports the URL from deploy's JSON (a `status` would need more).
		if story.name == "canary" {
			var out struct{ URL string }
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || !strings.HasPrefix(out.URL, "http://") {
				t.Errorf("deploy --output json gives url %q (%v):\n%s", out.URL, err, res.Stdout)
			}
		}
		calls, pushed := rec.take(), reg.take()
		if !slices.ContainsFunc(pushed, func(r string) bool { return strings.HasPrefix(r, "PUT /v2/fastapi-vars/manifests/") }) {
			t.Fatalf("%s pushed no image: %v", story.name, pushed)
		}
		needs = append(needs, needsOf(t, d, traced(t, trace), calls, pushed)...)
	}
	for _, a := range []string{"ecs:DescribeServiceDeployments", "ecs:DescribeTasks", "ecr:PutImage"} {
		if !slices.ContainsFunc(needs, func(n need) bool { return n.action == a }) {
			t.Fatalf("no deploy needed %s: the stories did not take the paths they should", a)
		}
	}

	// Sufficient: every need allowed, but those whose refusal is tolerated (logged).
	var required []need
	for _, n := range needs {
		if n.tolerated == "" {
			required = append(required, n)
		} else if m := missing(t, policies, []need{n}); len(m) > 0 {
			t.Logf("refused on purpose: %s: %s", m[0], n.tolerated)
		}
	}
	for _, m := range missing(t, policies, required) {
		t.Errorf("the deploy role lacks what deploy needs: %s", m)
	}

	// And no wider: what a stolen CI token would try next is refused.
	for _, n := range []need{
		{call: "another family onto the service", action: "ecs:UpdateService", resource: "arn:aws:ecs:us-east-1:123456789012:service/fastapi-vars-dev/fastapi-vars-dev",
			context: map[string][]string{"ecs:task-definition": {"arn:aws:ecs:us-east-1:123456789012:task-definition/attacker:1"}}},
		{call: "the service scaled or reconfigured without a revision", action: "ecs:UpdateService", resource: "arn:aws:ecs:us-east-1:123456789012:service/fastapi-vars-dev/fastapi-vars-dev"},
		{call: "another environment's service", action: "ecs:UpdateService", resource: "arn:aws:ecs:us-east-1:123456789012:service/fastapi-vars-prod/fastapi-vars-prod",
			context: map[string][]string{"ecs:task-definition": {"arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-dev:9"}}},
		{call: "another family", action: "ecs:RegisterTaskDefinition", resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:9"},
		{call: "tags on an existing revision", action: "ecs:TagResource", resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-dev:1"},
		{call: "a role of its choice", action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/admin",
			context: map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}},
		{call: "the task role to another service", action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/fastapi-vars-dev-task",
			context: map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}},
		{call: "the execution role rewritten", action: "iam:PutRolePolicy", resource: "arn:aws:iam::123456789012:role/fastapi-vars-dev-exec"},
		{call: "another repository", action: "ecr:PutImage", resource: "arn:aws:ecr:us-east-1:123456789012:repository/other"},
		{call: "the repository's settings", action: "ecr:PutLifecyclePolicy", resource: "arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars"},
		{call: "images deleted", action: "ecr:BatchDeleteImage", resource: "arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars"},
		{call: "the secret", action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:fastapi-vars-dev-admin-AbCdEf"},
		{call: "the service deleted", action: "ecs:DeleteService", resource: "arn:aws:ecs:us-east-1:123456789012:service/fastapi-vars-dev/fastapi-vars-dev"},
	} {
		if len(missing(t, policies, []need{n})) == 0 {
			t.Errorf("the deploy role allows %s", n)
		}
	}

	// Idle grants: an action of a statement that allowed nothing deploy did.
	for _, p := range policies {
		for i, s := range p.Statements {
			one := []*iampolicy.Policy{{Name: p.Name, Statements: []iampolicy.Statement{s}}}
			for _, a := range s.Action {
				used := false
				for _, n := range needs {
					if strings.EqualFold(n.action, a) && len(missing(t, one, []need{n})) == 0 {
						used = true
					}
				}
				if !used {
					t.Logf("granted but never used by deploy here: %s statement %d (%s): %s on %v", p.Name, i, s.Sid, a, s.Resource)
				}
			}
		}
	}

	// Necessary: without any one statement, deploy lacks something.
	for _, p := range policies {
		for i, s := range p.Statements {
			t.Run("without "+s.Sid, func(t *testing.T) {
				less := *p
				less.Statements = slices.Delete(slices.Clone(p.Statements), i, i+1)
				var others []*iampolicy.Policy
				for _, q := range policies {
					if q == p {
						q = &less
					}
					others = append(others, q)
				}
				lacks := missing(t, others, required)
				if len(lacks) == 0 {
					t.Errorf("deploy needs nothing of statement %d (%s: %v on %v): it should not be in the role", i, s.Sid, s.Action, s.Resource)
				}
				for _, m := range lacks {
					t.Logf("lacks %s", m)
				}
			})
		}
	}
}

// TestDeployWorkflowRunsWhatTheRoleIsProvenFor: in .github/workflows/deploy.yml, the jobs
// that assume the deploy role run no fvdeploy command but those
// TestDeployRoleSufficesForDeploy proves the role sufficient for.
func TestDeployWorkflowRunsWhatTheRoleIsProvenFor(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), ".github", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	command := regexp.MustCompile(`fvdeploy ([a-z]+)(?: ([a-z]+))?`)
	proven := []string{"phase image", "deploy"}
	var ran []string
	for name, job := range wf.Jobs {
		assumes := false
		for _, s := range job.Steps {
			assumes = assumes || strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@")
			if !assumes {
				continue
			}
			for _, m := range command.FindAllStringSubmatch(s.Run, -1) {
				cmd := m[1]
				if cmd == "phase" {
					cmd += " " + m[2]
				}
				ran = append(ran, cmd)
				if !slices.Contains(proven, cmd) {
					t.Errorf("job %s runs `fvdeploy %s` under the deploy role, which is proven sufficient only for %v", name, cmd, proven)
				}
			}
		}
	}
	for _, cmd := range proven {
		if !slices.Contains(ran, cmd) {
			t.Errorf("no job runs `fvdeploy %s` under the deploy role (ran %v): the workflow and the proof have drifted", cmd, ran)
		}
	}
}
