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
	// Out to the internet: the service's responses and what the tasks send out.
	DataOutGBPerMonth float64 `json:"data_out_gb_per_month"`
	// Container Insights' performance log events, per running task.
	InsightsGBPerTask float64 `json:"insights_gb_per_task_month"`
	// CloudTrail: the account's management events in all regions (the trail is
	// multi-region), and the compressed log files they make.
	TrailEventsPerMonth float64 `json:"trail_events_per_month"`
	TrailLogGBPerMonth  float64 `json:"trail_log_gb_per_month"`
	// VPC flow log records delivered to CloudWatch Logs (network.flow_logs).
	FlowLogGBPerMonth float64 `json:"flow_log_gb_per_month"`
}

// DefaultAssumptions model a small service with light traffic.
var DefaultAssumptions = Assumptions{
	HoursPerMonth: 730, NATGBPerMonth: 10, ALBAverageLCUs: 1, RequestsMillions: 1, LogGBPerMonth: 1, ImageGB: 1,
	WAFLogGBPerMonth: 1, ConfigItemsPerMonth: 1000,
	DataOutGBPerMonth: 10, InsightsGBPerTask: 0.1, TrailEventsPerMonth: 100000, TrailLogGBPerMonth: 0.02,
	FlowLogGBPerMonth: 1,
}

// Container Insights (standard) bills its metrics as custom metrics: so many per cluster,
// per service and per task, modelled on AWS's published pricing example for ECS.
const (
	insightsMetricsPerCluster = 8
	insightsMetricsPerService = 6
	insightsMetricsPerTask    = 6
)

