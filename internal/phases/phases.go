// Package phases declares the resources of each deployment phase, in dependency order.
// A phase reads like the architecture it builds; the engine decides what to call.
package phases

import (
	"fmt"
	"strings"

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

// All lists the phases in the order `up` runs them.
func All() []Phase {
	return []Phase{imagePhase(), networkPhase(), secretsPhase(), clusterPhase(), edgePhase(), observabilityPhase(), cicdPhase()}
}

// Names lists the phase names in order.
func Names() []string {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
	}
	return names
}

// UnknownPhaseError is bad input: a phase name that does not exist.
type UnknownPhaseError struct{ Name string }

func (e *UnknownPhaseError) Error() string {
	return fmt.Sprintf("unknown phase %q (want one of %s)", e.Name, strings.Join(Names(), ", "))
}

// Lookup finds a phase by name.
func Lookup(name string) (Phase, error) {
	for _, p := range All() {
		if p.Name == name {
			return p, nil
		}
	}
	return Phase{}, &UnknownPhaseError{Name: name}
}

// Declare returns the phase's resources.
func (p Phase) Declare(in *Inputs) ([]engine.Resource, error) {
	resources, err := p.Resources(in)
	if err != nil {
		return nil, fmt.Errorf("declaring phase %s: %w", p.Name, err)
	}
	return resources, nil
}

// Deleters remove, by resource type, objects that state holds but no phase declares any
// more (a feature switched off, a phase skipped), and everything at destroy. A resource's
// Delete needs only its state record, so any declared resource of a type serves.
func Deleters(in *Inputs) (map[string]engine.Deleter, error) { return deletersOf(in, All()) }

// deletersOf are the deleters of the given phases' resource types.
func deletersOf(in *Inputs, phases []Phase) (map[string]engine.Deleter, error) {
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
