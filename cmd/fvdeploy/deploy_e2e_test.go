package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// rolloutProxy stands between fvdeploy and the emulator for ECS only
// (AWS_ENDPOINT_URL_ECS) and plays what the emulator cannot: UpdateService starts a new
// PRIMARY deployment, and from then on DescribeServices tells the story the test asks
// for. Everything else reaches the emulator as it is.
type rolloutProxy struct {
	*httptest.Server
	story string // "success", "alarm", "rollback", "stall", "canary" or "canary-alarm"

	mu      sync.Mutex
	oldTD   string
	service map[string]any // the emulator's last word on the service
	sdPolls int            // DescribeServiceDeployments calls so far
}

// canaryDeployment is the service deployment ECS would name after UpdateService; the
// emulator has none, so the canary stories answer DescribeServiceDeployments here.
const canaryDeployment = "arn:aws:ecs:us-east-1:123456789012:service-deployment/fastapi-vars-dev/fastapi-vars-dev/sd1"

func newRolloutProxy(t *testing.T, story string) *rolloutProxy {
	p := &rolloutProxy{story: story}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *rolloutProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	p.mu.Lock()
	defer p.mu.Unlock()
	if op == "DescribeServiceDeployments" && strings.HasPrefix(p.story, "canary") {
		writeJSON(w, map[string]any{"serviceDeployments": []any{p.serviceDeployment()}, "failures": []any{}})
		return
	}
	if op == "DescribeServices" && p.service != nil {
		writeJSON(w, map[string]any{"services": []any{p.scripted()}, "failures": []any{}})
		return
	}
	status, answer := forwardToMoto(r, body)
	if op == "UpdateService" && status == http.StatusOK {
		var req struct{ TaskDefinition string }
		var out map[string]any
		if json.Unmarshal(body, &req) == nil && json.Unmarshal(answer, &out) == nil {
			svc := out["service"].(map[string]any)
			svc["deployments"] = []any{
				deploymentJSON("ecs-svc/new", req.TaskDefinition, "PRIMARY", "IN_PROGRESS", 1, 0),
				deploymentJSON("ecs-svc/old", p.oldTD, "ACTIVE", "COMPLETED", 1, 1),
			}
			if strings.HasPrefix(p.story, "canary") {
				svc["currentServiceDeployment"] = canaryDeployment
			}
			p.service = svc
			writeJSON(w, out)
			return
		}
	}
	if op == "DescribeServices" {
		var out struct {
			Services []struct{ TaskDefinition string }
		}
		if json.Unmarshal(answer, &out) == nil && len(out.Services) == 1 {
			p.oldTD = out.Services[0].TaskDefinition
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// forwardToMoto sends a request, its body already read, on to the emulator.
func forwardToMoto(r *http.Request, body []byte) (int, []byte) {
	req, _ := http.NewRequest(r.Method, moto.Endpoint+r.URL.Path, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error())
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// scripted is the service as the story has it after UpdateService.
func (p *rolloutProxy) scripted() map[string]any {
	svc := map[string]any{}
	for k, v := range p.service {
		svc[k] = v
	}
	newDep := p.service["deployments"].([]any)[0].(map[string]any)
	newTD := newDep["taskDefinition"].(string)
	now := float64(time.Now().Unix())
	switch p.story {
	case "success":
		svc["deployments"] = []any{deploymentJSON("ecs-svc/new", newTD, "PRIMARY", "COMPLETED", 1, 1)}
		svc["events"] = []any{map[string]any{"id": "e1", "createdAt": now, "message": "(service fastapi-vars-dev) has reached a steady state."}}
	case "alarm":
		// ECS names the alarm in the failed deployment's reason and in an event.
		failed := deploymentJSON("ecs-svc/new", newTD, "ACTIVE", "FAILED", 1, 1)
		failed["rolloutStateReason"] = "ECS deployment ecs-svc/new rolled back: alarm fastapi-vars-dev-alb-5xx-target in ALARM state."
		svc["taskDefinition"] = p.oldTD
		svc["deployments"] = []any{deploymentJSON("ecs-svc/rollback", p.oldTD, "PRIMARY", "IN_PROGRESS", 1, 1), failed}
		svc["events"] = []any{
			map[string]any{"id": "e2", "createdAt": now, "message": "(service fastapi-vars-dev) rolling back to deployment ecs-svc/rollback."},
			map[string]any{"id": "e1", "createdAt": now - 1, "message": "(service fastapi-vars-dev) (deployment ecs-svc/new) deployment failed: alarm detected."},
		}
	case "rollback":
		failed := deploymentJSON("ecs-svc/new", newTD, "ACTIVE", "FAILED", 1, 0)
		failed["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
		svc["taskDefinition"] = p.oldTD
		svc["deployments"] = []any{deploymentJSON("ecs-svc/rollback", p.oldTD, "PRIMARY", "IN_PROGRESS", 1, 1), failed}
		svc["events"] = []any{
			map[string]any{"id": "e2", "createdAt": now, "message": "(service fastapi-vars-dev) rolling back to deployment ecs-svc/rollback."},
			map[string]any{"id": "e1", "createdAt": now - 1, "message": "(service fastapi-vars-dev) (deployment ecs-svc/new) deployment failed: tasks failed to start."},
		}
	case "canary", "canary-alarm":
		// The outcome is the service deployment's to tell (serviceDeployment).
		svc["deployments"] = []any{deploymentJSON("ecs-svc/new", newTD, "PRIMARY", "IN_PROGRESS", 1, 1)}
	case "stall":
		svc["events"] = []any{map[string]any{"id": "e1", "createdAt": now, "message": "(service fastapi-vars-dev) has started 1 tasks: (task abc)."}}
	}
	return svc
}

// serviceDeployment is the canary's service deployment, a stage further at each poll:
// new tasks, 10 % of the traffic, then all of it and the bake, then done — or, for
// "canary-alarm", a rollback by the p95 latency alarm while at 10 %.
func (p *rolloutProxy) serviceDeployment() map[string]any {
	at := func(stage string, weight float64) map[string]any {
		return map[string]any{"serviceDeploymentArn": canaryDeployment, "status": "IN_PROGRESS", "lifecycleStage": stage,
			"targetServiceRevision": map[string]any{"requestedTaskCount": 1, "runningTaskCount": 1, "requestedProductionTrafficWeight": weight}}
	}
	steps := []map[string]any{at("SCALE_UP", 0), at("PRODUCTION_TRAFFIC_SHIFT", 10), at("BAKE_TIME", 100),
		{"serviceDeploymentArn": canaryDeployment, "status": "SUCCESSFUL"}}
	if p.story == "canary-alarm" {
		steps = []map[string]any{at("SCALE_UP", 0), at("PRODUCTION_TRAFFIC_SHIFT", 10),
			{"serviceDeploymentArn": canaryDeployment, "status": "ROLLBACK_IN_PROGRESS", "rollback": map[string]any{"reason": "Alarm detected."},
				"alarms": map[string]any{"status": "TRIGGERED", "alarmNames": []string{"fastapi-vars-dev-alb-5xx-target", "fastapi-vars-dev-alb-p95-latency"},
					"triggeredAlarmNames": []string{"fastapi-vars-dev-alb-p95-latency"}}}}
	}
	sd := steps[min(p.sdPolls, len(steps)-1)]
	p.sdPolls++
	return sd
}

func deploymentJSON(id, td, status, rollout string, desired, running int) map[string]any {
	return map[string]any{"id": id, "taskDefinition": td, "status": status, "rolloutState": rollout,
		"desiredCount": desired, "runningCount": running, "pendingCount": desired - running}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// deploy exits 0 only when the new revision rolled out; it exits 1, and says which, when
// a deployment alarm (named) or the circuit breaker rolled the service back, or when the
// wait runs out: never a "success" after a rollback.
func TestDeployReportsTheRolloutOutcome(t *testing.T) {
	for story, tc := range map[string]struct {
		code   int
		want   []string // in stderr
		refuse []string // not in stderr
	}{
		"success": {code: 0, refuse: []string{"rolled back", "ALARM"}},
		"alarm": {code: 1, want: []string{"deployment of ECS service fastapi-vars-dev rolled back",
			"alarm fastapi-vars-dev-alb-5xx-target went into ALARM and ECS rolled the service back to fastapi-vars-dev:1",
			"last service events:", "deployment failed: alarm detected."}, refuse: []string{"circuit breaker"}},
		"rollback": {code: 1, want: []string{"deployment of ECS service fastapi-vars-dev rolled back", "the circuit breaker rolled the service back to fastapi-vars-dev:1",
			"ECS deployment circuit breaker: tasks failed to start.", "last service events:", "deployment failed: tasks failed to start."}, refuse: []string{"went into ALARM"}},
		"stall": {code: 1, want: []string{"deployment of ECS service fastapi-vars-dev timed out", "still not rolled out after 2s", "desired 1, pending 1, running 0",
			"has started 1 tasks"}},
	} {
		t.Run(story, func(t *testing.T) {
			c := newCLI(t)
			mustRun(t, c, upArgs("dev")...)
			proxy := newRolloutProxy(t, story)
			c.Env["AWS_ENDPOINT_URL_ECS"] = proxy.URL
			other := strings.Replace(stackImage, "@sha256:5d", "@sha256:6d", 1)
			res := c.Run(t, "deploy", "--env", "dev", "--image", other, "--wait-timeout", "2s")
			if res.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", res.Code, tc.code, res.Stdout, res.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
				}
			}
			for _, w := range tc.refuse {
				if strings.Contains(res.Stderr, w) {
					t.Errorf("stderr says %q:\n%s", w, res.Stderr)
				}
			}
			if rolled := strings.Contains(res.Stdout, "Rolled out fastapi-vars-dev:2"); rolled != (tc.code == 0) {
				t.Errorf("exit %d, and stdout reports success %t:\n%s", res.Code, rolled, res.Stdout)
			}
		})
	}
}

// rollback puts the revision before the running one back, and a plain up afterwards
// keeps it there.
func TestRollbackPutsThePreviousRevisionBack(t *testing.T) {
	c := newCLI(t)
	mustRun(t, c, upArgs("dev")...)
	other := strings.Replace(stackImage, "@sha256:5d", "@sha256:6d", 1)
	mustRun(t, c, "deploy", "--env", "dev", "--image", other, "--no-wait")
	if got := aws.ToString(describeDevService(t).TaskDefinition); !strings.HasSuffix(got, "fastapi-vars-dev:2") {
		t.Fatalf("after deploy the service runs %s", got)
	}
	res := mustRun(t, c, "rollback", "--env", "dev", "--no-wait")
	if !strings.Contains(res.Stderr, "rolling back from fastapi-vars-dev:2 to fastapi-vars-dev:1") {
		t.Errorf("rollback said:\n%s", res.Stderr)
	}
	if got := aws.ToString(describeDevService(t).TaskDefinition); !strings.HasSuffix(got, "fastapi-vars-dev:1") {
		t.Fatalf("after rollback the service runs %s", got)
	}
	td, err := testClients(t).ECS().DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("fastapi-vars-dev:2")})
	if err != nil || td.TaskDefinition.Status != ecstypes.TaskDefinitionStatusInactive {
		t.Errorf("the revision rolled back from is not deregistered: %v", err)
	}
	res = mustRun(t, c, "up", "--env", "dev", "--phases", "network,secrets,cluster")
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("up after rollback:\n%s", res.Stdout)
	}
	// Nothing older to go back to.
	res = c.Run(t, "rollback", "--env", "dev", "--no-wait")
	if res.Code != 1 || !strings.Contains(res.Stderr, "no earlier ACTIVE revision") {
		t.Errorf("second rollback: exit %d\n%s", res.Code, res.Stderr)
	}
}

// A canary deploy under the binary: each stage ECS reports is printed once, in order, on
// stderr; a rollback by an alarm while at 10 % exits 1 naming it.
func TestDeployShowsTheCanaryStages(t *testing.T) {
	for story, tc := range map[string]struct {
		code   int
		stages []string // in stderr, in this order
		want   []string
	}{
		"canary": {code: 0, stages: []string{"rollout: new tasks starting: 1/1 running", "rollout: traffic shifted: 10 % (5 min left)",
			"rollout: baking: both revisions running, all traffic on the new one (2 min left)", "rollout: done"}},
		"canary-alarm": {code: 1, stages: []string{"rollout: new tasks starting: 1/1 running", "rollout: traffic shifted: 10 % (5 min left)"},
			want: []string{"alarm fastapi-vars-dev-alb-p95-latency went into ALARM and ECS rolled the service back: Alarm detected."}},
	} {
		t.Run(story, func(t *testing.T) {
			c := newCLI(t)
			writeFile(t, c.Dir, "fvdeploy.yaml", "deploy: {strategy: canary}\n")
			mustRun(t, c, upArgs("dev")...)
			proxy := newRolloutProxy(t, story)
			c.Env["AWS_ENDPOINT_URL_ECS"] = proxy.URL
			other := strings.Replace(stackImage, "@sha256:5d", "@sha256:6d", 1)
			res := c.Run(t, "deploy", "--env", "dev", "--image", other, "--wait-timeout", "1m")
			if res.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", res.Code, tc.code, res.Stdout, res.Stderr)
			}
			at := 0
			for _, st := range tc.stages {
				i := strings.Index(res.Stderr[at:], st)
				if i < 0 {
					t.Fatalf("stderr lacks %q after what came before, or has it out of order:\n%s", st, res.Stderr)
				}
				at += i + len(st)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
				}
			}
			if strings.Count(res.Stderr, "rollout: traffic shifted: 10 %") != 1 {
				t.Errorf("a stage printed more than once:\n%s", res.Stderr)
			}
		})
	}
}
