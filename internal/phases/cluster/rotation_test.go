package cluster_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/config"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/secretrotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// assertRotation reads back what prod's rotation is made of: the schedule on the secret,
// the function and who may invoke it, the rule that ends stage A, and the role's rights.
func assertRotation(t *testing.T, in *kit.Inputs, doc *state.Document, secretARN string) {
	t.Helper()
	ctx := context.Background()
	fn := doc.Resources[clusterphase.KeyRotationFunction]
	svc := doc.Resources[kit.KeyService]
	rule := doc.Resources[clusterphase.KeyRotationRule]
	if fn == nil || svc == nil || rule == nil || doc.Resources[clusterphase.KeyRotationSchedule] == nil {
		t.Fatalf("state lacks a rotation resource: function %v service %v rule %v", fn, svc, rule)
	}

	d, err := in.AWS.SecretsManager().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretARN)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != fn.ARN || d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Errorf("secret rotation enabled %v by %s every %+v; want on, by %s, every 30 days", aws.ToBool(d.RotationEnabled), aws.ToString(d.RotationLambdaARN), d.RotationRules, fn.ARN)
	}

	lc := in.AWS.Lambda()
	f, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fastapi-vars-prod-secret-rotation")})
	if err != nil {
		t.Fatal(err)
	}
	zip, _ := secretrotation.Zip()
	sum := sha256.Sum256(zip)
	env := f.Configuration.Environment.Variables
	if aws.ToString(f.Configuration.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]) || aws.ToString(f.Configuration.Role) != doc.Resources[clusterphase.KeyRotationRole].ARN ||
		env["SECRET_ARN"] != secretARN || env["CLUSTER"] != "fastapi-vars-prod" || env["SERVICE"] != "fastapi-vars-prod" || len(env) != 3 {
		t.Errorf("function code %s role %s environment %v", aws.ToString(f.Configuration.CodeSha256), aws.ToString(f.Configuration.Role), env)
	}
	pol, err := lc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(fn.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Principal map[string]string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &p); err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, s := range p.Statement {
		grants = append(grants, s.Principal["Service"]+" for "+s.Condition["ArnLike"]["AWS:SourceArn"]+" of "+s.Condition["StringEquals"]["AWS:SourceAccount"])
	}
	slices.Sort(grants)
	want := []string{"events.amazonaws.com for " + rule.ARN + " of 123456789012", "secretsmanager.amazonaws.com for " + secretARN + " of 123456789012"}
	if !slices.Equal(grants, want) {
		t.Errorf("function policy lets %v invoke it; want %v", grants, want)
	}

	eb := in.AWS.EventBridge()
	r, err := eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("fastapi-vars-prod-secret-rotation")})
	if err != nil {
		t.Fatal(err)
	}
	if clusterphase.CanonicalJSON(aws.ToString(r.EventPattern)) != clusterphase.CanonicalJSON(clusterphase.RulePattern(svc.ARN)) || !strings.Contains(aws.ToString(r.EventPattern), "SERVICE_DEPLOYMENT_COMPLETED") {
		t.Errorf("rule pattern %s; want completed deployments of %s", aws.ToString(r.EventPattern), svc.ARN)
	}
	targets, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != fn.ARN {
		t.Errorf("rule targets %+v; want the function alone", targets.Targets)
	}

	iamc := in.AWS.IAM()
	role, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-secret-rotation")})
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument))
	if clusterphase.CanonicalJSON(trust) != clusterphase.CanonicalJSON(kit.ServiceTrustPolicy("lambda.amazonaws.com", "123456789012")) || strings.Contains(trust, "SourceArn") {
		t.Errorf("rotation role trust %s; want lambda.amazonaws.com on aws:SourceAccount alone", trust)
	}
	inline, err := iamc.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: role.Role.RoleName, PolicyName: aws.String(kinds.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc2, _ := kit.DecodePolicy(aws.ToString(inline.PolicyDocument))
	var ip struct {
		Statement []struct {
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(doc2), &ip); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range ip.Statement {
		for _, a := range s.Action {
			got[a] = strings.Join(s.Resource, ",")
		}
	}
	logs := "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fastapi-vars-prod-secret-rotation:*"
	wantGrants := map[string]string{
		"secretsmanager:DescribeSecret": secretARN, "secretsmanager:GetSecretValue": secretARN,
		"secretsmanager:PutSecretValue": secretARN, "secretsmanager:UpdateSecretVersionStage": secretARN,
		"secretsmanager:GetRandomPassword": "*",
		"ecs:DescribeServices":             svc.ARN, "ecs:UpdateService": svc.ARN,
		"logs:CreateLogStream": logs, "logs:PutLogEvents": logs,
	}
	if !mapsEqual(got, wantGrants) {
		t.Errorf("rotation role grants %v\nwant %v", got, wantGrants)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The admin secret's policy lets the rotation role store values only while rotation is on.
func TestAdminSecretAccessWithRotation(t *testing.T) {
	for name, tc := range map[string]struct {
		days    int
		writers []string
	}{
		"on":  {days: 30, writers: []string{"arn:aws:iam::123456789012:role/fastapi-vars-prod-secret-rotation"}},
		"off": {days: 0},
	} {
		t.Run(name, func(t *testing.T) {
			in := &kit.Inputs{Account: "123456789012", Region: "us-east-1", Config: &config.Config{App: "fastapi-vars", Env: "prod"}}
			in.Config.Secrets.RotationDays = tc.days
			a := kinds.AdminSecretAccess(in)
			if !slices.Equal(a.Writers, tc.writers) || !slices.Equal(a.Readers, []string{"arn:aws:iam::123456789012:role/fastapi-vars-prod-exec"}) {
				t.Errorf("access %+v; want writers %v and the execution role reading", a, tc.writers)
			}
		})
	}
}

// Turning rotation off (rotation_days 0) cancels it on the secret and removes the
// function, its rule, role and log group; turning it on again restores them.
func TestRotationOffAndOnAgain(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	secretARN := doc.Resources[kit.KeySecretAdmin].ARN

	in.Config.Secrets.RotationDays = 0
	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	for _, op := range []string{"Secrets Manager.CancelRotateSecret", "Lambda.DeleteFunction", "EventBridge.DeleteRule", "IAM.DeleteRole", "CloudWatch Logs.DeleteLogGroup"} {
		if phasetest.CallIndex(rec, from, op) < 0 {
			t.Errorf("rotation off: no %s in %v", op, phasetest.Mutations(rec, from))
		}
	}
	for _, k := range []string{clusterphase.KeyRotationFunction, clusterphase.KeyRotationRule, clusterphase.KeyRotationRole, clusterphase.KeyRotationLogs, clusterphase.KeyRotationSchedule} {
		if doc.Resources[k] != nil {
			t.Errorf("rotation off: state still records %s", k)
		}
	}
	d, err := in.AWS.SecretsManager().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretARN)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(d.RotationEnabled) {
		t.Error("rotation off: the secret still rotates")
	}

	in.Config.Secrets.RotationDays = 30
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	assertRotation(t, in, doc, secretARN)
}

// A schedule changed behind fvdeploy's back is found and put back.
func TestRotationScheduleDrift(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	secretARN := doc.Resources[kit.KeySecretAdmin].ARN
	sm := in.AWS.SecretsManager()
	if _, err := sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(secretARN)}); err != nil {
		t.Fatal(err)
	}
	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	var changed []string
	for _, it := range plan.Items {
		if it.Key == clusterphase.KeyRotationSchedule {
			changed = append(changed, string(it.Action))
		}
	}
	if len(changed) != 1 || changed[0] != "update" {
		t.Fatalf("plan after rotation was cancelled: %v for %s; want an update", changed, clusterphase.KeyRotationSchedule)
	}
	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.RotateSecret"}) {
		t.Errorf("repair made %v; want RotateSecret alone", m)
	}
	assertRotation(t, in, doc, secretARN)
}
