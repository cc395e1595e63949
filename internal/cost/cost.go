// Package cost estimates what an environment costs a month as configured: the unit
// prices (prices.go) times the quantities the config declares, plus a few stated
// assumptions about traffic that no config can know.
package cost

import (
	"fmt"
	"math"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// Assumptions are the traffic-dependent quantities; plan prints them with the estimate.
type Assumptions struct {
	HoursPerMonth    float64 `json:"hours_per_month"`
	NATGBPerMonth    float64 `json:"nat_gb_per_month"`  // egress through the NAT gateways, all together
	ALBAverageLCUs   float64 `json:"alb_average_lcus"`  // load balancer capacity units in use on average
	RequestsMillions float64 `json:"requests_millions"` // requests a month, inspected by WAF
	LogGBPerMonth    float64 `json:"log_gb_per_month"`  // access and app logs ingested
	ImageGB          float64 `json:"image_gb"`          // image storage in ECR
	// The optional features': WAF request logs delivered to S3, and the configuration
	// items AWS Config records in the whole account and region (guardrails).
	WAFLogGBPerMonth    float64 `json:"waf_log_gb_per_month"`
	ConfigItemsPerMonth float64 `json:"config_items_per_month"`
}

// DefaultAssumptions model a small service with light traffic.
var DefaultAssumptions = Assumptions{
	HoursPerMonth: 730, NATGBPerMonth: 10, ALBAverageLCUs: 1, RequestsMillions: 1, LogGBPerMonth: 1, ImageGB: 1,
	WAFLogGBPerMonth: 1, ConfigItemsPerMonth: 1000,
}

// Line is one priced item.
type Line struct {
	Item     string  `json:"item"`
	Quantity string  `json:"quantity"`
	Monthly  float64 `json:"monthly_usd"`
}

// Estimate is the monthly cost of one environment.
type Estimate struct {
	Region      string      `json:"region"`
	PricesAsOf  string      `json:"prices_as_of"`
	Assumptions Assumptions `json:"assumptions"`
	Lines       []Line      `json:"lines"`
	Total       float64     `json:"total_monthly_usd"`
}

// ErrNoPrices means the table has no prices for the region.
type ErrNoPrices struct{ Region string }

func (e *ErrNoPrices) Error() string {
	return fmt.Sprintf("no prices for region %s in fvdeploy's table (dated %s): add them to internal/cost/prices.go", e.Region, PricesAsOf)
}

func cents(v float64) float64 { return math.Round(v*100) / 100 }

// Of estimates cfg's monthly cost in region (the one the credentials resolved, which
// cfg.Region may leave to the environment) under the assumptions.
func Of(cfg *config.Config, region string, as Assumptions) (*Estimate, error) {
	p, ok := prices[region]
	if !ok {
		return nil, &ErrNoPrices{Region: region}
	}
	e := &Estimate{Region: region, PricesAsOf: PricesAsOf, Assumptions: as}
	add := func(item, qty string, monthly float64) {
		e.Lines = append(e.Lines, Line{Item: item, Quantity: qty, Monthly: cents(monthly)})
	}
	h := as.HoursPerMonth
	nats := 1
	if cfg.Network.NAT == config.NATPerAZ {
		nats = cfg.Network.AZCount
	}
	add("NAT gateways", fmt.Sprintf("%d × %.0f h", nats, h), float64(nats)*h*p.NATHour)
	add("NAT data processing", fmt.Sprintf("%.0f GB", as.NATGBPerMonth), as.NATGBPerMonth*p.NATPerGB)
	// Every NAT gateway holds an Elastic IP; the internet-facing ALB one address per AZ.
	ips := nats + cfg.Network.AZCount
	add("public IPv4 addresses", fmt.Sprintf("%d × %.0f h", ips, h), float64(ips)*h*p.PublicIPv4Hour)
	add("ALB", fmt.Sprintf("1 × %.0f h", h), h*p.ALBHour)
	add("ALB capacity units", fmt.Sprintf("%.1f LCU × %.0f h", as.ALBAverageLCUs, h), as.ALBAverageLCUs*h*p.LCUHour)
	vcpu, gb := float64(cfg.Service.CPU)/1024, float64(cfg.Service.Memory)/1024
	tasks := cfg.Service.Desired
	add("Fargate vCPU", fmt.Sprintf("%d task(s) × %.2f vCPU × %.0f h", tasks, vcpu, h), float64(tasks)*vcpu*h*p.FargateVCPUHour)
	add("Fargate memory", fmt.Sprintf("%d task(s) × %.2f GB × %.0f h", tasks, gb, h), float64(tasks)*gb*h*p.FargateGBHour)
	if cfg.Edge.WAF {
		rules := phases.WAFRuleCount(cfg)
		add("WAF web ACL and rules", fmt.Sprintf("1 ACL + %d rules", rules), p.WAFACLMonth+float64(rules)*p.WAFRuleMonth)
		add("WAF requests", fmt.Sprintf("%.1f M requests", as.RequestsMillions), as.RequestsMillions*p.WAFPerMillion)
		if cfg.Edge.WAFLogs {
			add("WAF logs delivered to S3", fmt.Sprintf("%.1f GB", as.WAFLogGBPerMonth), as.WAFLogGBPerMonth*p.VendedLogsPerGB)
			kept := as.WAFLogGBPerMonth * float64(cfg.Edge.WAFLogExpiryDays) / 30
			add("WAF log storage", fmt.Sprintf("%.2f GB (%d days kept)", kept, cfg.Edge.WAFLogExpiryDays), kept*p.S3StorePerGB)
		}
	}
	if cfg.Edge.Domain != "" && cfg.Edge.ZoneID == "" {
		add("Route 53 hosted zone", "1 zone", p.HostedZoneMonth)
	}
	if cfg.Alarms.ChatRelay {
		// The webhook's secret; the relay's invocations, a few per alarm, are within
		// Lambda's free tier.
		add("Secrets Manager", "2 secrets", 2*p.SecretMonth)
	} else {
		add("Secrets Manager", "1 secret", p.SecretMonth)
	}
	if cfg.Observability.Tracing {
		// The collector shares the task's CPU and memory: only the traces cost more.
		add("X-Ray traces", fmt.Sprintf("%.1f M traces", as.RequestsMillions), as.RequestsMillions*p.XRayPerMillion)
	}
	if cfg.Observability.Guardrails {
		// Access Analyzer's account analyzer is free; Config bills every recorded item.
		add("AWS Config items (account-wide)", fmt.Sprintf("%.0f items", as.ConfigItemsPerMonth), as.ConfigItemsPerMonth*p.ConfigItem)
	}
	alarms := phases.AlarmCount(cfg)
	add("CloudWatch alarms", fmt.Sprintf("%d alarms", alarms), float64(alarms)*p.AlarmMonth)
	if cfg.Observability.KMSKeyID == "" {
		add("KMS key (alarm topic)", "1 key", p.KMSKeyMonth)
	}
	add("CloudWatch Logs ingestion", fmt.Sprintf("%.1f GB", as.LogGBPerMonth), as.LogGBPerMonth*p.LogsIngestPerGB)
	// In steady state the group holds retention_days of ingestion.
	stored := as.LogGBPerMonth * float64(cfg.Logs.RetentionDays) / 30
	add("CloudWatch Logs storage", fmt.Sprintf("%.2f GB (%d days kept)", stored, cfg.Logs.RetentionDays), stored*p.LogsStorePerGB)
	add("ECR image storage", fmt.Sprintf("%.1f GB", as.ImageGB), as.ImageGB*p.ECRStorePerGB)
	for _, l := range e.Lines {
		e.Total += l.Monthly
	}
	e.Total = cents(e.Total)
	return e, nil
}
