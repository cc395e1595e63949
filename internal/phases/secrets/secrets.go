// Package secrets declares the secrets phase: the admin credentials in Secrets Manager,
// under a resource policy, and the references the task definition reads them by.
package secrets

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

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Phase says what the secrets phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "secrets", Summary: "the admin credentials in Secrets Manager", Resources: declareSecrets, EveryKind: secretsResources}
}

// declareSecrets is the secrets phase: the admin credentials the service checks (and the
// values service.secrets keeps beside them), kept in Secrets Manager and handed to the
// tasks by ECS, never written anywhere else; and the existing secrets service.secrets
// names, found so that the tasks and the execution role can name their ARNs.
func declareSecrets(in *kit.Inputs) ([]engine.Resource, error) {
	api := in.AWS.SecretsManager()
	out := []engine.Resource{&adminSecret{in: in, api: api}}
	for _, id := range kit.NamedSecrets(in) {
		out = append(out, &secretRef{in: in, api: api, id: id})
	}
	return out, nil
}

// secretsResources has a resource of each type the phase can declare, for deleting.
func secretsResources(in *kit.Inputs) []engine.Resource {
	return []engine.Resource{&secretRef{in: in}}
}

const (

	// AttrPreviousKey in the secret's record says the stored value is known to carry
	// envAdminPassPrevious, so that a plain `up` need not read the value to know it.
	AttrPreviousKey = "previous_key"

	defaultAdminUser = "admin"
)

// adminSecret is the secret <app>-<env>-admin holding {"ADMIN_USER": .., "ADMIN_PASS": ..},
// and the keys of service.secrets that name no secret, each from the deployer's variable
// of the key's name.
// Its value is read only to compare it with values the user gave explicitly; state holds
// its name and ARN, nothing more.
type adminSecret struct {
	in  *kit.Inputs
	api kinds.SecretAPI
}

func (r *adminSecret) Key() string         { return kit.KeySecretAdmin }
func (r *adminSecret) Type() string        { return "secretsmanager:secret" }
func (r *adminSecret) DependsOn() []string { return nil }

// AdminCreds is the secret's value. It has no String method on purpose, and nothing
// formats it: the only place it goes is the SecretString of an API call.
type AdminCreds struct {
	User, Pass string
	// Previous is the password being rotated out ("" outside a rotation); HasPrevious
	// says the stored value has the key at all.
	Previous    string
	HasPrevious bool
	// Extra are the other keys, service.secrets' values among them.
	Extra map[string]string
}

func (c AdminCreds) secretString() (string, error) {
	m := maps.Clone(c.Extra)
	if m == nil {
		m = map[string]string{}
	}
	m[kit.EnvAdminUser], m[kit.EnvAdminPass], m[kit.EnvAdminPassPrevious] = c.User, c.Pass, c.Previous
	b, err := json.Marshal(m)
	if err != nil {
		return "", errors.New("encoding the admin credentials failed") // never wrap: it could quote the value
	}
	return string(b), nil
}

