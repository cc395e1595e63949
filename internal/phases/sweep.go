package phases

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Orphan is an object carrying the environment's ownership tags that state does not
// record: created by a run whose answer was lost, or by one whose state was lost.
type Orphan struct {
	// Key is the key destroy deletes it under: its fvdeploy:key tag and its ID, unique
	// even when a retried create left two objects with the same tags.
	Key  string `json:"key"`
	Type string `json:"type"`
	ID   string `json:"id"`
	// Tag is its fvdeploy:key tag: the resource it was created as.
	Tag    string         `json:"fvdeploy_key"`
	Record state.Resource `json:"-"`
	level  int
}

func (o Orphan) String() string { return fmt.Sprintf("%s %s (fvdeploy:key %s)", o.Type, o.ID, o.Tag) }

// candidate is an object a lister found, with the tags that say whose it is.
type candidate struct {
	typ  string // "" means the kind's type
	tags map[string]string
	rec  state.Resource
}

// sweepKind lists, by asking its service directly, one kind of object fvdeploy creates.
// The tagging API would be one call, but it misses EIPs, IAM, ECR, autoscaling and WAF.
type sweepKind struct {
	typ  string
	what string // names the kind in errors: "listing <what> tagged app/env"
	// level is the kind's place in creation order: an orphan is deleted before every
	// object of a lower level and after every orphan of a higher one.
	level int
	list  func(ctx context.Context, in *Inputs) ([]candidate, error)
}

// Sweep finds what carries fvdeploy:app and fvdeploy:env of the environment (or, for the
// shared ECR repository, lists it in fvdeploy:envs) but doc does not record, in
// creation order. Each Record is shaped as its type's deleter expects.
func Sweep(ctx context.Context, in *Inputs, doc *state.Document) ([]Orphan, error) {
	var out []Orphan
	for _, k := range sweepKinds {
		found, err := k.list(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing %s tagged %s/%s: %w", k.what, in.Config.App, in.Config.Env, err)
		}
		for _, c := range found {
			typ := cmp.Or(c.typ, k.typ)
			if !ownedByEnv(in, c.tags) || recorded(doc, typ, c.rec) {
				continue
			}
			rec := c.rec
			rec.Type = typ
			tag := cmp.Or(c.tags["fvdeploy:key"], typ)
			out = append(out, Orphan{Key: tag + " (" + rec.ID + ")", Type: typ, ID: rec.ID, Tag: tag, Record: rec, level: k.level})
		}
	}
	return out, nil
}

// ownedByEnv reports whether tags make an object the environment's.
func ownedByEnv(in *Inputs, tags map[string]string) bool {
	if tags["fvdeploy:app"] != in.Config.App {
		return false
	}
	return tags["fvdeploy:env"] == in.Config.Env || slices.Contains(strings.Fields(tags[tagEnvs]), in.Config.Env)
}

// recorded reports whether doc holds the object: by ARN when both sides have one (an ID
// such as a service name is unique only within its parent), else by ID.
func recorded(doc *state.Document, typ string, rec state.Resource) bool {
	for _, r := range doc.Resources {
		if r.Type != typ {
			continue
		}
		if r.ARN != "" && rec.ARN != "" {
			if r.ARN == rec.ARN {
				return true
			}
		} else if r.ID == rec.ID {
			return true
		}
	}
	return false
}

// AddOrphans puts the orphans in doc, so that the engine's Destroy deletes them with the
// recorded objects, in dependency order, and state keeps those it could not delete for
// the next run. Each orphan depends on every object, recorded or not, of a kind created
// before its own (an orphan subnet goes before the recorded VPC, an orphan NAT gateway
// before the subnets and Elastic IPs). Recorded objects keep their recorded
// dependencies: what state records was built on recorded objects, not on orphans.
func AddOrphans(doc *state.Document, orphans []Orphan) {
	levels := map[string]int{}
	for _, k := range sweepKinds {
		levels[k.typ] = k.level
	}
	orphanLevel := map[string]int{}
	for _, o := range orphans {
		rec := o.Record
		doc.Resources[o.Key] = &rec
		orphanLevel[o.Key] = o.level
	}
	for _, o := range orphans {
		rec := doc.Resources[o.Key]
		for _, key := range slices.Sorted(maps.Keys(doc.Resources)) {
			level, isOrphan := orphanLevel[key]
			if !isOrphan {
				var known bool
				if level, known = levels[doc.Resources[key].Type]; !known {
					continue
				}
			}
			if level < o.level {
				rec.DependsOn = append(rec.DependsOn, key)
			}
		}
	}
}
