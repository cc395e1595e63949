package phases

import "fmt"

// ownershipTags are the tags that say which object of which environment something is;
// Name is only for people.
var ownershipTags = []string{"fvdeploy:app", "fvdeploy:env", "fvdeploy:key"}

// claim checks an object found by name alone (nothing in state records it) before
// fvdeploy adopts it: it must carry the ownership tags of key. A same-named object
// without them is someone else's, never adopted, changed or deleted: the run stops and
// names it.
func (in *Inputs) claim(what, name, key string, have map[string]string) error {
	want := in.tags(key)
	for _, k := range ownershipTags {
		if have[k] != want[k] {
			return fmt.Errorf("%s %s exists but fvdeploy did not create it as %s of %s (tag %s is %q, want %q): rename or delete it, "+
				"or, if it is the one fvdeploy created, tag it fvdeploy:app=%s, fvdeploy:env=%s, fvdeploy:key=%s to adopt it",
				what, name, key, in.prefix(), k, have[k], want[k], want["fvdeploy:app"], want["fvdeploy:env"], key)
		}
	}
	return nil
}
