package phases

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// declareSecrets is the secrets phase: the admin credentials the service checks, kept in
// Secrets Manager and handed to the tasks by ECS, never written anywhere else.
func declareSecrets(in *Inputs) ([]engine.Resource, error) {
	return []engine.Resource{&adminSecret{in: in, api: in.AWS.SecretsManager()}}, nil
}

type secretAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	RestoreSecret(ctx context.Context, in *secretsmanager.RestoreSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

const (
	keySecretAdmin = "secrets/admin"

	envAdminUser = "ADMIN_USER"
	envAdminPass = "ADMIN_PASS"

	defaultAdminUser = "admin"
	passwordLength   = 32
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

	// The words plan shows for a value change: never the value itself.
	sensitiveFrom = "(sensitive)"
	sensitiveTo   = "(sensitive, from ADMIN_USER/ADMIN_PASS)"
)

// adminSecret is the secret <app>-<env>-admin holding {"ADMIN_USER": .., "ADMIN_PASS": ..}.
// Its value is read only to compare it with values the user gave explicitly; state holds
// its name and ARN, nothing more.
type adminSecret struct {
	in  *Inputs
	api secretAPI
}

func (r *adminSecret) Key() string         { return keySecretAdmin }
func (r *adminSecret) Type() string        { return "secretsmanager:secret" }
func (r *adminSecret) DependsOn() []string { return nil }

func adminSecretName(in *Inputs) string { return in.prefix() + "-admin" }

// adminCreds is the secret's value. It has no String method on purpose, and nothing
// formats it: the only place it goes is the SecretString of an API call.
type adminCreds struct {
	User string `json:"ADMIN_USER"`
	Pass string `json:"ADMIN_PASS"`
}

func (c adminCreds) secretString() (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", errors.New("encoding the admin credentials failed") // never wrap: it could quote the value
	}
	return string(b), nil
}

// fromEnv overlays the credentials given in ADMIN_USER / ADMIN_PASS on c.
func (r *adminSecret) fromEnv(c adminCreds) (adminCreds, bool) {
	user, pass := r.in.Getenv(envAdminUser), r.in.Getenv(envAdminPass)
	if user != "" {
		c.User = user
	}
	if pass != "" {
		c.Pass = pass
	}
	return c, user != "" || pass != ""
}

func (r *adminSecret) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	d, err := r.describe(ctx, rec)
	if err != nil || d == nil {
		return nil, err
	}
	found := foundSecret(d, r.in.tags(keySecretAdmin))
	if found == nil {
		return nil, nil
	}
	// The stored value is read only when the user gave values to compare it with: a
	// plain `up` never touches, or even reads, the credentials.
	if _, given := r.fromEnv(adminCreds{}); given {
		cur, err := readAdminCreds(ctx, r.api, found.Record.ARN)
		if err != nil {
			return nil, err
		}
		if want, _ := r.fromEnv(cur); want != cur {
			found.Changes = append(found.Changes, engine.Change{Field: "value", From: sensitiveFrom, To: sensitiveTo})
		}
	}
	return found, nil
}

// describe finds the secret by its recorded ARN, else by its name (unique per account
// and region, so no tag lookup is needed). nil means it does not exist at all.
func (r *adminSecret) describe(ctx context.Context, rec *state.Resource) (*secretsmanager.DescribeSecretOutput, error) {
	return describeSecret(ctx, r.api, adminSecretName(r.in), rec)
}

func describeSecret(ctx context.Context, api secretAPI, name string, rec *state.Resource) (*secretsmanager.DescribeSecretOutput, error) {
	ids := []string{name}
	if rec != nil && rec.ARN != "" {
		ids = []string{rec.ARN, name}
	}
	for _, id := range ids {
		out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing secret %s: %w", id, err)
		}
		return out, nil
	}
	return nil, nil
}

// foundSecret is a described secret as found, with its tags compared to want. A secret
// scheduled for deletion still holds the name but is unusable: to the plan it is absent
// (nil), and Create restores it.
func foundSecret(d *secretsmanager.DescribeSecretOutput, want map[string]string) *engine.Found {
	if d.DeletedDate != nil {
		return nil
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(d.Name), ARN: aws.ToString(d.ARN)}}
	have := map[string]string{}
	for _, t := range d.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if from, to, drift := tagDrift(want, have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found
}

// SecretReader is what AdminCredentials needs from Secrets Manager.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// AdminCredentials reads the user and password the service checks, for validate to
// log in with. Callers must never print them.
func AdminCredentials(ctx context.Context, api SecretReader, secretARN string) (user, pass string, err error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return "", "", fmt.Errorf("reading the admin credentials from secret %s: %w", secretARN, err)
	}
	var c adminCreds
	if json.Unmarshal([]byte(aws.ToString(out.SecretString)), &c) != nil || c.User == "" || c.Pass == "" {
		return "", "", fmt.Errorf("secret %s does not hold {%q, %q}: run `fvdeploy up` to repair it", secretARN, envAdminUser, envAdminPass)
	}
	return c.User, c.Pass, nil
}

// readAdminCreds reads the stored credentials. A value that is not the expected JSON
// reads as empty credentials, which then differ from anything wanted.
func readAdminCreds(ctx context.Context, api secretAPI, id string) (adminCreds, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return adminCreds{}, fmt.Errorf("reading the value of secret %s: %w", id, err)
	}
	var c adminCreds
	if json.Unmarshal([]byte(aws.ToString(out.SecretString)), &c) != nil {
		return adminCreds{}, nil
	}
	return c, nil
}

