// Package engine reconciles declared resources with what exists in AWS: it orders them
// by their dependencies, finds, diffs, creates, updates and deletes them with bounded
// concurrency, and saves state after every change so that a crash loses nothing.
package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Resource is one AWS object fvdeploy owns, under a stable logical key such as
// "network/vpc". Phases implement it; the engine decides when each method runs.
type Resource interface {
	Key() string
	// Type names the kind of AWS object ("ec2:vpc"); destroy uses it to find a Deleter
	// for objects in state that the current config no longer declares.
	Type() string
	DependsOn() []string
	// Find locates the live object: by the record from state when there is one, else by
	// its tags (first run, lost state, a crash between create and save). It returns nil
	// when nothing exists, otherwise what was found and how it differs from the desired
	// object. Deps hold the records of the resources it depends on; in a plan, a
	// dependency that does not exist yet is nil, and Find then reports "not found", while
	// one that will be replaced is still the object it replaces.
	Find(ctx context.Context, deps Deps, rec *state.Resource) (*Found, error)
	Create(ctx context.Context, deps Deps) (*state.Resource, error)
	// Update brings found in line with the desired object in place.
	Update(ctx context.Context, deps Deps, found *Found) (*state.Resource, error)
	Deleter
}

// Deleter removes an object given only its state record, tolerating "already gone".
type Deleter interface {
	Delete(ctx context.Context, rec *state.Resource) error
}

// Found is a live object and its drift from the desired one.
type Found struct {
	Record  state.Resource
	Changes []Change
	// Replace means the changes cannot be made in place: the object is deleted and
	// created again.
	Replace bool
	// Extras are other objects carrying this resource's ownership tags: duplicates that
	// a lost answer left. The engine deletes them, with the resource's Delete, and says so.
	Extras []state.Resource
}

// Change is one field that differs between the live and the desired object.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

func (c Change) String() string { return fmt.Sprintf("%s: %q -> %q", c.Field, c.From, c.To) }

// Deps gives a resource the state records of what it depends on.
type Deps interface {
	// Get returns the record of a declared dependency, or nil when it does not exist yet.
	Get(key string) *state.Resource
}

// Action is what the engine does, or would do, to one resource.
type Action string

// The actions, in the words plan shows.
const (
	NoOp    Action = "no-op"
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
	Skip    Action = "skipped"
)

// The ownership tag keys: which app and environment an object belongs to, and which of
// its resources it is. They are the only place these names are spelled.
const (
	TagApp = "fvdeploy:app"
	TagEnv = "fvdeploy:env"
	TagKey = "fvdeploy:key"
	// TagEnvs lists, space-separated, the other environments that share an object made by
	// one of them (the image repository), so that each finds it as its own.
	TagEnvs = "fvdeploy:envs"
)

// Tags are the tags on everything fvdeploy creates; they make a repeated or crashed run
// find its own objects instead of duplicating them.
func Tags(app, env, key string) map[string]string {
	return map[string]string{
		TagApp: app,
		TagEnv: env,
		TagKey: key,
		"Name": app + "-" + env + "-" + strings.ReplaceAll(key, "/", "-"),
	}
}
