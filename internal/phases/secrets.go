package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// secretsPhase says what the secrets phase is.
func secretsPhase() Phase {
	return Phase{Name: "secrets", Summary: "the admin credentials in Secrets Manager", Resources: declareSecrets, EveryKind: secretsResources}
}

// declareSecrets is the secrets phase: the admin credentials the service checks (and the
// values service.secrets keeps beside them), kept in Secrets Manager and handed to the
// tasks by ECS, never written anywhere else; and the existing secrets service.secrets
// names, found so that the tasks and the execution role can name their ARNs.
func declareSecrets(in *Inputs) ([]engine.Resource, error) {
	api := in.AWS.SecretsManager()
	out := []engine.Resource{&adminSecret{in: in, api: api}}
	for _, id := range namedSecrets(in) {
		out = append(out, &secretRef{in: in, api: api, id: id})
	}
	return out, nil
}

// secretsResources has a resource of each type the phase can declare, for deleting.
func secretsResources(in *Inputs) []engine.Resource {
	return []engine.Resource{&secretRef{in: in}}
}

type secretAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	RestoreSecret(ctx context.Context, in *secretsmanager.RestoreSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	secretPolicyAPI
}

const (
	keySecretAdmin = "secrets/admin"

	envAdminUser = "ADMIN_USER"
	envAdminPass = "ADMIN_PASS"
	// envAdminPassPrevious is the password a rotation replaces, which the service still
	// accepts until every task runs the new one; "" outside a rotation. The secret always
	// carries the key: ECS refuses to start a task whose valueFrom names a missing one.
	envAdminPassPrevious = "ADMIN_PASS_PREVIOUS"

	// attrPreviousKey in the secret's record says the stored value is known to carry
	// envAdminPassPrevious, so that a plain `up` need not read the value to know it.
	attrPreviousKey = "previous_key"

	defaultAdminUser = "admin"

	// The words plan shows for a value change: never the value itself.
	sensitiveFrom = "(sensitive)"
)

// adminSecret is the secret <app>-<env>-admin holding {"ADMIN_USER": .., "ADMIN_PASS": ..},
// and the keys of service.secrets that name no secret, each from the deployer's variable
// of the key's name.
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
	User, Pass string
	// Previous is the password being rotated out ("" outside a rotation); HasPrevious
	// says the stored value has the key at all.
	Previous    string
	HasPrevious bool
	// Extra are the other keys, service.secrets' values among them.
	Extra map[string]string
}

func (c adminCreds) secretString() (string, error) {
	m := maps.Clone(c.Extra)
	if m == nil {
		m = map[string]string{}
	}
	m[envAdminUser], m[envAdminPass], m[envAdminPassPrevious] = c.User, c.Pass, c.Previous
	b, err := json.Marshal(m)
	if err != nil {
		return "", errors.New("encoding the admin credentials failed") // never wrap: it could quote the value
	}
	return string(b), nil
}

// parseAdminCreds reads a stored value; what is not a JSON object of strings reads as
// empty credentials, which then differ from anything wanted.
func parseAdminCreds(s string) adminCreds {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return adminCreds{}
	}
	var c adminCreds
	for k, v := range m {
		str, _ := v.(string)
		switch k {
		case envAdminUser:
			c.User = str
		case envAdminPass:
			c.Pass = str
		case envAdminPassPrevious:
			c.Previous, c.HasPrevious = str, true
		default:
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra[k] = str
		}
	}
	return c
}

func (c adminCreds) equal(o adminCreds) bool {
	return c.User == o.User && c.Pass == o.Pass && c.Previous == o.Previous && c.HasPrevious == o.HasPrevious && maps.Equal(c.Extra, o.Extra)
}

