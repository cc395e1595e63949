package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestUsageAndInputErrors(t *testing.T) {
	tests := map[string]struct {
		args     []string
		yaml     string
		wantCode int
		wantErr  []string
	}{
		"unknown environment names the flag": {
			args: []string{"up", "--env", "nope"}, wantCode: 2,
			wantErr: []string{`--env: unknown environment "nope" (want dev, hml, prod)`},
		},
		"unknown phase": {
			args: []string{"phase", "nope"}, wantCode: 2, wantErr: []string{`unknown phase "nope"`},
		},
		"unknown command": {args: []string{"bogus"}, wantCode: 2, wantErr: []string{`unknown command "bogus"`}},
		"unknown flag":    {args: []string{"up", "--bogus"}, wantCode: 2, wantErr: []string{"unknown flag: --bogus"}},
		"bad output format": {
			args: []string{"status", "--output", "xml"}, wantCode: 2, wantErr: []string{"--output: want text or json"},
		},
		"missing explicit config file": {
			args: []string{"up", "--config", "nowhere.yaml"}, wantCode: 2, wantErr: []string{"nowhere.yaml"},
		},
		"malformed config names file, line and field": {
			args: []string{"up", "--env", "prod"}, wantCode: 2,
			yaml:    "app: shop\nnetwork:\n  vpc_cidr: 10.0.0.0/33\n",
			wantErr: []string{`fvdeploy.yaml:3: network.vpc_cidr: "10.0.0.0/33"`},
		},
		"unknown key in config": {
			args: []string{"plan"}, wantCode: 2,
			yaml:    "app: shop\nservice:\n  cpu: 256\n  replicas: 3\n",
			wantErr: []string{"fvdeploy.yaml:4: service.replicas: unknown field"},
		},
		"destroy without a terminal needs --yes": {
			args: []string{"destroy"}, wantCode: 2, wantErr: []string{"pass --yes"},
		},
		"deploy release not a version": {
			args: []string{"deploy", "--release", "1.2"}, wantCode: 2, wantErr: []string{`--release: "1.2" is not a version like v1.2.3`},
		},
		"deploy release with an image": {
			args: []string{"deploy", "--release", "v1.2.0", "--image", "x"}, wantCode: 2, wantErr: []string{"with --image nothing is built"},
		},
		"bad image config": {
			args: []string{"deploy"}, wantCode: 2, yaml: "image:\n  platform: linux/386\n",
			wantErr: []string{`fvdeploy.yaml:2: image.platform: "linux/386": want linux/amd64 or linux/arm64`},
		},
		"completion for an unknown shell": {
			args: []string{"completion", "tcsh"}, wantCode: 2,
			wantErr: []string{`unknown command "tcsh" for "fvdeploy completion" (want bash, fish, powershell, zsh)`},
		},
		"unknown secrets subcommand": {
			args: []string{"secrets", "show"}, wantCode: 2, wantErr: []string{`unknown command "show" for "fvdeploy secrets"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			if tc.yaml != "" {
				if err := os.WriteFile(filepath.Join(c.Dir, "fvdeploy.yaml"), []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Usage errors must be found before AWS is reached: an unreachable endpoint
			// proves it.
			c.Env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
			res := c.Run(t, tc.args...)
			if res.Code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.Code, tc.wantCode, res.Stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
				}
			}
			if res.Stdout != "" {
				t.Errorf("errors go to stderr, stdout had:\n%s", res.Stdout)
			}
		})
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"up", "--help"}, {"destroy", "--help"}, {"phase", "--help"}} {
		res := newCLI(t).Run(t, args...)
		if res.Code != 0 || !strings.Contains(res.Stdout, "Examples:") || !strings.Contains(res.Stdout, "fvdeploy ") {
			t.Errorf("fvdeploy %v: exit %d, want help with examples:\n%s", args, res.Code, res.Stdout)
		}
	}
}

// With --output json, stdout is one JSON document and stderr JSON lines only, ending
// with the error and the summary: the SDK's own warnings and the error are events too.
func TestJSONErrorsStayParseable(t *testing.T) {
	// An instance metadata service that refuses IMDSv2 tokens: the SDK, finding no
	// other credentials, warns that it falls back to IMDSv1, then finds none there either.
	imds := httptest.NewServer(http.NotFoundHandler())
	defer imds.Close()
	noCredentials := map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
		"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL,
	}
	tests := map[string]struct {
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
		wantLog  string
	}{
		"bad flag":       {args: []string{"up", "--env", "nope"}, wantCode: 2, wantErr: "--env"},
		"no credentials": {args: []string{"status"}, env: noCredentials, wantCode: 2, wantErr: "none found", wantLog: "falling back to IMDSv1"},
		"no region": {
			args: []string{"plan"}, env: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
			wantCode: 2, wantErr: "no AWS region",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			maps.Copy(c.Env, tc.env)
			res := c.Run(t, append(tc.args, "--output", "json")...)
			if res.Code != tc.wantCode {
				t.Errorf("exit %d, want %d", res.Code, tc.wantCode)
			}
			var out struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || out.ExitCode != tc.wantCode || !strings.Contains(out.Error, tc.wantErr) {
				t.Errorf("stdout %q is not the JSON error (%v)", res.Stdout, err)
			}
			events := jsonLines(t, res.Stderr)
			if n := len(events); n < 2 || events[n-2]["event"] != "error" || events[n-1]["event"] != "summary" {
				t.Fatalf("stderr does not end with the error and the summary:\n%s", res.Stderr)
			}
			if ev := events[len(events)-2]; ev["exit_code"] != float64(tc.wantCode) || !strings.Contains(ev["message"].(string), tc.wantErr) {
				t.Errorf("error event %v", ev)
			}
			if tc.wantLog != "" && !slices.ContainsFunc(events, func(ev map[string]any) bool {
				msg, _ := ev["message"].(string)
				return ev["event"] == "log" && strings.Contains(msg, tc.wantLog)
			}) {
				t.Errorf("no log event with %q:\n%s", tc.wantLog, res.Stderr)
			}
		})
	}
}

// jsonLines parses every line of s as a JSON object, failing on any other line.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for line := range strings.Lines(s) {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
			continue
		}
		events = append(events, ev)
	}
	return events
}

func TestStatusAgainstTheEmulator(t *testing.T) {
	c := newCLI(t)
	trace := filepath.Join(c.Dir, "calls.jsonl")
	res := c.Run(t, "status", "--env", "prod", "--output", "json", "--trace-calls", trace)
	if res.Code != 0 {
		t.Fatalf("status: exit %d\n%s", res.Code, res.Stderr)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		t.Fatalf("status --output json is not JSON: %v\n%s", err, res.Stdout)
	}
	// The summary counts the whole run in seconds: status's dozens of calls to the
	// emulator take well over 10 ms (a duration in hours, or from the renderer's first
	// use, would not).
	events := jsonLines(t, res.Stderr)
	if d, ok := events[len(events)-1]["duration_s"].(float64); !ok || d < 0.01 || d > 3600 {
		t.Errorf("summary duration_s %v, want the run's seconds:\n%s", events[len(events)-1], res.Stderr)
	}
	if st.Account != "123456789012" || st.Region != "us-east-1" || st.Env != "prod" || st.App != "fastapi-vars" || len(st.Resources) == 0 {
		t.Errorf("status = %+v", st)
	}
	for key, r := range st.Resources {
		if r.Status != "not deployed" || r.ID != "" {
			t.Errorf("%s on an empty account: %+v, want not deployed", key, r)
		}
	}
	calls, err := os.ReadFile(trace)
	if err != nil || !strings.Contains(string(calls), `{"service":"STS","operation":"GetCallerIdentity","mutating":false}`) {
		t.Errorf("trace %q lacks the identity check (%v)", calls, err)
	}
}

func TestCredentialProblemsAreExplained(t *testing.T) {
	tests := map[string]struct {
		env      map[string]string
		args     []string
		want     string
		wantCode int
	}{
		"no credentials":       {env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, want: "none found (set AWS_PROFILE", wantCode: 2},
		"unreachable endpoint": {env: map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, want: "the STS endpoint is unreachable", wantCode: 1},
		"no region anywhere":   {env: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, want: "no AWS region: pass --region", wantCode: 2},
		// up stops on its preflight, which names the failed checks; still bad input.
		"up without a region": {
			env: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, args: []string{"up", "--image", stackImage},
			want: "region: none configured", wantCode: 2,
		},
		"up without credentials": {
			env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, args: []string{"up", "--image", stackImage},
			want: "credentials: checking AWS credentials: none found", wantCode: 2,
		},
		// doctor reports them as failed checks: any fail exits 1.
		"doctor without credentials": {
			env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, args: []string{"doctor", "--image", stackImage},
			want: "none found", wantCode: 1,
		},
		"region flag validated": {args: []string{"status", "--region", "mars"}, want: "region", wantCode: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			maps.Copy(c.Env, tc.env)
			args := tc.args
			if args == nil {
				args = []string{"status"}
			}
			res := c.Run(t, append(args, "--timeout", "20s")...)
			if res.Code != tc.wantCode || !strings.Contains(res.Stdout+res.Stderr, tc.want) {
				t.Errorf("exit %d, want %d mentioning %q:\nstdout:\n%s\nstderr:\n%s", res.Code, tc.wantCode, tc.want, res.Stdout, res.Stderr)
			}
		})
	}
}

// A state file from another account or region must never be acted on: its IDs would be
// someone else's resources.
func TestStateOfAnotherTargetIsRefused(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(c.Dir, ".fvdeploy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := `{"version":1,"serial":3,"lineage":"x","app":"fastapi-vars","env":"dev","region":"us-east-1","account":"999999999999","resources":{}}`
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"destroy", "--yes"}} {
		res := c.Run(t, args...)
		if res.Code != 1 || !strings.Contains(res.Stderr, `records AWS account "999999999999", but this run targets "123456789012"`) {
			t.Errorf("fvdeploy %v: exit %d\n%s", args, res.Code, res.Stderr)
		}
	}
}

// TestMakeHelp: the Makefile's targets that wrap fvdeploy are listed, each with what it
// does, and build/push/deploy pass ENV on to fvdeploy.
func TestMakeHelp(t *testing.T) {
	out, err := exec.Command("make", "-s", "-C", "../..", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, target := range []string{"build", "push", "deploy", "doctor", "demo", "test"} {
		if !regexp.MustCompile(`(?m)^  make ` + target + ` +\S`).Match(out) {
			t.Errorf("make help lacks %s:\n%s", target, out)
		}
	}
	dry, err := exec.Command("make", "-n", "-C", "../..", "deploy", "ENV=prod").CombinedOutput()
	if err != nil || !strings.Contains(string(dry), "bin/fvdeploy deploy --env prod") {
		t.Errorf("make -n deploy ENV=prod: %v\n%s", err, dry)
	}
}