// parseAdminCreds reads a stored value; what is not a JSON object of strings reads as
// empty credentials, which then differ from anything wanted.
func parseAdminCreds(s string) AdminCreds {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return AdminCreds{}
	}
	var c AdminCreds
	for k, v := range m {
		str, _ := v.(string)
		switch k {
		case kit.EnvAdminUser:
			c.User = str
		case kit.EnvAdminPass:
			c.Pass = str
		case kit.EnvAdminPassPrevious:
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

func (c AdminCreds) Equal(o AdminCreds) bool {
	return c.User == o.User && c.Pass == o.Pass && c.Previous == o.Previous && c.HasPrevious == o.HasPrevious && maps.Equal(c.Extra, o.Extra)
}

// storedKeys are the keys of the admin secret that service.secrets reads and up stores
// from the deployer's variables of the same names, sorted.
func storedKeys(in *kit.Inputs) []string {
	var keys []string
	for _, ref := range in.Config.Service.Secrets {
		if ref.Secret == "" && ref.Key != kit.EnvAdminUser && ref.Key != kit.EnvAdminPass && ref.Key != kit.EnvAdminPassPrevious && !slices.Contains(keys, ref.Key) {
			keys = append(keys, ref.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

// fromVars names the variables the admin secret's value comes from.
func fromVars(in *kit.Inputs) string {
	return strings.Join(append([]string{kit.EnvAdminUser, kit.EnvAdminPass}, storedKeys(in)...), "/")
}

// fromEnv overlays the values given in ADMIN_USER / ADMIN_PASS and the stored keys'
// variables on c.
func (r *adminSecret) fromEnv(c AdminCreds) (AdminCreds, bool) {
	user, pass := r.in.Getenv(kit.EnvAdminUser), r.in.Getenv(kit.EnvAdminPass)
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
func (r *adminSecret) missingKey(c AdminCreds) error {
	for _, k := range storedKeys(r.in) {
		if _, ok := c.Extra[k]; !ok {
			return fmt.Errorf("secret %s has no %s, which service.secrets reads: set %s in the environment of up to store it", kit.AdminSecretName(r.in), k, k)
		}
	}
	return nil
}

func (r *adminSecret) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	d, err := r.describe(ctx, rec)
	if err != nil || d == nil {
		return nil, err
	}
	found, err := kinds.FoundSecret(r.in, kit.KeySecretAdmin, d, rec)
	if err != nil || found == nil {
		return nil, err
	}
	change, err := kinds.SecretPolicyDrift(ctx, r.api, found.Record.ARN, kinds.SecretPolicy(r.in, kinds.AdminSecretAccess(r.in)))
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
	known := rec != nil && rec.Attrs[AttrPreviousKey] == "true"
	if _, given := r.fromEnv(AdminCreds{}); given || len(storedKeys(r.in)) > 0 || !known {
		cur, err := ReadAdminCreds(ctx, r.api, found.Record.ARN)
		if err != nil {
			return nil, err
		}
		want, _ := r.fromEnv(cur)
		if err := r.missingKey(want); err != nil {
			return nil, err
		}
		known = cur.HasPrevious
		if !want.Equal(cur) {
			to := "(sensitive, from " + fromVars(r.in) + ")"
			if want.Equal(withPreviousKey(cur)) {
				to = "(sensitive, adds " + kit.EnvAdminPassPrevious + ")"
			}
			found.Changes = append(found.Changes, engine.Change{Field: "value", From: kinds.SensitiveFrom, To: to})
		}
	}
	if known {
		found.Record.Attrs = map[string]string{AttrPreviousKey: "true"}
	}
	return found, nil
}

// withPreviousKey is c with the rollover key, empty unless c had a value in it.
func withPreviousKey(c AdminCreds) AdminCreds {
	c.HasPrevious = true
	return c
}

// describe finds the secret by its recorded ARN, else by its name (unique per account
// and region, so no tag lookup is needed). nil means it does not exist at all.
func (r *adminSecret) describe(ctx context.Context, rec *state.Resource) (*secretsmanager.DescribeSecretOutput, error) {
	return kinds.DescribeSecret(ctx, r.api, kit.AdminSecretName(r.in), rec)
}

// ReadAdminCreds reads the stored credentials. A value that is not the expected JSON
// reads as empty credentials, which then differ from anything wanted.
func ReadAdminCreds(ctx context.Context, api kinds.SecretAPI, id string) (AdminCreds, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return AdminCreds{}, fmt.Errorf("reading the value of secret %s: %w%s", id, err, kinds.DeniedBySecretPolicy(err))
	}
	return parseAdminCreds(aws.ToString(out.SecretString)), nil
}

func (r *adminSecret) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := kit.AdminSecretName(r.in)
	d, err := r.describe(ctx, nil)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return kinds.AdoptSecret(ctx, r.in, r.api, r, d)
	}
	creds, _ := r.fromEnv(AdminCreds{User: defaultAdminUser})
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
		Tags:               kit.SecretTags(r.in.Tags(kit.KeySecretAdmin)),
		ClientRequestToken: aws.String(r.in.ClientToken(kit.KeySecretAdmin)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating secret %s: %w", name, err)
	}
	// A failure here leaves the secret without its policy: the next run finds it by
	// name and sets the policy as drift.
	if err := kinds.PutSecretPolicy(ctx, r.api, aws.ToString(out.ARN), kinds.SecretPolicy(r.in, kinds.AdminSecretAccess(r.in))); err != nil {
		return nil, err
	}
	if generated {
		r.in.Progress("generated a random admin password (user %q); fvdeploy never shows it. Read it with: %s", creds.User, rotation.ReadCommand(name, r.in.Region))
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.ARN), Attrs: map[string]string{AttrPreviousKey: "true"}}, nil
}

func (r *adminSecret) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	for _, c := range found.Changes {
		switch c.Field {
		case "tags":
			if _, err := r.api.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: kit.SecretTags(r.in.Tags(kit.KeySecretAdmin))}); err != nil {
				return nil, fmt.Errorf("tagging secret %s: %w", found.Record.ID, err)
			}
		case kinds.FieldResourcePolicy:
			if err := kinds.PutSecretPolicy(ctx, r.api, arn, c.To); err != nil {
				return nil, err
			}
		case "value":
			cur, err := ReadAdminCreds(ctx, r.api, arn)
			if err != nil {
				return nil, err
			}
			want, _ := r.fromEnv(cur)
			if err := r.missingKey(want); err != nil {
				return nil, err
			}
			if want.Equal(cur) {
				continue
			}
			if want.User == "" {
				want.User = defaultAdminUser
			}
			if err := putAdminCreds(ctx, r.api, arn, want); err != nil {
				return nil, err
			}
			if want.Equal(withPreviousKey(cur)) {
				r.in.Progress("added an empty %s to secret %s (the rotation rollover's key); the stored credentials are unchanged", kit.EnvAdminPassPrevious, found.Record.ID)
			} else {
				r.in.Progress("stored the values given in %s in secret %s; running tasks keep the old ones until the service rolls", fromVars(r.in), found.Record.ID)
			}
		}
	}
	rec := found.Record
	rec.Attrs = map[string]string{AttrPreviousKey: "true"}
	return &rec, nil
}

func putAdminCreds(ctx context.Context, api kinds.SecretAPI, id string, c AdminCreds) error {
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
	return kinds.DeleteSecretNow(ctx, r.api, rec)
}

// AdminSecretName is the secret that holds the service's admin credentials.
func AdminSecretName(cfg *config.Config) string { return kit.AdminSecretName(&kit.Inputs{Config: cfg}) }
