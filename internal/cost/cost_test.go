package cost

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/config"
)

func estimate(t *testing.T, env string, edit func(*config.Config)) *Estimate {
	t.Helper()
	cfg, err := config.Defaults(env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Edge.Domain = "api.example.com"
	if edit != nil {
		edit(cfg)
	}
	e, err := Of(cfg, "us-east-1", DefaultAssumptions)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func byItem(e *Estimate) map[string]float64 {
	out := map[string]float64{}
	for _, l := range e.Lines {
		out[l.Item] = l.Monthly
	}
	return out
}

// diffByItem is b - a per item, over the items of both, leaving out what is equal.
func diffByItem(a, b map[string]float64) map[string]float64 {
	diff := map[string]float64{}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			diff[k] = -a[k]
		}
	}
	for k, v := range b {
		if d := math.Round((v-a[k])*100) / 100; d != 0 {
			diff[k] = d
		}
	}
	return diff
}

// checkTotal fails unless the total is the sum of the lines, to the cent.
func checkTotal(t *testing.T, e *Estimate) {
	t.Helper()
	var sum float64
	for _, l := range e.Lines {
		sum += l.Monthly
	}
	if e.Total != math.Round(sum*100)/100 {
		t.Errorf("total %.2f, lines add up to %.2f", e.Total, sum)
	}
}

// The arithmetic, line by line, against the us-east-1 table and the default
// assumptions (730 h a month), for dev: 1 NAT, 1 task of 0.25 vCPU / 0.5 GB, no WAF,
// logs kept 7 days, 7 alarms and autoscaling's 2, one NAT the other AZ reaches across AZs.
func TestDevEstimateArithmetic(t *testing.T) {
	got := byItem(estimate(t, "dev", nil))
	want := map[string]float64{
		"NAT gateways":              32.85, // 1 × 730 × 0.045
		"NAT data processing":       0.45,  // 10 GB × 0.045
		"NAT cross-AZ traffic":      0.10,  // half of 10 GB × 2 directions × 0.01
		"public IPv4 addresses":     10.95, // (1 NAT + 2 ALB) × 730 × 0.005
		"ALB":                       16.43, // 730 × 0.0225 = 16.425
		"ALB capacity units":        5.84,  // 1 × 730 × 0.008
		"Fargate vCPU":              7.39,  // 1 × 0.25 × 730 × 0.04048 = 7.3876
		"Fargate memory":            1.62,  // 1 × 0.5 × 730 × 0.004445 = 1.6224
		"data transfer out":         0.90,  // 10 GB × 0.09
		"Route 53 hosted zone":      0.50,
		"Secrets Manager":           0.40,
		"CloudWatch alarms":         0.70, // 7 × 0.10
		"target-tracking alarms":    0.20, // 2 × 0.10
		"KMS key (environment)":     1.00,
		"CloudWatch Logs ingestion": 0.50,
		"CloudWatch Logs storage":   0.01, // 1 GB × 7/30 × 0.03 = 0.007
		"ECR image storage":         0.10,
	}
	if !maps.Equal(got, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				t.Errorf("%s: got %.2f, want %.2f", k, got[k], want[k])
			}
		}
		t.Fatalf("lines %v", got)
	}
	var sum float64
	for _, v := range want {
		sum += v
	}
	if e := estimate(t, "dev", nil); e.Total != math.Round(sum*100)/100 || e.PricesAsOf != PricesAsOf {
		t.Errorf("total %.2f, want %.2f", e.Total, sum)
	}
}

// dev and prod differ by exactly what the environments model: a NAT gateway (and its
// address) per AZ, so no traffic across AZs to reach one, twice the tasks, WAF, 30 days
// of logs instead of 7, Container Insights and VPC flow logs.
func TestDevAndProdDifferByTheModelledItems(t *testing.T) {
	dev, prod := byItem(estimate(t, "dev", nil)), byItem(estimate(t, "prod", nil))
	diff := diffByItem(dev, prod)
	want := map[string]float64{
		"NAT gateways":               32.85, // one more NAT
		"NAT cross-AZ traffic":       -0.10, // each AZ has its own
		"public IPv4 addresses":      3.65,  // its Elastic IP
		"Fargate vCPU":               7.39,  // a second task
		"Fargate memory":             1.62,
		"WAF web ACL and rules":      9.00, // 5 + 4 rules × 1
		"WAF requests":               0.60,
		"CloudWatch Logs storage":    0.02, // 0.03 (30 days) - 0.01 (7 days)
		"Container Insights metrics": 7.80, // (8 + 6 + 2 × 6) × 0.30
		"Container Insights logs":    0.10, // 2 × 0.1 GB × 0.50
		"VPC flow logs ingestion":    0.50, // 1 GB × 0.50
		"VPC flow logs storage":      0.03, // 1 GB × 30/30 × 0.03
	}
	if !maps.Equal(diff, want) {
		t.Errorf("prod - dev by item:\n got %v\nwant %v", diff, want)
	}
	if _, inDev := dev["WAF web ACL and rules"]; inDev {
		t.Error("dev has WAF off, yet its estimate prices it")
	}
}

