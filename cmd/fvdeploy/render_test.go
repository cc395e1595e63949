package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func TestRenderResult(t *testing.T) {
	base := resultJSON{App: "shop", Env: "prod", Account: "123456789012", Region: "eu-west-1"}
	tests := map[string]struct {
		items   []engine.Item
		plan    bool
		verbose bool
		want    string
	}{
		"plan with every kind of change": {
			plan: true,
			items: []engine.Item{
				{Key: "network/vpc", Action: engine.NoOp},
				{Key: "network/sg-alb", Action: engine.Update, Changes: []engine.Change{{Field: "ingress", From: "80", To: "80,443"}}},
				{Key: "network/alb", Action: engine.Create},
				{Key: "cluster/taskdef", Action: engine.Replace},
				{Key: "edge/waf", Action: engine.Delete},
			},
			want: `shop-prod (account 123456789012, eu-west-1)
  ~   network/sg-alb                           update
        ingress: "80" -> "80,443"
  +   network/alb                              create
  -/+ cluster/taskdef                          replace
  -   edge/waf                                 delete
Plan: 1 to create, 1 to update, 1 to replace, 1 to delete; 1 unchanged.
`,
		},
		"converged": {
			items: []engine.Item{{Key: "network/vpc", Action: engine.NoOp}, {Key: "network/igw", Action: engine.NoOp}},
			want: `shop-prod (account 123456789012, eu-west-1)
No changes: 2 resources up to date.
`,
		},
		"apply with a failure and a skipped dependent": {
			items: []engine.Item{
				{Key: "network/subnet-a", Action: engine.Create, Err: errors.New("creating network/subnet-a: boom")},
				{Key: "network/alb", Action: engine.Skip},
			},
			want: `shop-prod (account 123456789012, eu-west-1)
  +   network/subnet-a                         create
        error: creating network/subnet-a: boom
  !   skipped in network: alb
0 created, 0 updated, 0 replaced, 0 deleted; 0 unchanged, 1 failed, 1 skipped.
`,
		},
		// The progress lines named each resource: the summary names those without
		// details once per action and phase, and details only what has them.
		"apply summary": {
			items: []engine.Item{
				{Key: "network/vpc", Action: engine.NoOp},
				{Key: "network/subnet-public-a", Action: engine.Create},
				{Key: "network/subnet-private-a", Action: engine.Create},
				{Key: "network/sg-alb", Action: engine.Update, Changes: []engine.Change{{Field: "ingress", From: "80", To: "80,443"}}},
				{Key: "network/subnet-public-b", Action: engine.Create},
				{Key: "network/subnet-private-b", Action: engine.Create},
				{Key: "network/route-table-private-a", Action: engine.Create},
				{Key: "network/route-table-private-b", Action: engine.Create},
				{Key: "secrets/admin", Action: engine.Create},
				{Key: "edge/waf", Action: engine.Delete},
			},
			want: `shop-prod (account 123456789012, eu-west-1)
  ~   network/sg-alb                           update
        ingress: "80" -> "80,443"
  +   created in network: subnet-public-a, subnet-private-a, subnet-public-b, subnet-private-b,
                          route-table-private-a, route-table-private-b
  +   created in secrets: admin
  -   deleted in edge: waf
7 created, 1 updated, 0 replaced, 1 deleted; 1 unchanged, 0 failed, 0 skipped.
`,
		},
		"verbose apply lists every resource": {
			verbose: true,
			items: []engine.Item{
				{Key: "network/vpc", Action: engine.NoOp},
				{Key: "network/alb", Action: engine.Create},
			},
			want: `shop-prod (account 123456789012, eu-west-1)
      network/vpc                              unchanged
  +   network/alb                              create
1 created, 0 updated, 0 replaced, 0 deleted; 1 unchanged, 0 failed, 0 skipped.
`,
		},
		"plan with a replace followed by a dependent, a failed lookup and a skipped dependent": {
			plan: true,
			items: []engine.Item{
				{Key: "network/nat-a", Action: engine.Replace, Changes: []engine.Change{{Field: "allocation_id", To: "eipalloc-1"}}},
				{Key: "network/rt-private-a", Action: engine.Update, Reason: "network/nat-a will be replaced"},
				{Key: "cluster/scalable-target", Action: engine.NoOp, Err: errors.New("finding cluster/scalable-target: AccessDenied")},
				{Key: "cluster/scaling-policy", Action: engine.Skip, Err: errors.New("skipped: waits for cluster/scalable-target, which failed")},
				{Key: "network/vpc", Action: engine.NoOp},
			},
			want: `shop-prod (account 123456789012, eu-west-1)
  -/+ network/nat-a                            replace
        allocation_id: "" -> "eipalloc-1"
  ~   network/rt-private-a                     update
        because network/nat-a will be replaced
  !   cluster/scalable-target                  failed
        error: finding cluster/scalable-target: AccessDenied
  !   cluster/scaling-policy                   skipped
Plan: 0 to create, 1 to update, 1 to replace, 0 to delete; 1 unchanged; 1 could not be checked, 1 skipped.
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Items = tc.items
			r.Changed = (&engine.Result{Items: tc.items}).Changed()
			var b strings.Builder
			renderResult(&b, r, tc.plan, tc.verbose)
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestResourceStatuses(t *testing.T) {
	doc := &state.Document{Resources: map[string]*state.Resource{
		"network/nat-a":           {ID: "nat-1"},
		"network/rt-private-a":    {ID: "rtb-1"},
		"network/subnet-a":        {ID: "subnet-1"},
		"cluster/scalable-target": {ID: "service/c/s"},
		"cluster/scaling-policy":  {ID: "c-cpu"},
		"old/bucket":              {ID: "b"},
	}}
	plan := &engine.Result{Items: []engine.Item{
		{Key: "network/nat-a", Action: engine.Replace, Changes: []engine.Change{{Field: "allocation_id", To: "eipalloc-1"}}},
		{Key: "network/rt-private-a", Action: engine.Update, Reason: "network/nat-a will be replaced"},
		{Key: "network/subnet-a", Action: engine.Create},
		{Key: "network/alb", Action: engine.Create},
		{Key: "cluster/scalable-target", Action: engine.NoOp, Err: errors.New("finding cluster/scalable-target: AccessDenied")},
		{Key: "cluster/scaling-policy", Action: engine.Skip, Err: errors.New("skipped: waits for cluster/scalable-target, which failed")},
		{Key: "old/bucket", Action: engine.Delete},
	}}
	want := map[string]string{
		"network/nat-a": "drifted", "network/rt-private-a": "will be updated", "network/subnet-a": "missing",
		"network/alb": "not deployed", "cluster/scalable-target": "unknown", "cluster/scaling-policy": "unknown",
		"old/bucket": "not declared",
	}
	got := resourceStatuses(doc, plan)
	for key, w := range want {
		if got[key].Status != w {
			t.Errorf("%s: %q, want %q", key, got[key].Status, w)
		}
	}
	if r := got["cluster/scaling-policy"]; r.Error == "" || r.ID != "c-cpu" {
		t.Errorf("a skipped resource keeps its ID and says why it is unknown: %+v", r)
	}

	var b strings.Builder
	renderStatus(&b, statusJSON{App: "shop", Env: "prod", Account: "123456789012", Region: "eu-west-1", State: ".fvdeploy/prod.json", Serial: 3, Resources: got})
	wantText := `shop-prod (account 123456789012, eu-west-1)
state: .fvdeploy/prod.json (serial 3)
6 resources:
  cluster/scalable-target                  unknown         service/c/s
        error: finding cluster/scalable-target: AccessDenied
  cluster/scaling-policy                   unknown         c-cpu
        error: skipped: waits for cluster/scalable-target, which failed
  network/nat-a                            drifted         nat-1
        allocation_id: "" -> "eipalloc-1"
  network/rt-private-a                     will be updated rtb-1
        because network/nat-a will be replaced
  network/subnet-a                         missing         subnet-1
  old/bucket                               not declared    b
declared but not deployed (` + "`fvdeploy up`" + ` creates them): network/alb
`
	if b.String() != wantText {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), wantText)
	}
}
