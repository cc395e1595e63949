package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/secrets"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func storedCreds(t *testing.T, in *kit.Inputs) secrets.AdminCreds {
	t.Helper()
	c, err := secrets.ReadAdminCreds(context.Background(), in.AWS.SecretsManager(), kit.AdminSecretName(in))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertNowhere fails when the password shows in state, in what the phases printed, in
// the results (plan or apply, as `--output json` would render them), or anywhere in the
// live task definitions.
func assertNowhere(t *testing.T, in *kit.Inputs, pass string, doc *state.Document, progress *progressLog, results ...*engine.Result) {
	t.Helper()
	stateJSON, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stateJSON), pass) {
		t.Error("the password is in the state document")
	}
	if strings.Contains(progress.String(), pass) {
		t.Error("the password is in the progress output")
	}
	for _, res := range results {
		out, _ := json.Marshal(res.Items)
		if strings.Contains(string(out), pass) || strings.Contains(fmt.Sprint(res.Items), pass) {
			t.Errorf("the password is in a result: %s", out)
		}
		if err := res.Err(); err != nil && strings.Contains(err.Error(), pass) {
			t.Error("the password is in an error")
		}
	}
	ecsc := in.AWS.ECS()
	list, err := ecsc.ListTaskDefinitions(context.Background(), &ecs.ListTaskDefinitionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range list.TaskDefinitionArns {
		td, err := ecsc.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(td.TaskDefinition)
		if strings.Contains(string(b), pass) {
			t.Errorf("the password is in task definition %s", arn)
		}
	}
}

func TestSecretsGivenCredentialsNeverLeakAndUpdateOnlyWhenChanged(t *testing.T) {
	const pass = "Correct-Horse-Battery-Staple-42"
	vars := map[string]string{"ADMIN_USER": "ops", "ADMIN_PASS": pass}
	in, rec := newTestInputs(t, "prod", vars)
	progress := &progressLog{t: t}
	in.Progress = progress.printf
	doc := newDoc(in)
	fakeNetwork(t, in, doc)

	first := applyScoped(t, in, doc, "secrets", "cluster")
	if c := storedCreds(t, in); c.User != "ops" || c.Pass != pass {
		t.Fatalf("stored user %q and a password of %d chars; want the given ones", c.User, len(c.Pass))
	}
	if strings.Contains(progress.String(), "generated") {
		t.Error("told the user a password was generated when one was given")
	}

	// Same values again: compared, not written.
	from := len(rec.Calls())
	second := applyScoped(t, in, doc, "secrets", "cluster")
	if m := mutations(rec, from); len(m) != 0 {
		t.Fatalf("second apply with the same ADMIN_PASS made mutating calls: %v", m)
	}
	if countCalls(rec, from, "Secrets Manager.GetSecretValue") != 1 {
		t.Errorf("the stored value was read %d times, want once to compare", countCalls(rec, from, "Secrets Manager.GetSecretValue"))
	}

	// Without the variables, a run neither reads nor writes the value.
	given := in.Getenv
	in.Getenv = func(string) string { return "" }
	from = len(rec.Calls())
	applyScoped(t, in, doc, "secrets", "cluster")
	in.Getenv = given
	if n := countCalls(rec, from, "Secrets Manager.GetSecretValue"); n != 0 || len(mutations(rec, from)) != 0 {
		t.Errorf("a run without ADMIN_* read the secret %d times and made %v", n, mutations(rec, from))
	}

	// A different password: the plan says so without the value, and apply writes it.
	const newPass = "Another-Password-That-Is-Long-7"
	vars["ADMIN_PASS"] = newPass
	plan := planPhases(t, in, doc, "secrets", "cluster")
	it := item(plan, kit.KeySecretAdmin)
	if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0] != (engine.Change{Field: "value", From: "(sensitive)", To: "(sensitive, from ADMIN_USER/ADMIN_PASS)"}) {
		t.Fatalf("plan with a new ADMIN_PASS: %+v", it)
	}
	from = len(rec.Calls())
	third := applyScoped(t, in, doc, "secrets", "cluster")
	if m := mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutSecretValue"}) {
		t.Fatalf("a new ADMIN_PASS took %v, want one PutSecretValue", m)
	}
	if c := storedCreds(t, in); c.User != "ops" || c.Pass != newPass {
		t.Fatalf("after the update: user %q, new password stored: %v", c.User, c.Pass == newPass)
	}
	for _, p := range []string{pass, newPass} {
		assertNowhere(t, in, p, doc, progress, first, second, plan, third)
	}
}

