package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

func TestRenderResult(t *testing.T) {
	base := resultJSON{App: "shop", Env: "prod", Account: "123456789012", Region: "eu-west-1"}
	tests := map[string]struct {
		items []engine.Item
		plan  bool
		want  string
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
  !   network/alb                              skipped
0 created, 0 updated, 0 replaced, 0 deleted; 0 unchanged, 1 failed, 1 skipped.
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Items = tc.items
			r.Changed = (&engine.Result{Items: tc.items}).Changed()
			var b strings.Builder
			renderResult(&b, r, tc.plan)
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}
