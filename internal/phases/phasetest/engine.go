package phasetest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// ScopedEngine is the engine `fvdeploy phase` uses: it prunes only what the named
// phases own, so the stand-in network records in state are left alone.
func ScopedEngine(t *testing.T, in *kit.Inputs, names ...string) *engine.Engine {
	t.Helper()
	e := NewEngine(t, in)
	e.Scope = func(key string) bool {
		phase, _, _ := strings.Cut(key, "/")
		return slices.Contains(names, phase)
	}
	return e
}

// ApplyScoped is applyPhases with the engine of `fvdeploy phase`.
func ApplyScoped(t *testing.T, in *kit.Inputs, doc *state.Document, names ...string) *engine.Result {
	t.Helper()
	res, err := ScopedEngine(t, in, names...).Apply(context.Background(), Declared(t, in, names...), doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("apply %v: %v", names, err)
	}
	return res
}

func PlanPhases(t *testing.T, in *kit.Inputs, doc *state.Document, names ...string) *engine.Result {
	t.Helper()
	res, err := ScopedEngine(t, in, names...).Plan(context.Background(), Declared(t, in, names...), doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("plan %v: %v", names, err)
	}
	return res
}

func Item(res *engine.Result, key string) engine.Item {
	for _, it := range res.Items {
		if it.Key == key {
			return it
		}
	}
	return engine.Item{}
}

// DestroyExpecting destroys everything but the stand-in records and returns the error
// of the walk (nil when all went).
func DestroyExpecting(t *testing.T, in *kit.Inputs, doc *state.Document, fakes []string) error {
	t.Helper()
	for _, k := range fakes {
		delete(doc.Resources, k)
	}
	res, err := NewEngine(t, in).Destroy(context.Background(), nil, doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res.Err()
}
