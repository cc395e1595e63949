package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// deploymentConfigJSON is a deployment configuration as the ECS JSON protocol carries it.
type deploymentConfigJSON struct {
	Strategy              string `json:"strategy"`
	MinimumHealthyPercent int    `json:"minimumHealthyPercent"`
	MaximumPercent        int    `json:"maximumPercent"`
	BakeTimeInMinutes     *int   `json:"bakeTimeInMinutes"`
	CanaryConfiguration   *struct {
		CanaryPercent           float64
		CanaryBakeTimeInMinutes int
	} `json:"canaryConfiguration"`
	DeploymentCircuitBreaker *struct {
		Enable, Rollback bool
	} `json:"deploymentCircuitBreaker"`
	Alarms *struct {
		AlarmNames       []string `json:"alarmNames"`
		Enable, Rollback bool
	} `json:"alarms"`
}

// loadBalancerJSON is a service's load balancer entry as the ECS JSON protocol carries it.
type loadBalancerJSON struct {
	TargetGroupArn        string `json:"targetGroupArn"`
	AdvancedConfiguration *struct {
		AlternateTargetGroupArn, ProductionListenerRule, RoleArn, TestListenerRule string
	} `json:"advancedConfiguration"`
}

// ecsEchoProxy stands between fvdeploy and the emulator for ECS only: it keeps the
// deployment configuration and load balancers that CreateService and UpdateService send
// over the wire, and puts the last ones into DescribeServices answers, as AWS keeps them
// (the emulator drops the deployment configuration and the load balancers' advanced
// configuration, so without this a second run could not see them, drifted or not).
type ecsEchoProxy struct {
	*httptest.Server
	mu      sync.Mutex
	sent    map[string][]json.RawMessage // by operation
	lbs     map[string][]json.RawMessage // by operation
	last    json.RawMessage
	lastLBs json.RawMessage
}

