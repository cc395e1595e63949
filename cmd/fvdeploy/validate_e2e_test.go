package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// readState reads an environment's local state file as the binary left it.
func readState(t *testing.T, c *testenv.CLI, env string) *state.Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, ".fvdeploy", env+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc state.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// standInForECS does what ECS and its awslogs driver would do for the app the test runs
// (the emulator runs no task): it registers one target per desired task in the target
// group (the emulator reports a registered target healthy) and copies the app's access
// log lines into the service's log group until the test ends.
func standInForECS(t *testing.T, doc *state.Document, app *testenv.App, tasks int) {
	t.Helper()
	ctx := context.Background()
	clients := testClients(t)
	var targets []elbtypes.TargetDescription
	for i := range tasks {
		targets = append(targets, elbtypes.TargetDescription{Id: aws.String("10.0.128." + string(rune('1'+i))), Port: aws.Int32(8000)})
	}
	if _, err := clients.ELB().RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(doc.Resources["network/tg"].ARN), Targets: targets}); err != nil {
		t.Fatal(err)
	}
	group, stream := doc.Resources["cluster/log-group"].ID, "app/app/local"
	logs := clients.Logs()
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent := 0
		for {
			if lines := app.Lines(sent); len(lines) > 0 {
				var events []logtypes.InputLogEvent
				for _, l := range lines {
					events = append(events, logtypes.InputLogEvent{Message: aws.String(l), Timestamp: aws.Int64(time.Now().UnixMilli())})
				}
				if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: events}); err != nil {
					t.Errorf("forwarding the app's log lines: %v", err)
					return
				}
				sent += len(lines)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func checkByName(t *testing.T, stdout, prefix string) (ok bool, evidence string) {
	t.Helper()
	// On failure stdout holds the result, then the error object: read the first.
	var v validateJSON
	if err := json.NewDecoder(strings.NewReader(stdout)).Decode(&v); err != nil {
		t.Fatalf("validate --output json: %v\n%s", err, stdout)
	}
	for _, c := range v.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c.OK, c.Evidence
		}
	}
	t.Fatalf("no check %q in:\n%s", prefix, stdout)
	return false, ""
}

// notApplicable are the checks a prod up of network, secrets and cluster with --image
// gives nothing to look at: no domain, no repository, no bucket. (The network phase makes
// the environment's KMS key, and the log groups are encrypted with it: that check applies
// and passes.)
var notApplicable = []string{
	"security: the HTTPS listener uses a current TLS policy",
	"security: port 80 redirects to HTTPS when TLS is on",
	"security: ECR scans images on push",
	"security: buckets enforce owner",
}

// checkStatuses reads validate's JSON result: each check's status by name.
func checkStatuses(t *testing.T, stdout string) map[string]string {
	t.Helper()
	var v validateJSON
	if err := json.NewDecoder(strings.NewReader(stdout)).Decode(&v); err != nil {
		t.Fatalf("validate --output json: %v\n%s", err, stdout)
	}
	out := map[string]string{}
	for _, c := range v.Checks {
		out[c.Name] = c.Status()
	}
	return out
}