// targetTrackingAlarms are the alarms Application Auto Scaling creates for the CPU
// target-tracking policy: one to scale out, one to scale in.
const targetTrackingAlarms = 2

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
	// Assumed says in words what the estimate assumes, the assumptions its lines use.
	Assumed []string `json:"assumed"`
	Lines   []Line   `json:"lines"`
	Total   float64  `json:"total_monthly_usd"`
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
	assume := func(format string, args ...any) { e.Assumed = append(e.Assumed, fmt.Sprintf(format, args...)) }
	h := as.HoursPerMonth
	assume("%.0f h a month", h)
	nats := 1
	if cfg.Network.NAT == config.NATPerAZ {
		nats = cfg.Network.AZCount
	}
	add("NAT gateways", fmt.Sprintf("%d × %.0f h", nats, h), float64(nats)*h*p.NATHour)
	add("NAT data processing", fmt.Sprintf("%.0f GB", as.NATGBPerMonth), as.NATGBPerMonth*p.NATPerGB)
	assume("%.0f GB through NAT", as.NATGBPerMonth)
	if away := cfg.Network.AZCount - nats; away > 0 {
		// One NAT for all AZs: the private subnets of the others reach it across AZs,
		// billed leaving one AZ and again entering the other.
		share := float64(away) / float64(cfg.Network.AZCount)
		gb := as.NATGBPerMonth * share
		add("NAT cross-AZ traffic", fmt.Sprintf("%.1f GB each way (%d of %d AZs)", gb, away, cfg.Network.AZCount), 2*gb*p.CrossAZPerGB)
		assume("%.0f%% of it from the AZs without a NAT (tasks spread evenly)", share*100)
	}
	// Every NAT gateway holds an Elastic IP; the internet-facing ALB one address per AZ.
	ips := nats + cfg.Network.AZCount
	add("public IPv4 addresses", fmt.Sprintf("%d × %.0f h", ips, h), float64(ips)*h*p.PublicIPv4Hour)
	if cfg.Network.FlowLogs {
		// Vended logs into CloudWatch Logs cost what ingestion does in the first 10 TB,
		// and are kept with the environment's retention.
		add("VPC flow logs ingestion", fmt.Sprintf("%.1f GB", as.FlowLogGBPerMonth), as.FlowLogGBPerMonth*p.LogsIngestPerGB)
		kept := as.FlowLogGBPerMonth * float64(cfg.Logs.RetentionDays) / 30
		add("VPC flow logs storage", fmt.Sprintf("%.2f GB (%d days kept)", kept, cfg.Logs.RetentionDays), kept*p.LogsStorePerGB)
		assume("%.1f GB of VPC flow logs", as.FlowLogGBPerMonth)
	}
	add("ALB", fmt.Sprintf("1 × %.0f h", h), h*p.ALBHour)
	add("ALB capacity units", fmt.Sprintf("%.1f LCU × %.0f h", as.ALBAverageLCUs, h), as.ALBAverageLCUs*h*p.LCUHour)
	assume("%.1f ALB LCU on average", as.ALBAverageLCUs)
	assume("%.1f M requests", as.RequestsMillions)
	vcpu, gb := float64(cfg.Service.CPU)/1024, float64(cfg.Service.Memory)/1024
	tasks := cfg.Service.Desired
	arch, vcpuHour, gbHour := "", p.FargateVCPUHour, p.FargateGBHour
	if cfg.Image.Platform == "linux/arm64" {
		arch, vcpuHour, gbHour = " (Arm)", p.FargateArmVCPUHour, p.FargateArmGBHour
	}
	add("Fargate vCPU"+arch, fmt.Sprintf("%d task(s) × %.2f vCPU × %.0f h", tasks, vcpu, h), float64(tasks)*vcpu*h*vcpuHour)
	add("Fargate memory"+arch, fmt.Sprintf("%d task(s) × %.2f GB × %.0f h", tasks, gb, h), float64(tasks)*gb*h*gbHour)
	// Priced from the first GB: estimates exclude free tiers (here 100 GB a month).
	add("data transfer out", fmt.Sprintf("%.0f GB to the internet", as.DataOutGBPerMonth), as.DataOutGBPerMonth*p.InternetOutPerGB)
	assume("%.0f GB out to the internet", as.DataOutGBPerMonth)
	if cfg.Edge.WAF {
		rules := phases.WAFRuleCount(cfg)
		add("WAF web ACL and rules", fmt.Sprintf("1 ACL + %d rules", rules), p.WAFACLMonth+float64(rules)*p.WAFRuleMonth)
		add("WAF requests", fmt.Sprintf("%.1f M requests", as.RequestsMillions), as.RequestsMillions*p.WAFPerMillion)
		if cfg.Edge.WAFLogs {
			add("WAF logs delivered to S3", fmt.Sprintf("%.1f GB", as.WAFLogGBPerMonth), as.WAFLogGBPerMonth*p.VendedLogsPerGB)
			kept := as.WAFLogGBPerMonth * float64(cfg.Edge.WAFLogExpiryDays) / 30
			add("WAF log storage", fmt.Sprintf("%.2f GB (%d days kept)", kept, cfg.Edge.WAFLogExpiryDays), kept*p.S3StorePerGB)
			assume("%.1f GB of WAF logs", as.WAFLogGBPerMonth)
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
		assume("%.0f Config items", as.ConfigItemsPerMonth)
	}
	alarms := phases.AlarmCount(cfg)
	add("CloudWatch alarms", fmt.Sprintf("%d alarms", alarms), float64(alarms)*p.AlarmMonth)
	add("target-tracking alarms", fmt.Sprintf("%d alarms (CPU high, low)", targetTrackingAlarms), targetTrackingAlarms*p.AlarmMonth)
	if cfg.Observability.ContainerInsights {
		metrics := insightsMetricsPerCluster + insightsMetricsPerService + tasks*insightsMetricsPerTask
		add("Container Insights metrics", fmt.Sprintf("%d cluster + %d service + %d × %d task", insightsMetricsPerCluster, insightsMetricsPerService, tasks, insightsMetricsPerTask),
			float64(metrics)*p.MetricMonth)
		events := float64(tasks) * as.InsightsGBPerTask
		add("Container Insights logs", fmt.Sprintf("%d task(s) × %.2f GB", tasks, as.InsightsGBPerTask), events*p.LogsIngestPerGB)
		assume("Container Insights: %d metrics a cluster, %d a service, %d a task, %.2f GB of performance events a task",
			insightsMetricsPerCluster, insightsMetricsPerService, insightsMetricsPerTask, as.InsightsGBPerTask)
	}
	if cfg.Observability.CloudTrail {
		// The first copy of management events in a region is free, but config cannot
		// tell whether another trail already takes it: priced as an additional copy.
		add("CloudTrail management events", fmt.Sprintf("%.0f events", as.TrailEventsPerMonth), as.TrailEventsPerMonth/100000*p.TrailPer100k)
		// The trail bucket never expires its logs: priced as it stands after a year.
		kept := as.TrailLogGBPerMonth * 12
		add("CloudTrail log storage", fmt.Sprintf("%.2f GB after a year (kept)", kept), kept*p.S3StorePerGB)
		assume("the trail is an additional copy of management events (another trail takes the free one), %.0f events and %.2f GB of trail logs a month",
			as.TrailEventsPerMonth, as.TrailLogGBPerMonth)
	}
	if cfg.Observability.KMSKeyID == "" {
		add("KMS key (environment)", "1 key", p.KMSKeyMonth)
	}
	add("CloudWatch Logs ingestion", fmt.Sprintf("%.1f GB", as.LogGBPerMonth), as.LogGBPerMonth*p.LogsIngestPerGB)
	// In steady state the group holds retention_days of ingestion.
	stored := as.LogGBPerMonth * float64(cfg.Logs.RetentionDays) / 30
	add("CloudWatch Logs storage", fmt.Sprintf("%.2f GB (%d days kept)", stored, cfg.Logs.RetentionDays), stored*p.LogsStorePerGB)
	add("ECR image storage", fmt.Sprintf("%.1f GB", as.ImageGB), as.ImageGB*p.ECRStorePerGB)
	assume("%.1f GB of logs", as.LogGBPerMonth)
	assume("%.1f GB of images", as.ImageGB)
	for _, l := range e.Lines {
		e.Total += l.Monthly
	}
	e.Total = cents(e.Total)
	return e, nil
}
