package kit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// ownershipTags are the tags that say which object of which environment something is;
// Name is only for people.
var ownershipTags = []string{engine.TagApp, engine.TagEnv, engine.TagKey}

// foreignTag is the first ownership tag on which have differs from what the object of
// key carries, or "" when have makes the object this environment's key: the one "is it
// ours" check.
func (in *Inputs) foreignTag(key string, have map[string]string) string {
	want := in.Tags(key)
	for _, k := range ownershipTags {
		if have[k] != want[k] {
			return k
		}
	}
	return ""
}

// Owns reports whether tags have make an object this environment's key.
func (in *Inputs) Owns(key string, have map[string]string) bool {
	return in.foreignTag(key, have) == ""
}

// Claim checks an object found by name alone (rec, state's record of it, is nil) before
// fvdeploy adopts it: it must carry the ownership tags of key. A same-named object
// without them is someone else's, never adopted, changed or deleted: the run stops and
// names it. An object state records is fvdeploy's already.
func (in *Inputs) Claim(rec *state.Resource, what, name, key string, have map[string]string) error {
	if rec != nil {
		return nil
	}
	k := in.foreignTag(key, have)
	if k == "" {
		return nil
	}
	want := in.Tags(key)
	return fmt.Errorf("%s %s exists but fvdeploy did not create it as %s of %s (tag %s is %q, want %q): rename or delete it, "+
		"or, if it is the one fvdeploy created, tag it %s=%s, %s=%s, %s=%s to adopt it",
		what, name, key, in.Prefix(), k, have[k], want[k], engine.TagApp, want[engine.TagApp], engine.TagEnv, want[engine.TagEnv], engine.TagKey, key)
}

// OwnedByEnv reports whether tags make an object the environment's, whichever resource
// it is (the sweep's question): its app and its environment, or, for an object that
// environments share, its list of them.
func OwnedByEnv(in *Inputs, tags map[string]string) bool {
	if tags[engine.TagApp] != in.Config.App {
		return false
	}
	return tags[engine.TagEnv] == in.Config.Env || slices.Contains(strings.Fields(tags[engine.TagEnvs]), in.Config.Env)
}
