package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

type doctorOutput struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name, Status, Detail, Fix string
	} `json:"checks"`
}

func runDoctor(t *testing.T, c *testenv.CLI, args ...string) (doctorOutput, testenv.Result) {
	t.Helper()
	res := c.Run(t, append([]string{"doctor", "--output", "json"}, args...)...)
	var out doctorOutput
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("doctor output is not JSON: %v\n%s\n%s", err, res.Stdout, res.Stderr)
	}
	return out, res
}

// check is the named line of a report, failing the test when there is none.
func (d doctorOutput) check(t *testing.T, name string) (status, detail, fix string) {
	t.Helper()
	for _, c := range d.Checks {
		if c.Name == name {
			return c.Status, c.Detail, c.Fix
		}
	}
	t.Fatalf("no %s check in %+v", name, d.Checks)
	return "", "", ""
}

// The doctor against the emulator; the checks of the Docker engine, git tree and
// Dockerfile with a running engine are in TestImageAndDeployWithRealDocker.
func TestDoctor(t *testing.T) {
	t.Run("all ok for a deployment of an existing image", func(t *testing.T) {
		c := newCLI(t)
		out, res := runDoctor(t, c, "--image", stackImage)
		if res.Code != 0 || !out.OK {
			t.Fatalf("exit %d, %+v\n%s", res.Code, out, res.Stderr)
		}
		for _, ch := range out.Checks {
			if ch.Status != "ok" {
				t.Errorf("%s: %s %s", ch.Name, ch.Status, ch.Detail)
			}
		}
		if _, detail, _ := out.check(t, "credentials"); detail != "account 123456789012 as arn:aws:sts::123456789012:user/moto" {
			t.Errorf("credentials: %q", detail)
		}
		text := mustRun(t, c, "doctor", "--image", stackImage)
		if !strings.Contains(text.Stdout, "ok    region       us-east-1") || !strings.Contains(text.Stdout, "0 failed.") {
			t.Errorf("text report:\n%s", text.Stdout)
		}
	})

	// Each broken precondition fails its own line with what to do, doctor exits 1, and up
	// stops before any mutating call.
	tests := map[string]struct {
		setup  func(c *testenv.CLI)
		check  string
		detail string
	}{
		"no credentials": {
			setup: func(c *testenv.CLI) {
				delete(c.Env, "AWS_ACCESS_KEY_ID")
				delete(c.Env, "AWS_SECRET_ACCESS_KEY")
				c.Env["AWS_EC2_METADATA_DISABLED"] = "true"
			},
			check: "credentials", detail: "none found (set AWS_PROFILE",
		},
		"broken config": {
			setup:  func(c *testenv.CLI) { writeFile(t, c.Dir, "fvdeploy.yaml", "service:\n  min: 0\n") },
			check:  "config",
			detail: "fvdeploy.yaml:2: service.min: 0 is out of range (want 1 to 100)",
		},
		"no region": {
			setup:  func(c *testenv.CLI) { delete(c.Env, "AWS_REGION"); delete(c.Env, "AWS_DEFAULT_REGION") },
			check:  "region",
			detail: "none configured",
		},
		"chat relay without a webhook": {
			setup:  func(c *testenv.CLI) { writeFile(t, c.Dir, "fvdeploy.yaml", "alarms:\n  chat_relay: true\n") },
			check:  "chat relay",
			detail: "no webhook stored in secret fastapi-vars-dev-chat-webhook, and FVDEPLOY_CHAT_WEBHOOK_URL is not set",
		},
		"chat relay with a plain http webhook": {
			setup: func(c *testenv.CLI) {
				writeFile(t, c.Dir, "fvdeploy.yaml", "alarms:\n  chat_relay: true\n")
				c.Env["FVDEPLOY_CHAT_WEBHOOK_URL"] = "http://hooks.example.com/services/secret-path"
				c.Forbidden = append(c.Forbidden, "secret-path") // a webhook URL is a credential
			},
			check: "chat relay", detail: "FVDEPLOY_CHAT_WEBHOOK_URL is not an https:// URL",
		},
		"state of another account": {
			setup: func(c *testenv.CLI) {
				writeFile(t, c.Dir, ".fvdeploy/dev.json", `{"version":1,"serial":3,"lineage":"x","app":"fastapi-vars","env":"dev","region":"us-east-1","account":"999999999999","resources":{}}`)
			},
			check: "state", detail: `records AWS account "999999999999"`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			if err := os.MkdirAll(filepath.Join(c.Dir, ".fvdeploy"), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(c)
			out, res := runDoctor(t, c, "--image", stackImage)
			status, detail, fix := out.check(t, tt.check)
			if res.Code != 1 || out.OK || status != "fail" || !strings.Contains(detail, tt.detail) || fix == "" {
				t.Errorf("exit %d ok=%v; %s: %s %q fix %q", res.Code, out.OK, tt.check, status, detail, fix)
			}
			trace := filepath.Join(c.Dir, "trace")
			up := c.Run(t, upArgs("dev", "--trace-calls", trace)...)
			if up.Code == 0 || len(mutatingCalls(traced(t, trace))) != 0 {
				t.Errorf("up: exit %d, mutating calls %v\n%s", up.Code, mutatingCalls(traced(t, trace)), up.Stderr)
			}
		})
	}

	t.Run("the domain's hosted zone", func(t *testing.T) {
		c := newCLI(t)
		writeFile(t, c.Dir, "fvdeploy.yaml", "edge: {domain: api.example.com}\n")
		out, res := runDoctor(t, c, "--image", stackImage)
		if status, detail, fix := out.check(t, "domain"); res.Code != 0 || status != "warn" ||
			detail != "no public hosted zone serves api.example.com: the edge phase creates one for it" || !strings.Contains(fix, "name servers") {
			t.Errorf("no zone: exit %d, %s %q (%s)", res.Code, status, detail, fix)
		}
		zone, err := testClients(t).Route53().CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
			Name: aws.String("example.com"), CallerReference: aws.String("someone-else"),
		})
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimPrefix(aws.ToString(zone.HostedZone.Id), "/hostedzone/")
		out, res = runDoctor(t, c, "--image", stackImage)
		if status, detail, _ := out.check(t, "domain"); res.Code != 0 || status != "ok" || detail != "api.example.com is served by hosted zone example.com ("+id+")" {
			t.Errorf("parent zone: exit %d, %s %q", res.Code, status, detail)
		}
		// A zone named by ID that does not exist fails, and up with it.
		writeFile(t, c.Dir, "fvdeploy.yaml", "edge: {domain: api.example.com, zone_id: Z0000000000000000NONE}\n")
		out, res = runDoctor(t, c, "--image", stackImage)
		if status, detail, _ := out.check(t, "domain"); res.Code != 1 || status != "fail" || !strings.Contains(detail, "Z0000000000000000NONE (edge.zone_id)") {
			t.Errorf("missing zone_id: exit %d, %s %q", res.Code, status, detail)
		}
	})

	t.Run("state and account disagree", func(t *testing.T) {
		c := newCLI(t)
		mustRun(t, c, "up", "--env", "dev", "--phases", "network", "--image", stackImage)
		out, _ := runDoctor(t, c, "--image", stackImage)
		if status, detail, _ := out.check(t, "deployment"); status != "ok" || !strings.Contains(detail, "the state records") {
			t.Errorf("after up: %s %s", status, detail)
		}
		// State lost (or kept elsewhere): a warning, and up still runs, adopting by tags.
		if err := os.Rename(filepath.Join(c.Dir, ".fvdeploy"), filepath.Join(c.Dir, "elsewhere")); err != nil {
			t.Fatal(err)
		}
		out, res := runDoctor(t, c, "--image", stackImage)
		status, detail, fix := out.check(t, "deployment")
		if res.Code != 0 || status != "warn" || !strings.Contains(detail, "but the state at .fvdeploy/dev.json records none") || !strings.Contains(fix, "--state") {
			t.Errorf("state lost: exit %d, %s %s (%s)", res.Code, status, detail, fix)
		}
		up := mustRun(t, c, "up", "--env", "dev", "--phases", "network", "--image", stackImage)
		if !strings.Contains(up.Stderr, "preflight: deployment: the account holds") {
			t.Errorf("up does not show the warning:\n%s", up.Stderr)
		}
	})
}