// storedKeys are the keys of the admin secret that service.secrets reads and up stores
// from the deployer's variables of the same names, sorted.
func storedKeys(in *Inputs) []string {
	var keys []string
	for _, ref := range in.Config.Service.Secrets {
		if ref.Secret == "" && ref.Key != envAdminUser && ref.Key != envAdminPass && ref.Key != envAdminPassPrevious && !slices.Contains(keys, ref.Key) {
			keys = append(keys, ref.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

// fromVars names the variables the admin secret's value comes from.
func fromVars(in *Inputs) string {
	return strings.Join(append([]string{envAdminUser, envAdminPass}, storedKeys(in)...), "/")
}

// fromEnv overlays the values given in ADMIN_USER / ADMIN_PASS and the stored keys'
// variables on c.
func (r *adminSecret) fromEnv(c adminCreds) (adminCreds, bool) {
	user, pass := r.in.Getenv(envAdminUser), r.in.Getenv(envAdminPass)
	given := user != "" || pass != ""
	// The key is always wanted; a value in it (a rotation under way) is kept.
	c.HasPrevious = true
	if user != "" {
		c.User = user
	}
	if pass != "" {
		c.Pass = pass
	}
	c.Extra = maps.Clone(c.Extra)
	for _, k := range storedKeys(r.in) {
		if v := r.in.Getenv(k); v != "" {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra[k], given = v, true
		}
	}
	return c, given
}

// missingKey is an error when a stored key has no value, given or stored: the tasks
// could not start without it.
func (r *adminSecret) missingKey(c adminCreds) error {
	for _, k := range storedKeys(r.in) {
		if _, ok := c.Extra[k]; !ok {
			return fmt.Errorf("secret %s has no %s, which service.secrets reads: set %s in the environment of up to store it", adminSecretName(r.in), k, k)
		}
	}
	return nil
}

func (r *adminSecret) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	d, err := r.describe(ctx, rec)
	if err != nil || d == nil {
		return nil, err
	}
	found, err := foundSecret(r.in, keySecretAdmin, d, rec)
	if err != nil || found == nil {
		return nil, err
	}
	change, err := secretPolicyDrift(ctx, r.api, found.Record.ARN, secretPolicy(r.in, adminSecretAccess(r.in)))
	if err != nil {
		return nil, err
	}
	if change != nil {
		found.Changes = append(found.Changes, *change)
	}
	// The stored value is read only when the user gave values to compare it with,
	// service.secrets needs keys in it, or it is not known to carry ADMIN_PASS_PREVIOUS
	// yet: a plain `up` of a converged environment never touches, or even reads, the
	// credentials.
	known := rec != nil && rec.Attrs[attrPreviousKey] == "true"
	if _, given := r.fromEnv(adminCreds{}); given || len(storedKeys(r.in)) > 0 || !known {
		cur, err := readAdminCreds(ctx, r.api, found.Record.ARN)
		if err != nil {
			return nil, err
		}
		want, _ := r.fromEnv(cur)
		if err := r.missingKey(want); err != nil {
			return nil, err
		}
		known = cur.HasPrevious
		if !want.equal(cur) {
			to := "(sensitive, from " + fromVars(r.in) + ")"
			if want.equal(withPreviousKey(cur)) {
				to = "(sensitive, adds " + envAdminPassPrevious + ")"
			}
			found.Changes = append(found.Changes, engine.Change{Field: "value", From: sensitiveFrom, To: to})
		}
	}
	if known {
		found.Record.Attrs = map[string]string{attrPreviousKey: "true"}
	}
	return found, nil
}

// withPreviousKey is c with the rollover key, empty unless c had a value in it.
func withPreviousKey(c adminCreds) adminCreds {
	c.HasPrevious = true
	return c
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
// foundSecret is the secret of key as described, nil when it is scheduled for deletion.
// Found by name alone (rec is nil), it must carry key's ownership tags.
func foundSecret(in *Inputs, key string, d *secretsmanager.DescribeSecretOutput, rec *state.Resource) (*engine.Found, error) {
	if d.DeletedDate != nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(d.Name), ARN: aws.ToString(d.ARN)}}
	have := tagMap(d.Tags, func(t smtypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := in.claim(rec, "secret", found.Record.ID, key, have); err != nil {
		return nil, err
	}
	if from, to, drift := tagDrift(in.tags(key), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

// readAdminCreds reads the stored credentials. A value that is not the expected JSON
// reads as empty credentials, which then differ from anything wanted.
func readAdminCreds(ctx context.Context, api secretAPI, id string) (adminCreds, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return adminCreds{}, fmt.Errorf("reading the value of secret %s: %w%s", id, err, DeniedBySecretPolicy(err))
	}
	return parseAdminCreds(aws.ToString(out.SecretString)), nil
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
	if err := r.missingKey(creds); err != nil {
		return nil, err
	}
	generated := false
	if creds.Pass == "" {
		if creds.Pass, err = rotation.NewPassword(); err != nil {
			return nil, err
		}
		generated = true
	}
	value, err := creds.secretString()
	if err != nil {
		return nil, err
	}
	out, err := r.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		Description:        aws.String(fmt.Sprintf("Admin credentials of %s (%s), managed by fvdeploy", r.in.Config.App, r.in.Config.Env)),
		SecretString:       aws.String(value),
		Tags:               secretTags(r.in.tags(keySecretAdmin)),
		ClientRequestToken: aws.String(r.in.clientToken(keySecretAdmin)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	// A failure here leaves the secret without its policy: the next run finds it by
	// name and sets the policy as drift.
	if err := putSecretPolicy(ctx, r.api, aws.ToString(out.ARN), secretPolicy(r.in, adminSecretAccess(r.in))); err != nil {
		return nil, err
	}
	if generated {
		r.in.Progress("generated a random admin password (user %q); fvdeploy never shows it. Read it with: %s", creds.User, rotation.ReadCommand(name, r.in.Region))
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.ARN), Attrs: map[string]string{attrPreviousKey: "true"}}, nil
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

func (r *adminSecret) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	for _, c := range found.Changes {
		switch c.Field {
		case "tags":
			if _, err := r.api.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: secretTags(r.in.tags(keySecretAdmin))}); err != nil {
				return nil, fmt.Errorf("tagging secret %s: %w", found.Record.ID, err)
			}
		case fieldResourcePolicy:
			if err := putSecretPolicy(ctx, r.api, arn, c.To); err != nil {
				return nil, err
			}
		case "value":
			cur, err := readAdminCreds(ctx, r.api, arn)
			if err != nil {
				return nil, err
			}
			want, _ := r.fromEnv(cur)
			if err := r.missingKey(want); err != nil {
				return nil, err
			}
			if want.equal(cur) {
				continue
			}
			if want.User == "" {
				want.User = defaultAdminUser
			}
			if err := putAdminCreds(ctx, r.api, arn, want); err != nil {
				return nil, err
			}
			if want.equal(withPreviousKey(cur)) {
				r.in.Progress("added an empty %s to secret %s (the rotation rollover's key); the stored credentials are unchanged", envAdminPassPrevious, found.Record.ID)
			} else {
				r.in.Progress("stored the values given in %s in secret %s; running tasks keep the old ones until the service rolls", fromVars(r.in), found.Record.ID)
			}
		}
	}
	rec := found.Record
	rec.Attrs = map[string]string{attrPreviousKey: "true"}
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

// AdminSecretName is the secret that holds the service's admin credentials.
func AdminSecretName(cfg *config.Config) string { return adminSecretName(&Inputs{Config: cfg}) }

func secretTags(tags map[string]string) []smtypes.Tag {
	return tagList(tags, func(k, v *string) smtypes.Tag { return smtypes.Tag{Key: k, Value: v} })
}