func (r *adminSecret) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := adminSecretName(r.in)
	d, err := r.describe(ctx, nil)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return adoptSecret(ctx, r.in, r.api, r, d)
	}
	creds, _ := r.fromEnv(adminCreds{User: defaultAdminUser})
	generated := false
	if creds.Pass == "" {
		if creds.Pass, err = newPassword(); err != nil {
			return nil, err
		}
		generated = true
	}
	value, err := creds.secretString()
	if err != nil {
		return nil, err
	}
	out, err := r.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String(fmt.Sprintf("Admin credentials of %s (%s), managed by fvdeploy", r.in.Config.App, r.in.Config.Env)),
		SecretString: aws.String(value),
		Tags:         secretTags(r.in.tags(keySecretAdmin)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	if generated {
		r.in.Progress("generated a random admin password (user %q); fvdeploy never shows it. Read it with: %s", creds.User, readSecretCommand(r.in, name))
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.ARN)}, nil
}

// adoptSecret takes over a secret of the resource's name that exists already: created by
// a run that crashed before saving, or scheduled for deletion (a destroy by other means,
// or by hand), which is restored with its value, as creating the name again fails until
// the recovery window ends. Then it is brought in line like any found one.
func adoptSecret(ctx context.Context, in *Inputs, api secretAPI, r engine.Resource, d *secretsmanager.DescribeSecretOutput) (*state.Resource, error) {
	name := aws.ToString(d.Name)
	if d.DeletedDate != nil {
		if _, err := api.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: d.ARN}); err != nil {
			return nil, fmt.Errorf("restoring secret %s, which was scheduled for deletion: %w", name, err)
		}
		in.Progress("restored secret %s, which was scheduled for deletion; it keeps its stored value", name)
	}
	found, err := r.Find(ctx, nil, &state.Resource{ARN: aws.ToString(d.ARN)})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("secret %s disappeared while being adopted", name)
	}
	return r.Update(ctx, nil, found)
}

func readSecretCommand(in *Inputs, name string) string {
	return fmt.Sprintf("aws secretsmanager get-secret-value --secret-id %s --query SecretString --output text --region %s", name, in.Region)
}

func (r *adminSecret) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	for _, c := range found.Changes {
		switch c.Field {
		case "tags":
			if _, err := r.api.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: secretTags(r.in.tags(keySecretAdmin))}); err != nil {
				return nil, fmt.Errorf("tagging secret %s: %w", found.Record.ID, err)
			}
		case "value":
			cur, err := readAdminCreds(ctx, r.api, arn)
			if err != nil {
				return nil, err
			}
			want, _ := r.fromEnv(cur)
			if want == cur {
				continue
			}
			if want.User == "" {
				want.User = defaultAdminUser
			}
			if err := putAdminCreds(ctx, r.api, arn, want); err != nil {
				return nil, err
			}
			r.in.Progress("stored the admin credentials given in ADMIN_USER/ADMIN_PASS in secret %s; running tasks keep the old ones until the service rolls", found.Record.ID)
		}
	}
	rec := found.Record
	return &rec, nil
}

func putAdminCreds(ctx context.Context, api secretAPI, id string, c adminCreds) error {
	value, err := c.secretString()
	if err != nil {
		return err
	}
	if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)}); err != nil {
		return fmt.Errorf("storing a new value in secret %s: %w", id, err)
	}
	return nil
}

// Delete removes the secret at once, without the recovery window: destroy means the
// environment is gone, and a secret left scheduled for deletion would block the name
// for up to 30 days (a later `up` would have to restore it).
func (r *adminSecret) Delete(ctx context.Context, rec *state.Resource) error {
	return deleteSecretNow(ctx, r.api, rec)
}

func deleteSecretNow(ctx context.Context, api secretAPI, rec *state.Resource) error {
	id := rec.ARN
	if id == "" {
		id = rec.ID
	}
	_, err := api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(id), ForceDeleteWithoutRecovery: aws.Bool(true)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting secret %s: %w", id, err)
	}
	return nil
}

// RotateAdminPassword stores a new random admin password, keeping the stored user. The
// tasks read the secret when they start, so the caller rolls the service afterwards.
func RotateAdminPassword(ctx context.Context, in *Inputs, doc *state.Document) error {
	api := in.AWS.SecretsManager()
	id := adminSecretName(in)
	if rec := doc.Resources[keySecretAdmin]; rec != nil && rec.ARN != "" {
		id = rec.ARN
	}
	cur, err := readAdminCreds(ctx, api, id)
	if isNotFound(err) {
		return fmt.Errorf("secret %s does not exist: run `fvdeploy phase secrets` first", adminSecretName(in))
	}
	if err != nil {
		return err
	}
	if cur.User == "" {
		cur.User = defaultAdminUser
	}
	if cur.Pass, err = newPassword(); err != nil {
		return err
	}
	if err := putAdminCreds(ctx, api, id, cur); err != nil {
		return err
	}
	in.Progress("stored a new random admin password for user %q; fvdeploy never shows it. Read it with: %s", cur.User, readSecretCommand(in, adminSecretName(in)))
	return nil
}

// newPassword returns passwordLength characters drawn uniformly from letters and digits
// with crypto/rand (about 190 bits).
func newPassword() (string, error) {
	b := make([]byte, passwordLength)
	limit := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("generating a password: %w", err)
		}
		b[i] = passwordAlphabet[n.Int64()]
	}
	return string(b), nil
}

func secretTags(tags map[string]string) []smtypes.Tag {
	out := make([]smtypes.Tag, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, smtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}
