package cluster_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/config"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// createTeamSecret makes a secret someone else owns, as a team would before deploying.
func createTeamSecret(t *testing.T, in *kit.Inputs, name, value string) string {
	t.Helper()
	out, err := in.AWS.SecretsManager().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// A team's app: its plain variables, its secrets by valueFrom (a key of a named secret and
// one stored in the admin secret from the deployer's variable) and its command reach the
// task definition; the execution role may read exactly the secrets named; a second run
// changes nothing; switched off, all of it goes and the team's secret stays.
func TestClusterTeamAppSettings(t *testing.T) {
	const token = "tok-never-shown-31337"
	in, rec := phasetest.NewTestInputs(t, "dev", map[string]string{"API_TOKEN": token})
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	dbARN := createTeamSecret(t, in, "team/db", `{"password":"p"}`)
	createTeamSecret(t, in, "team/unrelated", `{"x":"y"}`)
	in.Config.Service.Env = map[string]string{"LOG_LEVEL": "debug", "FEATURE_X": "on"}
	in.Config.Service.Secrets = map[string]config.SecretRef{
		"DB_PASSWORD":   {Secret: "team/db", Key: "password"},
		"DB_PASS_AGAIN": {Secret: dbARN, Key: "password"},
		"API_TOKEN":     {Key: "API_TOKEN"},
	}
	in.Config.Service.Command = []string{"uvicorn", "main:app", "--port", "8000"}
	doc := phasetest.NewDoc(in)
	netKeys := phasetest.FakeNetwork(t, in, doc)
	res := phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	adminARN := doc.Resources[kit.KeySecretAdmin].ARN

	td := describeTaskDef(t, in, kit.TaskFamily(in))
	app := clusterphase.AppContainer(td.ContainerDefinitions)
	env, secrets := testenv.ContainerVars(*app)
	if want := []string{"FEATURE_X=on", "LOG_LEVEL=debug"}; !slices.Equal(env, want) {
		t.Errorf("environment %v, want %v", env, want)
	}
	wantSecrets := []string{
		"ADMIN_PASS=" + adminARN + ":ADMIN_PASS::",
		"ADMIN_PASS_PREVIOUS=" + adminARN + ":ADMIN_PASS_PREVIOUS::",
		"ADMIN_USER=" + adminARN + ":ADMIN_USER::",
		"API_TOKEN=" + adminARN + ":API_TOKEN::",
		"DB_PASSWORD=" + dbARN + ":password::",
		"DB_PASS_AGAIN=" + dbARN + ":password::",
	}
	slices.Sort(wantSecrets)
	if !slices.Equal(secrets, wantSecrets) {
		t.Errorf("secrets\n%v\nwant\n%v", secrets, wantSecrets)
	}
	if !slices.Equal(app.Command, in.Config.Service.Command) {
		t.Errorf("command %q, want %q", app.Command, in.Config.Service.Command)
	}
	if c := phasetest.StoredCreds(t, in); c.Extra["API_TOKEN"] != token || c.User != "admin" || c.Pass == "" {
		t.Errorf("the admin secret does not hold API_TOKEN from the environment beside the credentials (user %q)", c.User)
	}
	phasetest.AssertNowhere(t, in, token, doc, progress, res)

	// Exactly the admin secret and the named one, each by its full ARN, once.
	policy := taskRolePolicy(t, in, doc.Resources[kit.KeyExecRole].ID)
	var read []any
	for _, s := range phasetest.PolicyStatements(t, policy) {
		if slices.Contains(kit.SortedList(s["Action"]), any("secretsmanager:GetSecretValue")) {
			read = append(read, kit.SortedList(s["Resource"])...)
		}
	}
	if want := kit.SortedList([]any{adminARN, dbARN}); !slices.Equal(kit.SortedList(read), want) {
		t.Errorf("execution role reads secrets %v, want %v\n%s", read, want, policy)
	}

	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("second apply made %v", m)
	}

	// A changed plain value is a new revision; the plan names the variable, not the value.
	in.Config.Service.Env["LOG_LEVEL"] = "warning-level-value"
	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	if it := phasetest.Item(plan, clusterphase.KeyTaskDef); len(it.Changes) != 1 || it.Changes[0].Field != "container.environment" ||
		strings.Contains(it.Changes[0].To, "warning-level-value") || !strings.Contains(it.Changes[0].To, "LOG_LEVEL=") {
		t.Errorf("plan of a changed variable: %+v", it)
	}

	in.Config.Service.Env, in.Config.Service.Secrets, in.Config.Service.Command = nil, nil, nil
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	app = clusterphase.AppContainer(describeTaskDef(t, in, kit.TaskFamily(in)).ContainerDefinitions)
	if len(app.Environment) != 0 || len(app.Command) != 0 || len(app.Secrets) != 3 {
		t.Errorf("switched off: environment %v, command %v, %d secrets", app.Environment, app.Command, len(app.Secrets))
	}
	if strings.Contains(taskRolePolicy(t, in, doc.Resources[kit.KeyExecRole].ID), dbARN) {
		t.Error("switched off: the execution role still reads the team's secret")
	}
	if doc.Resources[kit.KeySecretRef("team/db")] != nil {
		t.Error("switched off: state still records the team's secret")
	}
	if _, err := in.AWS.SecretsManager().DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(dbARN)}); err != nil {
		t.Errorf("the team's secret is gone: %v", err)
	}
	destroyCluster(t, in, doc, netKeys)
	if _, err := in.AWS.SecretsManager().DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(dbARN)}); err != nil {
		t.Errorf("destroy deleted the team's secret: %v", err)
	}
}

// What service.secrets needs but is not there fails the run before the task definition,
// saying what to do.
func TestClusterTeamAppSecretsMissing(t *testing.T) {
	tests := map[string]struct {
		ref  config.SecretRef
		want string
	}{
		"named secret absent":  {config.SecretRef{Secret: "team/none", Key: "k"}, "secret team/none, which service.secrets names, does not exist (or is scheduled for deletion) in us-east-1: create it first"},
		"stored key not given": {config.SecretRef{Key: "API_TOKEN"}, "secret fastapi-vars-dev-admin has no API_TOKEN, which service.secrets reads: set API_TOKEN in the environment of up to store it"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			in, _ := phasetest.NewTestInputs(t, "dev", nil)
			in.Config.Service.Secrets = map[string]config.SecretRef{"X": tt.ref}
			doc := phasetest.NewDoc(in)
			phasetest.FakeNetwork(t, in, doc)
			res, err := phasetest.ScopedEngine(t, in, "secrets", "cluster").Apply(context.Background(), phasetest.Declared(t, in, "secrets", "cluster"), doc,
				func(context.Context, *state.Document) error { return nil })
			if err == nil {
				err = res.Err()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("apply = %v, want %q", err, tt.want)
			}
			if doc.Resources[clusterphase.KeyTaskDef] != nil {
				t.Error("a task definition was registered")
			}
		})
	}
}
