package cost

import (
	"errors"
	"maps"
	"math"
	"slices"
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

// The arithmetic, line by line, against the us-east-1 table and the default
// assumptions (730 h a month), for dev: 1 NAT, 1 task of 0.25 vCPU / 0.5 GB, no WAF,
// logs kept 7 days, 7 alarms.
func TestDevEstimateArithmetic(t *testing.T) {
	got := byItem(estimate(t, "dev", nil))
	want := map[string]float64{
		"NAT gateways":              32.85, // 1 × 730 × 0.045
		"NAT data processing":       0.45,  // 10 GB × 0.045
		"public IPv4 addresses":     10.95, // (1 NAT + 2 ALB) × 730 × 0.005
		"ALB":                       16.43, // 730 × 0.0225 = 16.425
		"ALB capacity units":        5.84,  // 1 × 730 × 0.008
		"Fargate vCPU":              7.39,  // 1 × 0.25 × 730 × 0.04048 = 7.3876
		"Fargate memory":            1.62,  // 1 × 0.5 × 730 × 0.004445 = 1.6224
		"Route 53 hosted zone":      0.50,
		"Secrets Manager":           0.40,
		"CloudWatch alarms":         0.70, // 7 × 0.10
		"KMS key (alarm topic)":     1.00,
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
// address) per AZ, twice the tasks, WAF, and 30 days of logs instead of 7.
func TestDevAndProdDifferByTheModelledItems(t *testing.T) {
	dev, prod := byItem(estimate(t, "dev", nil)), byItem(estimate(t, "prod", nil))
	diff := map[string]float64{}
	for _, k := range slices.Sorted(maps.Keys(prod)) {
		if d := math.Round((prod[k]-dev[k])*100) / 100; d != 0 {
			diff[k] = d
		}
	}
	want := map[string]float64{
		"NAT gateways":            32.85, // one more NAT
		"public IPv4 addresses":   3.65,  // its Elastic IP
		"Fargate vCPU":            7.39,  // a second task
		"Fargate memory":          1.62,
		"WAF web ACL and rules":   9.00, // 5 + 4 rules × 1
		"WAF requests":            0.60,
		"CloudWatch Logs storage": 0.02, // 0.03 (30 days) - 0.01 (7 days)
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

// Each optional feature adds what it costs, and nothing else changes.
func TestOptionalFeatures(t *testing.T) {
	tests := map[string]struct {
		change func(c *config.Config)
		want   map[string]float64
	}{
		"waf logs": {func(c *config.Config) { c.Edge.WAFLogs = true }, map[string]float64{
			"WAF logs delivered to S3": 0.25, // 1 GB
			"WAF log storage":          0.07, // 3 GB kept 90 days × 0.023
		}},
		"chat relay": {func(c *config.Config) { c.Alarms.ChatRelay = true }, map[string]float64{"Secrets Manager": 0.40}},
		"tracing":    {func(c *config.Config) { c.Observability.Tracing = true }, map[string]float64{"X-Ray traces": 5}},
		"guardrails": {func(c *config.Config) { c.Observability.Guardrails = true }, map[string]float64{"AWS Config items (account-wide)": 3}},
	}
	base := byItem(estimate(t, "prod", nil))
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := byItem(estimate(t, "prod", tt.change))
			diff := map[string]float64{}
			for k, v := range got {
				if d := math.Round((v-base[k])*100) / 100; d != 0 {
					diff[k] = d
				}
			}
			if !maps.Equal(diff, tt.want) {
				t.Errorf("added %v, want %v", diff, tt.want)
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