// Without a domain there is no zone to pay for; the web ACL guards the ALB all the same.
func TestNoDomainNoZone(t *testing.T) {
	got := byItem(estimate(t, "prod", func(c *config.Config) { c.Edge.Domain = "" }))
	if _, ok := got["Route 53 hosted zone"]; ok {
		t.Error("a hosted zone priced without a domain")
	}
	if got["WAF web ACL and rules"] == 0 {
		t.Error("prod's web ACL is on the ALB without a domain too, yet not priced")
	}
}

// Each option changes what it costs, and nothing else; the total stays the sum of the
// lines, and what a new line assumes is said.
func TestOptionalFeatures(t *testing.T) {
	tests := map[string]struct {
		env     string
		change  func(c *config.Config)
		want    map[string]float64
		assumed string // in the assumptions printed with it
	}{
		"waf logs": {"prod", func(c *config.Config) { c.Edge.WAFLogs = true }, map[string]float64{
			"WAF logs delivered to S3": 0.25, // 1 GB
			"WAF log storage":          0.07, // 3 GB kept 90 days × 0.023
		}, "1.0 GB of WAF logs"},
		"flow logs in dev": {"dev", func(c *config.Config) { c.Network.FlowLogs = true }, map[string]float64{
			"VPC flow logs ingestion": 0.50, // 1 GB × 0.50
			"VPC flow logs storage":   0.01, // 1 GB × 7/30 × 0.03 = 0.007
		}, "1.0 GB of VPC flow logs"},
		"flow logs off in prod": {"prod", func(c *config.Config) { c.Network.FlowLogs = false }, map[string]float64{
			"VPC flow logs ingestion": -0.50,
			"VPC flow logs storage":   -0.03,
		}, ""},
		"chat relay": {"prod", func(c *config.Config) { c.Alarms.ChatRelay = true }, map[string]float64{"Secrets Manager": 0.40}, ""},
		"tracing":    {"prod", func(c *config.Config) { c.Observability.Tracing = true }, map[string]float64{"X-Ray traces": 5}, ""},
		"guardrails": {"prod", func(c *config.Config) { c.Observability.Guardrails = true }, map[string]float64{"AWS Config items (account-wide)": 3}, "1000 Config items"},
		"cloudtrail": {"prod", func(c *config.Config) { c.Observability.CloudTrail = true }, map[string]float64{
			"CloudTrail management events": 2.00, // an additional copy: 100,000 events × 2.00 / 100,000
			"CloudTrail log storage":       0.01, // 0.02 GB × 12 months × 0.023
		}, "the trail is an additional copy of management events (another trail takes the free one), 100000 events"},
		"container insights in dev": {"dev", func(c *config.Config) { c.Observability.ContainerInsights = true }, map[string]float64{
			"Container Insights metrics": 6.00, // (8 + 6 + 1 task × 6) × 0.30
			"Container Insights logs":    0.05, // 1 task × 0.1 GB × 0.50
		}, "Container Insights: 8 metrics a cluster, 6 a service, 6 a task, 0.10 GB of performance events a task"},
		"container insights off in prod": {"prod", func(c *config.Config) { c.Observability.ContainerInsights = false }, map[string]float64{
			"Container Insights metrics": -7.80,
			"Container Insights logs":    -0.10,
		}, ""},
		"insights scale with the tasks": {"prod", func(c *config.Config) { c.Service.Desired = 4 }, map[string]float64{
			"Fargate vCPU":               14.77, // 29.55 - 14.78, each rounded to the cent
			"Fargate memory":             3.25,  // 6.49 - 3.24
			"Container Insights metrics": 3.60,  // 2 more tasks × 6 metrics × 0.30
			"Container Insights logs":    0.10,
		}, ""},
		"arm64 in prod": {"prod", func(c *config.Config) { c.Image.Platform = "linux/arm64" }, map[string]float64{
			"Fargate vCPU":         -14.78, // 2 × 0.25 × 730 × 0.04048
			"Fargate memory":       -3.24,  // 2 × 0.5 × 730 × 0.004445
			"Fargate vCPU (Arm)":   11.82,  // 2 × 0.25 × 730 × 0.03238
			"Fargate memory (Arm)": 2.60,   // 2 × 0.5 × 730 × 0.00356
		}, ""},
		"arm64 in dev": {"dev", func(c *config.Config) { c.Image.Platform = "linux/arm64" }, map[string]float64{
			"Fargate vCPU": -7.39, "Fargate memory": -1.62, "Fargate vCPU (Arm)": 5.91, "Fargate memory (Arm)": 1.30,
		}, ""},
		"one NAT over three AZs": {"dev", func(c *config.Config) { c.Network.AZCount = 3 }, map[string]float64{
			"NAT cross-AZ traffic":  0.03, // 2/3 of 10 GB × 2 × 0.01 = 0.1333 vs 0.10
			"public IPv4 addresses": 3.65, // the ALB's node in the third AZ
		}, "67% of it from the AZs without a NAT"},
		"one NAT in prod": {"prod", func(c *config.Config) { c.Network.NAT = config.NATSingle }, map[string]float64{
			"NAT gateways":          -32.85,
			"public IPv4 addresses": -3.65,
			"NAT cross-AZ traffic":  0.10,
		}, "50% of it from the AZs without a NAT"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			base := estimate(t, tt.env, nil)
			e := estimate(t, tt.env, tt.change)
			if diff := diffByItem(byItem(base), byItem(e)); !maps.Equal(diff, tt.want) {
				t.Errorf("changed %v, want %v", diff, tt.want)
			}
			checkTotal(t, e)
			assumed := strings.Join(e.Assumed, ", ")
			if !strings.Contains(assumed, tt.assumed) {
				t.Errorf("assumes %q, want it to say %q", assumed, tt.assumed)
			}
			if tt.assumed != "" && strings.Contains(strings.Join(base.Assumed, ", "), tt.assumed) {
				t.Errorf("says %q without the option", tt.assumed)
			}
		})
	}
}