func TestSecretsGeneratedPassword(t *testing.T) {
	in, _ := newTestInputs(t, "dev", nil)
	progress := &progressLog{t: t}
	in.Progress = progress.printf
	doc := newDoc(in)
	res := applyPhases(t, in, doc, "secrets")
	c := storedCreds(t, in)
	if c.User != "admin" || len(c.Pass) != 32 || strings.Trim(c.Pass, rotation.PasswordAlphabet) != "" {
		t.Fatalf("generated credentials: user %q, password of %d chars from the alphabet: %v", c.User, len(c.Pass), strings.Trim(c.Pass, rotation.PasswordAlphabet) == "")
	}
	if !strings.Contains(progress.String(), "aws secretsmanager get-secret-value --secret-id fastapi-vars-dev-admin --query SecretString --output text") {
		t.Errorf("no hint how to read the password in:\n%s", progress)
	}
	assertNowhere(t, in, c.Pass, doc, progress, res)
	if r := doc.Resources[kit.KeySecretAdmin]; r.ID != "fastapi-vars-dev-admin" || !strings.HasPrefix(r.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:fastapi-vars-dev-admin") {
		t.Errorf("state record %+v", r)
	}

	// A later run keeps the generated value.
	applyPhases(t, in, doc, "secrets")
	if !storedCreds(t, in).Equal(c) {
		t.Fatal("a second run changed the generated credentials")
	}

	if err := rotationTarget(doc).Check(secrets.AdminSecretName(in.Config), in.Config.Env); err == nil || !strings.Contains(err.Error(), "no ECS service in state") {
		t.Errorf("a rotation target without a service: %v", err)
	}
}

// rotationTarget is the rotation's target as `secrets rotate` names it from state.
func rotationTarget(doc *state.Document) rotation.Target {
	d := DeployedObjects(doc)
	return rotation.Target{Secret: d.Secret, Cluster: d.Cluster, Service: d.Service}
}

func TestSecretsRotateWithoutSecretSaysWhatToDo(t *testing.T) {
	in, _ := newTestInputs(t, "dev", nil)
	err := rotationTarget(newDoc(in)).Check(secrets.AdminSecretName(in.Config), in.Config.Env)
	if err == nil || !strings.Contains(err.Error(), "fvdeploy up --env dev") {
		t.Fatalf("rotating a missing secret: %v", err)
	}
}

// A secret scheduled for deletion blocks its name; the next run restores it, with its
// value, instead of failing to create it.
func TestSecretsScheduledForDeletionIsRestored(t *testing.T) {
	ctx := context.Background()
	in, rec := newTestInputs(t, "hml", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "secrets")
	before := storedCreds(t, in)
	if _, err := in.AWS.SecretsManager().DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(kit.AdminSecretName(in)), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	if it := item(planPhases(t, in, doc, "secrets"), kit.KeySecretAdmin); it.Action != engine.Create {
		t.Fatalf("plan with the secret scheduled for deletion: %+v", it)
	}
	from := len(rec.Calls())
	applyPhases(t, in, doc, "secrets")
	if m := mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.RestoreSecret"}) {
		t.Fatalf("restoring took %v", m)
	}
	if !storedCreds(t, in).Equal(before) {
		t.Fatal("the restored secret lost its value")
	}
	// And destroy deletes it for good, so the name is free at once.
	destroyAll(t, in, doc)
	out, err := in.AWS.SecretsManager().ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if err != nil || len(out.SecretList) != 0 {
		t.Fatalf("after destroy: %v %v", out, err)
	}
	applyPhases(t, in, doc, "secrets")
}

