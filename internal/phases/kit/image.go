package kit

import (
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
)

// ResolvedImage is the run's image decision with, for a build, the URI the image phase pushed
// once it has run in this walk (none yet in a plan before it).
func (in *Inputs) ResolvedImage(deps engine.Deps) imagechoice.Decision {
	d := in.Image
	if b := deps.Get(KeyImageBuild); d.Builds() && b != nil {
		d.URI = b.Attrs["uri"]
	}
	return d
}

// ImageDeps are the dependencies of what runs the image: the image phase's push, when
// that phase runs in the same walk.
func ImageDeps(in *Inputs) []string {
	if in.Image.Builds() {
		return []string{KeyImageBuild}
	}
	return nil
}
