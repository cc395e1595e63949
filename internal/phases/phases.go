package phases

import (
	"fmt"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/cicd"
	"github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/secrets"
)

// All lists the phases in the order `up` runs them.
func All() []kit.Phase {
	return []kit.Phase{image.Phase(), network.Phase(), secrets.Phase(), cluster.Phase(), edge.Phase(), observability.Phase(), cicd.Phase()}
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
func Lookup(name string) (kit.Phase, error) {
	for _, p := range All() {
		if p.Name == name {
			return p, nil
		}
	}
	return kit.Phase{}, &UnknownPhaseError{Name: name}
}

// Deleters remove, by resource type, objects that state holds but no phase declares any
// more (a feature switched off, a phase skipped), and everything at destroy. A resource's
// Delete needs only its state record, so any declared resource of a type serves.
func Deleters(in *kit.Inputs) (map[string]engine.Deleter, error) { return kit.DeletersOf(in, All()) }
