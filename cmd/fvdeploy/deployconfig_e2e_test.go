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
	MinimumHealthyPercent    int `json:"minimumHealthyPercent"`
	MaximumPercent           int `json:"maximumPercent"`
	DeploymentCircuitBreaker *struct {
		Enable, Rollback bool
	} `json:"deploymentCircuitBreaker"`
	Alarms *struct {
		AlarmNames       []string `json:"alarmNames"`
		Enable, Rollback bool
	} `json:"alarms"`
}

// ecsEchoProxy stands between fvdeploy and the emulator for ECS only: it keeps the
// deployment configuration that CreateService and UpdateService send over the wire, and
// puts the last one into DescribeServices answers, as AWS keeps it (the emulator drops
// it, so without this a second run could not see it, drifted or not).
type ecsEchoProxy struct {
	*httptest.Server
	mu   sync.Mutex
	sent map[string][]json.RawMessage // by operation
	last json.RawMessage
}

func newECSEchoProxy(t *testing.T) *ecsEchoProxy {
	p := &ecsEchoProxy{sent: map[string][]json.RawMessage{}}
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
	}
	if (op == "CreateService" || op == "UpdateService") && json.Unmarshal(body, &req) == nil && req.DeploymentConfiguration != nil {
		p.sent[op] = append(p.sent[op], req.DeploymentConfiguration)
		p.last = req.DeploymentConfiguration
	}
	status, answer := forwardToMoto(r, body)
	var out map[string]any
	if op == "DescribeServices" && status == http.StatusOK && p.last != nil && json.Unmarshal(answer, &out) == nil {
		services, _ := out["services"].([]any)
		for _, s := range services {
			s.(map[string]any)["deploymentConfiguration"] = p.last
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