// Tags removed out of band come back; the value is left alone.
func TestSecretsTagDriftIsRestored(t *testing.T) {
	ctx := context.Background()
	in, rec := newTestInputs(t, "dev", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "secrets")
	if _, err := in.AWS.SecretsManager().UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(kit.AdminSecretName(in)), TagKeys: []string{"fvdeploy:key"}}); err != nil {
		t.Fatal(err)
	}
	from := len(rec.Calls())
	applyPhases(t, in, doc, "secrets")
	if m := mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.TagResource"}) {
		t.Fatalf("restoring tags took %v", m)
	}
}

// A secret made before the rotation rollover has no ADMIN_PASS_PREVIOUS: the next run adds
// it, empty, leaving the credentials as they are; then a plain run reads the value no
// more. During a rotation (a previous password stored), up keeps the previous password.
func TestSecretsPreviousKeyIsAddedWithoutTouchingThePassword(t *testing.T) {
	ctx := context.Background()
	in, rec := newTestInputs(t, "dev", nil)
	doc := newDoc(in)
	applyPhases(t, in, doc, "secrets")
	if r := doc.Resources[kit.KeySecretAdmin]; r.Attrs[secrets.AttrPreviousKey] != "true" {
		t.Fatalf("a created secret's record does not say it carries the key: %+v", r)
	}
	const oldStyle = `{"ADMIN_USER":"admin","ADMIN_PASS":"pass-before-the-rollover-key-00"}`
	if _, err := in.AWS.SecretsManager().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(kit.AdminSecretName(in)), SecretString: aws.String(oldStyle)}); err != nil {
		t.Fatal(err)
	}
	// State from before the key existed: no attribute.
	doc.Resources[kit.KeySecretAdmin].Attrs = nil
	it := item(planPhases(t, in, doc, "secrets"), kit.KeySecretAdmin)
	if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0] != (engine.Change{Field: "value", From: "(sensitive)", To: "(sensitive, adds ADMIN_PASS_PREVIOUS)"}) {
		t.Fatalf("plan of a secret without the key: %+v", it)
	}
	from := len(rec.Calls())
	applyPhases(t, in, doc, "secrets")
	if m := mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutSecretValue"}) {
		t.Fatalf("adding the key took %v", m)
	}
	if c := storedCreds(t, in); c.User != "admin" || c.Pass != "pass-before-the-rollover-key-00" || !c.HasPrevious || c.Previous != "" {
		t.Fatalf("after adding the key: user %q, password kept %v, key %v, previous empty %v", c.User, c.Pass == "pass-before-the-rollover-key-00", c.HasPrevious, c.Previous == "")
	}
	from = len(rec.Calls())
	applyPhases(t, in, doc, "secrets")
	if n := countCalls(rec, from, "Secrets Manager.GetSecretValue"); n != 0 || len(mutations(rec, from)) != 0 {
		t.Errorf("a converged run read the secret %d times and made %v", n, mutations(rec, from))
	}

	// Lost state mid-rotation: found by name, read, and the previous password is kept.
	const mid = `{"ADMIN_USER":"admin","ADMIN_PASS":"new-pass-of-a-rotation-000000000","ADMIN_PASS_PREVIOUS":"old-pass-of-a-rotation-00000000"}`
	if _, err := in.AWS.SecretsManager().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(kit.AdminSecretName(in)), SecretString: aws.String(mid)}); err != nil {
		t.Fatal(err)
	}
	delete(doc.Resources, kit.KeySecretAdmin)
	from = len(rec.Calls())
	applyPhases(t, in, doc, "secrets")
	if m := mutations(rec, from); len(m) != 0 {
		t.Errorf("a run during a rotation made %v", m)
	}
	if c := storedCreds(t, in); c.Previous != "old-pass-of-a-rotation-00000000" || c.Pass != "new-pass-of-a-rotation-000000000" {
		t.Error("a run during a rotation changed the stored passwords")
	}
}
