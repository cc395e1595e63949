// Package sweep finds orphans: objects that carry an environment's ownership tags but
// that its state does not record (a run that crashed between a create and its save),
// so that destroy deletes them too.
package sweep

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
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
}

func (o Orphan) String() string {
	return fmt.Sprintf("%s %s (%s %s)", o.Type, o.ID, engine.TagKey, o.Tag)
}

// candidate is an object a lister found, with the tags that say whose it is.
type candidate struct {
	typ  string // "" means the kind's type
	tags map[string]string
	rec  state.Resource
}

// sweepKind lists, by asking its service directly, one kind of object fvdeploy creates.
// The tagging API would be one call, but it misses EIPs, IAM, ECR, autoscaling and WAF.
type sweepKind struct {
	Typ  string
	what string // names the kind in errors: "listing <what> tagged app/env"
	list func(ctx context.Context, in *kit.Inputs) ([]candidate, error)
	// companionOf, when set, is the type of the object this kind is part of: one state
	// records under that type is not an orphan either.
	companionOf string
}

// Sweep finds what carries fvdeploy:app and fvdeploy:env of the environment (or, for the
// shared ECR repository, lists it in fvdeploy:envs) but doc does not record, in
// kind order. Each Record is shaped as its type's deleter expects.
func Sweep(ctx context.Context, in *kit.Inputs, doc *state.Document) ([]Orphan, error) {
	var out []Orphan
	for _, k := range Kinds {
		found, err := k.list(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing %s tagged %s/%s: %w", k.what, in.Config.App, in.Config.Env, err)
		}
		for _, c := range found {
			typ := cmp.Or(c.typ, k.Typ)
			if !kit.OwnedByEnv(in, c.tags) || recorded(doc, typ, c.rec) || k.companionOf != "" && recorded(doc, k.companionOf, c.rec) {
				continue
			}
			rec := c.rec
			rec.Type = typ
			tag := cmp.Or(c.tags[engine.TagKey], typ)
			out = append(out, Orphan{Key: tag + " (" + rec.ID + ")", Type: typ, ID: rec.ID, Tag: tag, Record: rec})
		}
	}
	return out, nil
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

// builtOn says, for the kinds that need it, what each kind is built on or uses, and so
// must outlive it: AWS refuses to delete a VPC that holds subnets, a subnet or Elastic IP
// a NAT gateway uses, a target group a listener uses, a cluster with services.
var builtOn = map[string][]string{
	"ec2:subnet":                              {"ec2:vpc"},
	"ec2:internet-gateway":                    {"ec2:vpc"},
	"ec2:security-group":                      {"ec2:vpc"},
	"ec2:security-group-rules":                {"ec2:security-group"},
	"ec2:route-table":                         {"ec2:vpc", "ec2:subnet", "ec2:internet-gateway"},
	"ec2:nat-gateway":                         {"ec2:subnet", "ec2:eip", "ec2:internet-gateway"},
	"ec2:network-acl":                         {"ec2:vpc", "ec2:subnet"},
	"ec2:flow-log":                            {"ec2:vpc", "logs:log-group", "iam:role"},
	"elbv2:target-group":                      {"ec2:vpc"},
	"elbv2:load-balancer":                     {"ec2:subnet", "ec2:security-group", "ec2:internet-gateway", "elbv2:target-group", "acm:certificate", "wafv2:web-acl"},
	"ecs:service":                             {"ecs:cluster", "ecs:task-definition", "elbv2:target-group", "ec2:subnet", "ec2:security-group", "iam:role"},
	"application-autoscaling:scalable-target": {"ecs:service"},
	"application-autoscaling:scaling-policy":  {"application-autoscaling:scalable-target"},
	"acm:certificate":                         {"route53:hosted-zone"},
	"wafv2:web-acl":                           {"s3:bucket"},
	"sns:topic":                               {"kms:key"},
	observability.TypeAlarm:                   {"sns:topic"},
	"cloudtrail:trail":                        {"s3:bucket"},
	"lambda:function":                         {"iam:role", "secretsmanager:webhook-secret", "logs:log-group"},
	"iam:role":                                {"iam:oidc-provider"},
	"events:rule":                             {"lambda:function"},
	"secretsmanager:rotation":                 {"lambda:function", "secretsmanager:secret"},
}

// Underneath lists every kind typ is built on, directly or not.
func Underneath(typ string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(t string) {
		for _, u := range builtOn[t] {
			if !out[u] {
				out[u] = true
				walk(u)
			}
		}
	}
	walk(typ)
	return out
}

// AddOrphans puts the orphans in doc, so that the engine's Destroy deletes them with the
// recorded objects, in dependency order, and state keeps those it could not delete for
// the next run. Each orphan depends on every object, recorded or not, of a kind it is
// built on (an orphan subnet goes before the recorded VPC, an orphan NAT gateway before
// the subnets and Elastic IPs); a failure then holds back only those. Recorded objects
// keep their recorded dependencies: what state records was built on recorded objects.
func AddOrphans(doc *state.Document, orphans []Orphan) {
	for _, o := range orphans {
		rec := o.Record
		doc.Resources[o.Key] = &rec
	}
	for _, o := range orphans {
		under := Underneath(o.Type)
		rec := doc.Resources[o.Key]
		for _, key := range slices.Sorted(maps.Keys(doc.Resources)) {
			if under[doc.Resources[key].Type] {
				rec.DependsOn = append(rec.DependsOn, key)
			}
		}
	}
}