// validate against the emulator, with the app run locally under the secret's
// credentials: it passes; the security audit passes on a fresh up (but for the controls
// other slices build, listed above), skips what does not apply and says so, and names
// an SG rule opened to the internet out of band; and once the secret's password changes
// under the running app, the 200 check fails and validate exits 1.
func TestValidateAgainstTheAppRunLocally(t *testing.T) {
	c := newCLI(t)
	// prod: the emulator reports 2 running tasks per service, prod's desired count.
	mustRun(t, c, upArgs("prod")...)
	doc := readState(t, c, "prod")
	app := testenv.StartApp(t, "admin", adminPass)
	standInForECS(t, doc, app, 2)
	args := []string{"validate", "--env", "prod", "--url", app.URL, "--settle", "3s", "--logs-wait", "20s"}

	res := c.Run(t, append(args, "--security")...)
	if res.Code != 0 {
		t.Fatalf("validate --security on a fresh up: exit %d, want 0\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	// Each check is said once, as it finishes; the result is the count.
	for _, w := range []string{"ok   GET / with the admin credentials answers 200", "ok   GET / without credentials answers 401",
		"ok   GET / with wrong credentials answers 401", "ok   GET /health answers 200", "ok   target group", "ok   ECS service",
		"ok   logs:", "ok   alarms", "ok   security: SG-ECS admits only SG-ALB", "skip security: ECR scans images on push: no ECR repository in state"} {
		if !strings.Contains(res.Stderr, w) {
			t.Errorf("validate progress lacks %q:\n%s", w, res.Stderr)
		}
	}
	// Skipped checks are told again, as SKIP, and counted apart: 25 checks, 4 skipped.
	const summary = "All 21 checks passed; 4 skipped (not applicable)."
	if strings.Contains(res.Stdout, "PASS") || !strings.Contains(res.Stdout, summary) || strings.Count(res.Stdout, "  SKIP ") != 4 {
		t.Errorf("validate's result repeats passed checks, lacks the skipped ones or the count %q:\n%s", summary, res.Stdout)
	}
	golden(t, "validate-prod.txt", res.Stdout)

	// Every check ends as expected: the ones with nothing to look at are skipped (never
	// passed), everything else passes.
	res = c.Run(t, append(args, "--security", "--output", "json")...)
	statuses := checkStatuses(t, res.Stdout)
	if len(statuses) != 25 {
		t.Errorf("validate --security ran %d checks, want 25: %v", len(statuses), statuses)
	}
	for name, status := range statuses {
		want := "passed"
		if slices.ContainsFunc(notApplicable, func(p string) bool { return strings.HasPrefix(name, p) }) {
			want = "skipped"
		}
		if status != want {
			t.Errorf("%q %s, want %s", name, status, want)
		}
	}

	// Someone opens the tasks' port to the internet by hand.
	sgECS := doc.Resources["network/sg-ecs"].ID
	_, err := testClients(t).EC2().AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(sgECS), IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8000), ToPort: aws.Int32(8000),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	res = c.Run(t, append(args, "--security", "--output", "json")...)
	golden(t, "validate-prod-open-port.json", res.Stdout)
	if res.Code != 1 {
		t.Fatalf("validate --security with 0.0.0.0/0 on 8000: exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if ok, ev := checkByName(t, res.Stdout, "security: no security group admits 0.0.0.0/0"); ok || !strings.Contains(ev, sgECS) || !strings.Contains(ev, "admits the internet on tcp 8000") {
		t.Errorf("the open-ingress finding does not name the rule: ok=%v %q", ok, ev)
	}
	if ok, ev := checkByName(t, res.Stdout, "security: SG-ECS admits only SG-ALB"); ok || !strings.Contains(ev, "tcp 8000 from 0.0.0.0/0") {
		t.Errorf("the SG-ECS finding does not name the rule: ok=%v %q", ok, ev)
	}
	if ok, _ := checkByName(t, res.Stdout, "GET / with the admin credentials answers 200"); !ok {
		t.Errorf("an SG finding failed the HTTP check too:\n%s", res.Stdout)
	}

	// The password changes under the running app: the service no longer accepts what
	// the secret holds.
	changed := "Chang3d-Under-The-App-e2e"
	c.Forbidden = append(c.Forbidden, changed)
	_, err = testClients(t).SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(doc.Resources["secrets/admin"].ARN), SecretString: aws.String(`{"ADMIN_USER":"admin","ADMIN_PASS":"` + changed + `"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The result names only the failed check; --verbose lists the passed ones too.
	for _, verbose := range []bool{false, true} {
		run := args
		if verbose {
			run = append(slices.Clone(args), "--verbose")
		}
		res = c.Run(t, run...)
		if res.Code != 1 {
			t.Fatalf("validate after the password changed: exit %d, want 1\n%s\n%s", res.Code, res.Stdout, res.Stderr)
		}
		if !strings.Contains(res.Stdout, "FAIL GET / with the admin credentials answers 200") || !strings.Contains(res.Stdout, "HTTP 401 (want 200)") ||
			!strings.Contains(res.Stdout, "1 of 8 checks failed.") || !strings.Contains(res.Stderr, "validate: 1 of 8 checks failed") {
			t.Errorf("validate did not name the failed 200 check:\n%s\n%s", res.Stdout, res.Stderr)
		}
		if passed := strings.Contains(res.Stdout, "PASS GET /health answers 200"); passed != verbose {
			t.Errorf("verbose %v, passed checks listed %v:\n%s", verbose, passed, res.Stdout)
		}
	}
}

// With CloudTrail and ALB access logs on, the audit reads what the observability phase
// created, from the emulator: both buckets and the trail, and (prod's alarm topic key
// being the environment's KMS key) the log group's and trail's encryption. The checks
// run, never skip; what they find is pinned in the golden file: with the key, bucket and
// encryption slice merged they pass (explicit BucketOwnerEnforced, which the emulator,
// unlike AWS since 2023, does not give a new bucket; versioning; the environment's key on
// the log group and the trail).
func TestValidateSecurityReadsBucketsAndEncryption(t *testing.T) {
	c := newCLI(t)
	writeFile(t, c.Dir, "fvdeploy.yaml", "observability: {cloudtrail: true, alb_access_logs: true}\n")
	mustRun(t, c, "up", "--env", "prod", "--phases", "network,secrets,cluster,observability", "--image", stackImage)
	doc := readState(t, c, "prod")
	app := testenv.StartApp(t, "admin", adminPass)
	standInForECS(t, doc, app, 2)
	res := c.Run(t, "validate", "--env", "prod", "--url", app.URL, "--settle", "3s", "--logs-wait", "20s", "--security", "--output", "json")
	statuses := checkStatuses(t, res.Stdout)
	for _, prefix := range []string{"security: buckets enforce owner", "security: log groups and the CloudTrail trail are encrypted"} {
		ran := false
		for name, status := range statuses {
			ran = ran || strings.HasPrefix(name, prefix) && status != "skipped"
		}
		if !ran {
			t.Errorf("%q did not run with buckets, a trail and a KMS key in state: %v", prefix, statuses)
		}
	}
	_, ev := checkByName(t, res.Stdout, "security: buckets enforce owner")
	for _, key := range []string{"observability/trail-bucket", "observability/alb-logs-bucket"} {
		if b := doc.Resources[key].ID; b == "" || !strings.Contains(ev, b) {
			t.Errorf("the bucket check does not name %s (%q): %s", key, b, ev)
		}
	}
	golden(t, "validate-prod-observability.json", res.Stdout)
}
