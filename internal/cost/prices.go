package cost

// The price table: on-demand list prices in USD, per region, as published by AWS on
// the date below. It is the only place prices live; update the date with the numbers.
// Regions not listed get no estimate (plan says so) rather than a guess.

// PricesAsOf is when the table was last checked against aws.amazon.com/pricing.
const PricesAsOf = "2025-06-01"

// Prices are one region's unit prices.
type Prices struct {
	NATHour            float64 // per NAT gateway-hour
	NATPerGB           float64 // per GB processed by a NAT gateway
	PublicIPv4Hour     float64 // per public IPv4 address-hour (NAT EIPs, the ALB's nodes)
	ALBHour            float64 // per ALB-hour
	LCUHour            float64 // per ALB load balancer capacity unit-hour
	FargateVCPUHour    float64 // per vCPU-hour, Linux/x86
	FargateGBHour      float64 // per GB of memory-hour, Linux/x86
	FargateArmVCPUHour float64 // per vCPU-hour, Linux/Arm (image.platform linux/arm64)
	FargateArmGBHour   float64 // per GB of memory-hour, Linux/Arm
	WAFACLMonth        float64 // per web ACL-month
	WAFRuleMonth       float64 // per rule (or managed rule group)-month
	WAFPerMillion      float64 // per million requests inspected
	SecretMonth        float64 // per secret-month
	AlarmMonth         float64 // per standard-resolution alarm-month
	LogsIngestPerGB    float64 // per GB of log data ingested
	LogsStorePerGB     float64 // per GB-month of archived logs
	HostedZoneMonth    float64 // per Route 53 hosted zone-month
	KMSKeyMonth        float64 // per customer managed KMS key-month
	ECRStorePerGB      float64 // per GB-month of image storage
	XRayPerMillion     float64 // per million traces recorded
	ConfigItem         float64 // per AWS Config configuration item recorded
	VendedLogsPerGB    float64 // per GB of vended logs (WAF) delivered to S3
	S3StorePerGB       float64 // per GB-month of S3 Standard storage
	MetricMonth        float64 // per custom metric-month, first tier (Container Insights' metrics)
	TrailPer100k       float64 // per 100,000 management events in a trail's additional copy
	InternetOutPerGB   float64 // per GB out to the internet, first tier after the free 100 GB
	CrossAZPerGB       float64 // per GB between AZs of the region, charged in each direction
}

var prices = map[string]Prices{
	"us-east-1": {
		NATHour: 0.045, NATPerGB: 0.045, PublicIPv4Hour: 0.005, ALBHour: 0.0225, LCUHour: 0.008,
		FargateVCPUHour: 0.04048, FargateGBHour: 0.004445, WAFACLMonth: 5, WAFRuleMonth: 1, WAFPerMillion: 0.60,
		SecretMonth: 0.40, AlarmMonth: 0.10, LogsIngestPerGB: 0.50, LogsStorePerGB: 0.03, HostedZoneMonth: 0.50,
		KMSKeyMonth: 1, ECRStorePerGB: 0.10, XRayPerMillion: 5, ConfigItem: 0.003, VendedLogsPerGB: 0.25, S3StorePerGB: 0.023,
		FargateArmVCPUHour: 0.03238, FargateArmGBHour: 0.00356, MetricMonth: 0.30, TrailPer100k: 2, InternetOutPerGB: 0.09, CrossAZPerGB: 0.01,
	},
	"eu-west-1": {
		NATHour: 0.048, NATPerGB: 0.048, PublicIPv4Hour: 0.005, ALBHour: 0.0252, LCUHour: 0.008,
		FargateVCPUHour: 0.04048, FargateGBHour: 0.004445, WAFACLMonth: 5, WAFRuleMonth: 1, WAFPerMillion: 0.60,
		SecretMonth: 0.40, AlarmMonth: 0.10, LogsIngestPerGB: 0.57, LogsStorePerGB: 0.03, HostedZoneMonth: 0.50,
		KMSKeyMonth: 1, ECRStorePerGB: 0.10, XRayPerMillion: 5, ConfigItem: 0.003, VendedLogsPerGB: 0.25, S3StorePerGB: 0.023,
		FargateArmVCPUHour: 0.03238, FargateArmGBHour: 0.00356, MetricMonth: 0.30, TrailPer100k: 2, InternetOutPerGB: 0.09, CrossAZPerGB: 0.01,
	},
}
