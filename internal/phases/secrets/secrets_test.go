package secrets_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/phases/secrets"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func TestSecretsGivenCredentialsNeverLeakAndUpdateOnlyWhenChanged(t *testing.T) {
	const pass = "Correct-Horse-Battery-Staple-42"
	vars := map[string]string{"ADMIN_USER": "ops", "ADMIN_PASS": pass}
	in, rec := phasetest.NewTestInputs(t, "prod", vars)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)

	first := phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if c := phasetest.StoredCreds(t, in); c.User != "ops" || c.Pass != pass {
		t.Fatalf("stored user %q and a password of %d chars; want the given ones", c.User, len(c.Pass))
	}
	if strings.Contains(progress.String(), "generated") {
		t.Error("told the user a password was generated when one was given")
	}

	// Same values again: compared, not written.
	from := len(rec.Calls())
	second := phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Fatalf("second apply with the same ADMIN_PASS made mutating calls: %v", m)
	}
	if phasetest.CountCalls(rec, from, "Secrets Manager.GetSecretValue") != 1 {
		t.Errorf("the stored value was read %d times, want once to compare", phasetest.CountCalls(rec, from, "Secrets Manager.GetSecretValue"))
	}

	// Without the variables, a run neither reads nor writes the value.
	given := in.Getenv
	in.Getenv = func(string) string { return "" }
	from = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	in.Getenv = given
	if n := phasetest.CountCalls(rec, from, "Secrets Manager.GetSecretValue"); n != 0 || len(phasetest.Mutations(rec, from)) != 0 {
		t.Errorf("a run without ADMIN_* read the secret %d times and made %v", n, phasetest.Mutations(rec, from))
	}

	// A different password: the plan says so without the value, and apply writes it.
	const newPass = "Another-Password-That-Is-Long-7"
	vars["ADMIN_PASS"] = newPass
	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	it := phasetest.Item(plan, kit.KeySecretAdmin)
	if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0] != (engine.Change{Field: "value", From: "(sensitive)", To: "(sensitive, from ADMIN_USER/ADMIN_PASS)"}) {
		t.Fatalf("plan with a new ADMIN_PASS: %+v", it)
	}
	from = len(rec.Calls())
	third := phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutSecretValue"}) {
		t.Fatalf("a new ADMIN_PASS took %v, want one PutSecretValue", m)
	}
	if c := phasetest.StoredCreds(t, in); c.User != "ops" || c.Pass != newPass {
		t.Fatalf("after the update: user %q, new password stored: %v", c.User, c.Pass == newPass)
	}
	for _, p := range []string{pass, newPass} {
		phasetest.AssertNowhere(t, in, p, doc, progress, first, second, plan, third)
	}
}

func TestSecretsGeneratedPassword(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	doc := phasetest.NewDoc(in)
	res := phasetest.ApplyPhases(t, in, doc, "secrets")
	c := phasetest.StoredCreds(t, in)
	if c.User != "admin" || len(c.Pass) != 32 || strings.Trim(c.Pass, rotation.PasswordAlphabet) != "" {
		t.Fatalf("generated credentials: user %q, password of %d chars from the alphabet: %v", c.User, len(c.Pass), strings.Trim(c.Pass, rotation.PasswordAlphabet) == "")
	}
	if !strings.Contains(progress.String(), "aws secretsmanager get-secret-value --secret-id fastapi-vars-dev-admin --query SecretString --output text") {
		t.Errorf("no hint how to read the password in:\n%s", progress)
	}
	phasetest.AssertNowhere(t, in, c.Pass, doc, progress, res)
	if r := doc.Resources[kit.KeySecretAdmin]; r.ID != "fastapi-vars-dev-admin" || !strings.HasPrefix(r.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:fastapi-vars-dev-admin") {
		t.Errorf("state record %+v", r)
	}

	// A later run keeps the generated value.
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if !phasetest.StoredCreds(t, in).Equal(c) {
		t.Fatal("a second run changed the generated credentials")
	}

	if err := rotationTarget(doc).Check(secrets.AdminSecretName(in.Config), in.Config.Env); err == nil || !strings.Contains(err.Error(), "no ECS service in state") {
		t.Errorf("a rotation target without a service: %v", err)
	}
}

// rotationTarget is the rotation's target as `secrets rotate` names it from state.
func rotationTarget(doc *state.Document) rotation.Target {
	d := phases.DeployedObjects(doc)
	return rotation.Target{Secret: d.Secret, Cluster: d.Cluster, Service: d.Service}
}

