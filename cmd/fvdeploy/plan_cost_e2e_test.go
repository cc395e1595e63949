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
// the second NAT gateway and its address (and so no traffic across AZs to reach one), the
// second task, the longer log retention, prod's Container Insights and prod's web ACL (on
// the ALB with or without a domain), and by nothing else.
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
		for _, w := range []string{"Estimated monthly cost of fastapi-vars-" + env, "prices as of " + cost.PricesAsOf, "Assumes 730 h a month",
			"GB out to the internet", "target-tracking alarms"} {
			if !strings.Contains(text, w) {
				t.Errorf("plan --env %s lacks %q:\n%s", env, w, text)
			}
		}
	}
	var differ []string
	items := maps.Clone(costs["prod"])
	maps.Copy(items, costs["dev"])
	for _, k := range slices.Sorted(maps.Keys(items)) {
		prod, inProd := costs["prod"][k]
		dev, inDev := costs["dev"][k]
		if prod != dev || inProd != inDev {
			differ = append(differ, k)
		}
	}
	want := []string{"CloudWatch Logs storage", "Container Insights logs", "Container Insights metrics", "Fargate memory", "Fargate vCPU",
		"NAT cross-AZ traffic", "NAT gateways", "VPC flow logs ingestion", "VPC flow logs storage", "WAF requests", "WAF web ACL and rules", "public IPv4 addresses"}
	if !slices.Equal(differ, want) {
		t.Errorf("dev and prod costs differ in %v, want %v", differ, want)
	}
}