// Per environment, which of the lines that depend on it appear, the total is the sum of
// the lines, and the assumptions begin with the month's hours and say the rest.
func TestLinesPerEnvironment(t *testing.T) {
	tests := map[string]struct {
		with, without []string
	}{
		"dev":  {[]string{"NAT cross-AZ traffic", "data transfer out", "target-tracking alarms"}, []string{"Container Insights metrics", "Container Insights logs", "WAF requests", "CloudTrail management events"}},
		"hml":  {[]string{"NAT cross-AZ traffic", "data transfer out", "target-tracking alarms", "WAF requests"}, []string{"Container Insights metrics", "Container Insights logs", "CloudTrail management events"}},
		"prod": {[]string{"data transfer out", "target-tracking alarms", "WAF requests", "Container Insights metrics", "Container Insights logs"}, []string{"NAT cross-AZ traffic", "CloudTrail management events"}},
	}
	for env, tt := range tests {
		t.Run(env, func(t *testing.T) {
			e := estimate(t, env, nil)
			got := byItem(e)
			for _, item := range tt.with {
				if got[item] <= 0 {
					t.Errorf("%s not priced: %v", item, got)
				}
			}
			for _, item := range tt.without {
				if _, ok := got[item]; ok {
					t.Errorf("%s priced, yet %s has it off", item, env)
				}
			}
			checkTotal(t, e)
			assumed := strings.Join(e.Assumed, ", ")
			for _, w := range []string{"730 h a month", "10 GB through NAT", "10 GB out to the internet"} {
				if !strings.HasPrefix(assumed, "730 h a month") || !strings.Contains(assumed, w) {
					t.Errorf("assumptions %q lack %q", assumed, w)
				}
			}
		})
	}
}

func TestUnknownRegionSaysSo(t *testing.T) {
	cfg, _ := config.Defaults("dev")
	var np *ErrNoPrices
	if _, err := Of(cfg, "ap-south-2", DefaultAssumptions); !errors.As(err, &np) {
		t.Errorf("got %v, want ErrNoPrices", err)
	}
}