func TestSecretsRotateWithoutSecretSaysWhatToDo(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	err := rotationTarget(phasetest.NewDoc(in)).Check(secrets.AdminSecretName(in.Config), in.Config.Env)
	if err == nil || !strings.Contains(err.Error(), "fvdeploy up --env dev") {
		t.Fatalf("rotating a missing secret: %v", err)
	}
}

// A secret scheduled for deletion blocks its name; the next run restores it, with its
// value, instead of failing to create it.
func TestSecretsScheduledForDeletionIsRestored(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "hml", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "secrets")
	before := phasetest.StoredCreds(t, in)
	if _, err := in.AWS.SecretsManager().DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(kit.AdminSecretName(in)), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	if it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets"), kit.KeySecretAdmin); it.Action != engine.Create {
		t.Fatalf("plan with the secret scheduled for deletion: %+v", it)
	}
	from := len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.RestoreSecret"}) {
		t.Fatalf("restoring took %v", m)
	}
	if !phasetest.StoredCreds(t, in).Equal(before) {
		t.Fatal("the restored secret lost its value")
	}
	// And destroy deletes it for good, so the name is free at once.
	phasetest.DestroyAll(t, in, doc)
	out, err := in.AWS.SecretsManager().ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if err != nil || len(out.SecretList) != 0 {
		t.Fatalf("after destroy: %v %v", out, err)
	}
	phasetest.ApplyPhases(t, in, doc, "secrets")
}

// Tags removed out of band come back; the value is left alone.
func TestSecretsTagDriftIsRestored(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "dev", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if _, err := in.AWS.SecretsManager().UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(kit.AdminSecretName(in)), TagKeys: []string{"fvdeploy:key"}}); err != nil {
		t.Fatal(err)
	}
	from := len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.TagResource"}) {
		t.Fatalf("restoring tags took %v", m)
	}
}

// A secret made before the rotation rollover has no ADMIN_PASS_PREVIOUS: the next run adds
// it, empty, leaving the credentials as they are; then a plain run reads the value no
// more. During a rotation (a previous password stored), up keeps the previous password.
func TestSecretsPreviousKeyIsAddedWithoutTouchingThePassword(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "dev", nil)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if r := doc.Resources[kit.KeySecretAdmin]; r.Attrs[secrets.AttrPreviousKey] != "true" {
		t.Fatalf("a created secret's record does not say it carries the key: %+v", r)
	}
	const oldStyle = `{"ADMIN_USER":"admin","ADMIN_PASS":"pass-before-the-rollover-key-00"}`
	if _, err := in.AWS.SecretsManager().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(kit.AdminSecretName(in)), SecretString: aws.String(oldStyle)}); err != nil {
		t.Fatal(err)
	}
	// State from before the key existed: no attribute.
	doc.Resources[kit.KeySecretAdmin].Attrs = nil
	it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets"), kit.KeySecretAdmin)
	if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0] != (engine.Change{Field: "value", From: "(sensitive)", To: "(sensitive, adds ADMIN_PASS_PREVIOUS)"}) {
		t.Fatalf("plan of a secret without the key: %+v", it)
	}
	from := len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutSecretValue"}) {
		t.Fatalf("adding the key took %v", m)
	}
	if c := phasetest.StoredCreds(t, in); c.User != "admin" || c.Pass != "pass-before-the-rollover-key-00" || !c.HasPrevious || c.Previous != "" {
		t.Fatalf("after adding the key: user %q, password kept %v, key %v, previous empty %v", c.User, c.Pass == "pass-before-the-rollover-key-00", c.HasPrevious, c.Previous == "")
	}
	from = len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if n := phasetest.CountCalls(rec, from, "Secrets Manager.GetSecretValue"); n != 0 || len(phasetest.Mutations(rec, from)) != 0 {
		t.Errorf("a converged run read the secret %d times and made %v", n, phasetest.Mutations(rec, from))
	}

	// Lost state mid-rotation: found by name, read, and the previous password is kept.
	const mid = `{"ADMIN_USER":"admin","ADMIN_PASS":"new-pass-of-a-rotation-000000000","ADMIN_PASS_PREVIOUS":"old-pass-of-a-rotation-00000000"}`
	if _, err := in.AWS.SecretsManager().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(kit.AdminSecretName(in)), SecretString: aws.String(mid)}); err != nil {
		t.Fatal(err)
	}
	delete(doc.Resources, kit.KeySecretAdmin)
	from = len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("a run during a rotation made %v", m)
	}
	if c := phasetest.StoredCreds(t, in); c.Previous != "old-pass-of-a-rotation-00000000" || c.Pass != "new-pass-of-a-rotation-000000000" {
		t.Error("a run during a rotation changed the stored passwords")
	}
}
