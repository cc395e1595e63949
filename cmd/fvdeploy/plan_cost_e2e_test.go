package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/cost"
)

// plan prints the monthly cost of the environment as configured; dev and prod differ by
// the second NAT gateway and its address, the second task, the longer log retention and
// prod's web ACL (on the ALB with or without a domain), and by nothing else.
func TestPlanShowsTheMonthlyCost(t *testing.T) {
	c := newCLI(t)
	costs := map[string]map[string]float64{}
	for _, env := range []string{"dev", "prod"} {
		res := mustRun(t, c, "plan", "--env", env, "--output", "json")
		var r struct{ Cost *cost.Estimate }
		if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil || r.Cost == nil {
			t.Fatalf("plan --env %s --output json: no cost (%v):\n%s", env, err, res.Stdout)
		}
		costs[env] = map[string]float64{}
		for _, l := range r.Cost.Lines {
			costs[env][l.Item] = l.Monthly
		}
		text := mustRun(t, c, "plan", "--env", env).Stdout
		for _, w := range []string{"Estimated monthly cost of fastapi-vars-" + env, "prices as of " + cost.PricesAsOf, "Assumes 730 h a month"} {
			if !strings.Contains(text, w) {
				t.Errorf("plan --env %s lacks %q:\n%s", env, w, text)
			}
		}
	}
	var differ []string
	for _, k := range slices.Sorted(maps.Keys(costs["prod"])) {
		if costs["prod"][k] != costs["dev"][k] {
			differ = append(differ, k)
		}
	}
	want := []string{"CloudWatch Logs storage", "Fargate memory", "Fargate vCPU", "NAT gateways", "WAF requests", "WAF web ACL and rules", "public IPv4 addresses"}
	if !slices.Equal(differ, want) {
		t.Errorf("dev and prod costs differ in %v, want %v", differ, want)
	}
}