func newECSEchoProxy(t *testing.T) *ecsEchoProxy {
	p := &ecsEchoProxy{sent: map[string][]json.RawMessage{}, lbs: map[string][]json.RawMessage{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *ecsEchoProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	p.mu.Lock()
	defer p.mu.Unlock()
	var req struct {
		DeploymentConfiguration json.RawMessage `json:"deploymentConfiguration"`
		LoadBalancers           json.RawMessage `json:"loadBalancers"`
	}
	if (op == "CreateService" || op == "UpdateService") && json.Unmarshal(body, &req) == nil && req.DeploymentConfiguration != nil {
		p.sent[op] = append(p.sent[op], req.DeploymentConfiguration)
		p.last = req.DeploymentConfiguration
		if req.LoadBalancers != nil {
			p.lbs[op] = append(p.lbs[op], req.LoadBalancers)
			p.lastLBs = req.LoadBalancers
		}
	}
	status, answer := forwardToMoto(r, body)
	var out map[string]any
	if op == "DescribeServices" && status == http.StatusOK && p.last != nil && json.Unmarshal(answer, &out) == nil {
		services, _ := out["services"].([]any)
		for _, s := range services {
			s.(map[string]any)["deploymentConfiguration"] = p.last
			if p.lastLBs != nil {
				s.(map[string]any)["loadBalancers"] = p.lastLBs
			}
		}
		writeJSON(w, out)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (p *ecsEchoProxy) calls(op string) []deploymentConfigJSON {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []deploymentConfigJSON
	for _, raw := range p.sent[op] {
		var dc deploymentConfigJSON
		_ = json.Unmarshal(raw, &dc)
		out = append(out, dc)
	}
	return out
}

// loadBalancers are the load balancer entries op sent, call by call.
func (p *ecsEchoProxy) loadBalancers(op string) [][]loadBalancerJSON {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]loadBalancerJSON
	for _, raw := range p.lbs[op] {
		var lbs []loadBalancerJSON
		_ = json.Unmarshal(raw, &lbs)
		out = append(out, lbs)
	}
	return out
}

// up creates the service rolling with the circuit breaker and with the environment's 5xx
// and latency alarms rolling it back, as seen on the wire; with ECS keeping that, a
// second up makes no mutating call.
func TestUpSendsTheDeploymentAlarms(t *testing.T) {
	c := newCLI(t)
	proxy := newECSEchoProxy(t)
	c.Env["AWS_ENDPOINT_URL_ECS"] = proxy.URL
	mustRun(t, c, upArgs("dev")...)
	created := proxy.calls("CreateService")
	if len(created) != 1 {
		t.Fatalf("%d CreateService calls carried a deployment configuration, want 1", len(created))
	}
	dc := created[0]
	want := []string{"fastapi-vars-dev-alb-5xx-target", "fastapi-vars-dev-alb-p95-latency"}
	if a := dc.Alarms; a == nil || !a.Enable || !a.Rollback || strings.Join(a.AlarmNames, ",") != strings.Join(want, ",") {
		t.Errorf("CreateService deployment alarms %+v, want %v enabled with rollback", dc.Alarms, want)
	}
	if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
		t.Errorf("CreateService circuit breaker %+v, want enabled with rollback", cb)
	}
	if dc.MinimumHealthyPercent != 100 || dc.MaximumPercent != 200 {
		t.Errorf("CreateService min/max percent %d/%d, want 100/200", dc.MinimumHealthyPercent, dc.MaximumPercent)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	mustRun(t, c, upArgs("dev", "--trace-calls", trace)...)
	if m := mutatingCalls(traced(t, trace)); len(m) != 0 {
		t.Errorf("the second up made mutating calls %v", m)
	}
	if u := proxy.calls("UpdateService"); len(u) != 0 {
		t.Errorf("the second up sent UpdateService %+v", u)
	}
}

// Prod's service goes out as a canary on the wire: 10 % for 5 minutes, 2 minutes of bake,
// the circuit breaker and prod's alarms rolling it back, and the alternate target group,
// production listener rule and role that up created in its load balancer's advanced
// configuration. A second up sends nothing; switching the live service to rolling is one
// UpdateService without them, after which they are deleted.
func TestUpSendsTheProdCanary(t *testing.T) {
	c := newCLI(t)
	proxy := newECSEchoProxy(t)
	c.Env["AWS_ENDPOINT_URL_ECS"] = proxy.URL
	mustRun(t, c, upArgs("prod")...)
	created := proxy.calls("CreateService")
	if len(created) != 1 {
		t.Fatalf("%d CreateService calls carried a deployment configuration, want 1", len(created))
	}
	dc := created[0]
	if dc.Strategy != "CANARY" || dc.CanaryConfiguration == nil || dc.CanaryConfiguration.CanaryPercent != 10 ||
		dc.CanaryConfiguration.CanaryBakeTimeInMinutes != 5 || dc.BakeTimeInMinutes == nil || *dc.BakeTimeInMinutes != 2 {
		t.Errorf("CreateService strategy %q canary %+v bake %v, want CANARY 10 %% for 5 min, bake 2 min", dc.Strategy, dc.CanaryConfiguration, dc.BakeTimeInMinutes)
	}
	want := []string{"fastapi-vars-prod-alb-5xx-target", "fastapi-vars-prod-alb-p95-latency"}
	if a := dc.Alarms; a == nil || !a.Enable || !a.Rollback || strings.Join(a.AlarmNames, ",") != strings.Join(want, ",") {
		t.Errorf("CreateService deployment alarms %+v, want %v enabled with rollback", dc.Alarms, want)
	}
	if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
		t.Errorf("CreateService circuit breaker %+v, want enabled with rollback", cb)
	}
	doc := readState(t, c, "prod")
	arn := func(key string) string {
		if r := doc.Resources[key]; r != nil {
			return r.ARN
		}
		t.Fatalf("state has no %s", key)
		return ""
	}
	lbs := proxy.loadBalancers("CreateService")
	if len(lbs) != 1 || len(lbs[0]) != 1 {
		t.Fatalf("CreateService load balancers %+v, want one entry", lbs)
	}
	lb := lbs[0][0]
	if a := lb.AdvancedConfiguration; lb.TargetGroupArn != arn("network/tg") || a == nil || a.AlternateTargetGroupArn != arn("cluster/tg-alternate") ||
		a.ProductionListenerRule != arn("cluster/listener-rule") || a.RoleArn != arn("cluster/lb-role") || a.TestListenerRule != "" {
		t.Errorf("CreateService load balancer %+v, advanced %+v; want the primary and alternate groups, the rule and the role in state", lb, lb.AdvancedConfiguration)
	}

	trace := filepath.Join(t.TempDir(), "trace")
	mustRun(t, c, upArgs("prod", "--trace-calls", trace)...)
	if m := mutatingCalls(traced(t, trace)); len(m) != 0 {
		t.Errorf("the second up made mutating calls %v", m)
	}

	writeFile(t, c.Dir, "fvdeploy.yaml", "environments:\n  prod:\n    deploy: {strategy: rolling}\n")
	mustRun(t, c, upArgs("prod")...)
	updated := proxy.calls("UpdateService")
	if len(updated) != 1 || updated[0].Strategy != "ROLLING" || updated[0].CanaryConfiguration != nil {
		t.Fatalf("switching to rolling sent UpdateService %+v, want one with strategy ROLLING", updated)
	}
	if u := proxy.loadBalancers("UpdateService"); len(u) != 1 || len(u[0]) != 1 || u[0][0].AdvancedConfiguration != nil || u[0][0].TargetGroupArn != arn("network/tg") {
		t.Errorf("switching to rolling sent load balancers %+v, want the primary group alone", u)
	}
	after := readState(t, c, "prod")
	for _, k := range []string{"cluster/tg-alternate", "cluster/listener-rule", "cluster/lb-role"} {
		if after.Resources[k] != nil {
			t.Errorf("%s is still in state after the switch to rolling", k)
		}
	}
	if got, want := takeInventory(t, "fastapi-vars", "prod"), withRotation(withFlowLogs(wantStack(2, 2, 2, 6))); got != want {
		t.Errorf("after the switch to rolling:\n got %+v\nwant %+v", got, want)
	}
}
