package main

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

const teamAppYAML = `
service:
  env: {LOG_LEVEL: debug, GREETING: hello}
  secrets:
    DB_PASSWORD: {secret: team/db, key: password}
    API_TOKEN: {key: API_TOKEN}
  command: [uvicorn, main:app, --host, 0.0.0.0]
`

// The deployer's variable service.secrets stores in the admin secret: never to be seen.
const teamToken = "T3AM-AP1-T0KEN-e2e"

// Another team's app through the binary: its variables, its secrets by valueFrom and its
// command reach the task definition, the execution role reads exactly the secrets named,
// and a second up makes no mutating call.
func TestTeamAppThroughTheBinary(t *testing.T) {
	ctx := context.Background()
	clients := testClients(t)
	c := newCLI(t)
	writeFile(t, c.Dir, "fvdeploy.yaml", teamAppYAML)
	c.Env["API_TOKEN"] = teamToken
	c.Forbidden = append(c.Forbidden, teamToken)
	sm := clients.SecretsManager()
	db, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("team/db"), SecretString: aws.String(`{"password":"db-pass"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("team/unrelated"), SecretString: aws.String(`{"k":"v"}`)}); err != nil {
		t.Fatal(err)
	}
	dbARN := aws.ToString(db.ARN)

	mustRun(t, c, upArgs("dev")...)
	admin, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("fastapi-vars-dev-admin")})
	if err != nil {
		t.Fatal(err)
	}
	adminARN := aws.ToString(admin.ARN)

	td, err := clients.ECS().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("fastapi-vars-dev")})
	if err != nil {
		t.Fatal(err)
	}
	app := td.TaskDefinition.ContainerDefinitions[0]
	env, secrets := testenv.ContainerVars(app)
	if want := []string{"GREETING=hello", "LOG_LEVEL=debug"}; !slices.Equal(env, want) {
		t.Errorf("environment %v, want %v", env, want)
	}
	wantSecrets := []string{
		"ADMIN_PASS=" + adminARN + ":ADMIN_PASS::",
		"ADMIN_PASS_PREVIOUS=" + adminARN + ":ADMIN_PASS_PREVIOUS::",
		"ADMIN_USER=" + adminARN + ":ADMIN_USER::",
		"API_TOKEN=" + adminARN + ":API_TOKEN::",
		"DB_PASSWORD=" + dbARN + ":password::",
	}
	if !slices.Equal(secrets, wantSecrets) {
		t.Errorf("secrets\n%v\nwant\n%v", secrets, wantSecrets)
	}
	if want := []string{"uvicorn", "main:app", "--host", "0.0.0.0"}; !slices.Equal(app.Command, want) {
		t.Errorf("command %q, want %q", app.Command, want)
	}

	// The execution role reads the admin secret and team/db, by full ARN, nothing else.
	pol, err := clients.IAM().GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("fastapi-vars-dev-exec"), PolicyName: aws.String("fvdeploy")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.PathUnescape(aws.ToString(pol.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(doc, "arn:aws:secretsmanager:"); n != 2 || !strings.Contains(doc, `"`+adminARN+`"`) || !strings.Contains(doc, `"`+dbARN+`"`) {
		t.Errorf("execution role policy names %d secrets, want exactly %s and %s:\n%s", n, adminARN, dbARN, doc)
	}

	trace := filepath.Join(c.Dir, "up2")
	res := mustRun(t, c, upArgs("dev", "--trace-calls", trace)...)
	if m := mutatingCalls(traced(t, trace)); len(m) != 0 {
		t.Errorf("second up made mutating calls: %v", m)
	}
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("second up:\n%s", res.Stdout)
	}

	mustRun(t, c, "destroy", "--env", "dev", "--yes")
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dbARN)}); err != nil {
		t.Errorf("destroy deleted the team's own secret: %v", err)
	}
}
