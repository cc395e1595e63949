package kit

import (
	"fmt"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// Phase is one step of a deployment: a package under internal/phases says what it is.
type Phase struct {
	Name    string
	Summary string
	// Resources returns the phase's resources for the config.
	Resources func(in *Inputs) ([]engine.Resource, error)
	// EveryKind, when set, returns a resource of every type the phase can declare under
	// any config, so that what an earlier config created (a domain since removed) can
	// still be deleted when the current one declares nothing of that type.
	EveryKind func(in *Inputs) []engine.Resource
}

// Declare returns the phase's resources.
func (p Phase) Declare(in *Inputs) ([]engine.Resource, error) {
	resources, err := p.Resources(in)
	if err != nil {
		return nil, fmt.Errorf("declaring phase %s: %w", p.Name, err)
	}
	return resources, nil
}

// DeletersOf are the deleters of the given phases' resource types.
func DeletersOf(in *Inputs, phases []Phase) (map[string]engine.Deleter, error) {
	out := map[string]engine.Deleter{}
	for _, p := range phases {
		resources, err := p.Declare(in)
		if err != nil {
			return nil, err
		}
		if p.EveryKind != nil {
			resources = append(p.EveryKind(in), resources...)
		}
		for _, r := range resources {
			out[r.Type()] = r
		}
	}
	return out, nil
}
