// Package config holds the settings of one environment (dev, hml or prod):
// built-in defaults per environment, overridden by an optional fvdeploy.yaml,
// and validated before anything reaches AWS.
package config

import (
	"errors"
	"fmt"
	"slices"
)

// NAT modes for Network.NAT.
const (
	NATSingle = "single" // one NAT gateway shared by all AZs: cheaper, one AZ failure cuts egress
	NATPerAZ  = "per_az" // one NAT gateway per AZ: survives the loss of an AZ
)

// Config is everything fvdeploy needs to know about one environment.
type Config struct {
	App           string        `yaml:"app"`
	Env           string        `yaml:"env"` // chosen with --env, never read from the file
	Region        string        `yaml:"region"`
	Network       Network       `yaml:"network"`
	Service       Service       `yaml:"service"`
	Secrets       Secrets       `yaml:"secrets"`
	Edge          Edge          `yaml:"edge"`
	Logs          Logs          `yaml:"logs"`
	Alarms        Alarms        `yaml:"alarms"`
	Observability Observability `yaml:"observability"`
	CICD          CICD          `yaml:"cicd"`
	ALB           ALB           `yaml:"alb"`
	Image         Image         `yaml:"image"`
	Deploy        Deploy        `yaml:"deploy"`

	// origins records where in the file each value was set, so that Validate
	// can point at the line.
	origins map[string]origin
}

// Network is the VPC layout.
type Network struct {
	VPCCIDR string `yaml:"vpc_cidr"`
	AZCount int    `yaml:"az_count"`
	NAT     string `yaml:"nat"`
	IPv6    bool   `yaml:"ipv6"`
	// FlowLogs records every connection accepted or rejected in the VPC to a CloudWatch
	// log group kept for logs.retention_days: what an incident review or an auditor asks
	// for first, billed by the GB ingested. On in prod.
	FlowLogs bool `yaml:"flow_logs"`
}

// Service is the ECS service, its tasks, its target group and its scaling.
type Service struct {
	CPU                    int      `yaml:"cpu"`
	Memory                 int      `yaml:"memory"`
	Min                    int      `yaml:"min"`
	Desired                int      `yaml:"desired"`
	Max                    int      `yaml:"max"`
	CPUTarget              int      `yaml:"cpu_target"`
	ContainerPort          int      `yaml:"container_port"`
	HealthCheckPath        string   `yaml:"health_check_path"`
	HealthCheckInterval    int      `yaml:"health_check_interval"`
	HealthyThreshold       int      `yaml:"healthy_threshold"`
	DeregistrationDelay    int      `yaml:"deregistration_delay"`
	HealthCheckGracePeriod int      `yaml:"health_check_grace_period"`
	ScaleInCooldown        int      `yaml:"scale_in_cooldown"`
	ScaleOutCooldown       int      `yaml:"scale_out_cooldown"`
	EgressCIDRs            []string `yaml:"egress_cidrs"`
	EgressPorts            []int    `yaml:"egress_ports"`
	// Env are plain environment variables of the app container. They are not secret:
	// they show in the task definition to anyone who may read it.
	Env map[string]string `yaml:"env"`
	// Secrets are environment variables of the app container that ECS reads from Secrets
	// Manager at task start (by valueFrom), by variable name.
	Secrets map[string]SecretRef `yaml:"secrets"`
	// Command, when set, replaces the image's CMD.
	Command []string `yaml:"command"`
}

// SecretRef is one JSON key of a secret in Secrets Manager.
type SecretRef struct {
	// Secret is the name or ARN of an existing secret; empty means the environment's own
	// <app>-<env>-admin, where up stores the deployer's variable named Key.
	Secret string `yaml:"secret"`
	Key    string `yaml:"key"`
}

// Edge is DNS, TLS and WAF in front of the ALB.
type Edge struct {
	Domain string   `yaml:"domain"`
	SANs   []string `yaml:"sans"` // more names on the certificate
	ZoneID string   `yaml:"zone_id"`
	// TLSPolicy is the HTTPS listener's security policy.
	TLSPolicy string `yaml:"tls_policy"`
	WAF       bool   `yaml:"waf"`
	// WAFRateLimit is the requests per 5 minutes one IP may make before WAF blocks it.
	WAFRateLimit int `yaml:"waf_rate_limit"`
	// WAFLogs sends the web ACL's request logs to a bucket of their own
	// (aws-waf-logs-<app>-<env>-<account>), with the authorization header redacted.
	WAFLogs bool `yaml:"waf_logs"`
	// WAFLogExpiryDays is how long the bucket keeps a WAF log object.
	WAFLogExpiryDays int `yaml:"waf_log_expiry_days"`
}

// Logs is the service's CloudWatch log group.
type Logs struct {
	RetentionDays int `yaml:"retention_days"`
}

// Alarms are the CloudWatch alarms and who their SNS topic notifies.
type Alarms struct {
	CPUPercent    int `yaml:"cpu_percent"`
	MemoryPercent int `yaml:"memory_percent"`
	P95LatencyMS  int `yaml:"p95_latency_ms"`
	HTTP5xxCount  int `yaml:"http_5xx_count"`
	// An alarm fires when DatapointsToAlarm of the last EvaluationPeriods minutes breach.
	EvaluationPeriods int      `yaml:"evaluation_periods"`
	DatapointsToAlarm int      `yaml:"datapoints_to_alarm"`
	Email             []string `yaml:"email"`
	HTTPS             []string `yaml:"https"`
	// ChatRelay posts the alarm topic's messages to a Slack-compatible incoming webhook
	// through a small Lambda function. The webhook URL is a secret: it is read from
	// FVDEPLOY_CHAT_WEBHOOK_URL at up and kept in Secrets Manager, never in this file.
	ChatRelay bool `yaml:"chat_relay"`
}

// Observability holds the optional account- and cluster-level monitoring.
type Observability struct {
	CloudTrail        bool `yaml:"cloudtrail"`
	ContainerInsights bool `yaml:"container_insights"`
	// ALBAccessLogs sends the load balancer's access logs to a bucket of their own.
	ALBAccessLogs bool `yaml:"alb_access_logs"`
	// KMSKeyID, when set, encrypts the alarm topic and the log buckets with this key
	// instead of AWS-managed keys.
	KMSKeyID string `yaml:"kms_key_id"`
	// Tracing adds an AWS Distro for OpenTelemetry collector to each task, exporting the
	// service's traces to X-Ray.
	Tracing bool `yaml:"tracing"`
	// Guardrails sets up account-wide controls: an IAM Access Analyzer analyzer and an AWS
	// Config recorder with its delivery channel. Ones already there are reused, and only
	// those fvdeploy created are ever deleted.
	Guardrails bool `yaml:"guardrails"`
}

// CICD is what the GitHub OIDC deploy role trusts.
type CICD struct {
	GitHubRepo string   `yaml:"github_repo"`
	Branches   []string `yaml:"branches"`
	// Tags are the git tag patterns (e.g. v*) whose workflows may deploy: releases.
	Tags []string `yaml:"tags"`
}

// Secrets are the controls on the secrets fvdeploy creates.
type Secrets struct {
	// RotationDays is the admin credentials' rotation schedule; 0 turns rotation off.
	RotationDays int `yaml:"rotation_days"`
	// Managers are IAM principal ARN patterns (as IAM's ArnLike reads them, e.g.
	// arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*AdministratorAccess*)
	// that may read and manage the secrets beside the account root and whoever runs up:
	// everyone else is denied by the secrets' resource policies. List every principal that
	// runs up, validate or secrets rotate, or each run rewrites the policy to its own.
	Managers []string `yaml:"managers"`
}

// ALB holds load balancer settings outside the network layout.
type ALB struct {
	DeletionProtection bool `yaml:"deletion_protection"`
}

// The deployment strategies: ECS's native ones, named as in fvdeploy.yaml.
const (
	StrategyRolling   = "rolling"
	StrategyCanary    = "canary"
	StrategyLinear    = "linear"
	StrategyBlueGreen = "blue_green"
)

// Deploy is how a new revision reaches production traffic. Rolling replaces tasks behind
// the one target group; the other three start a full green set in a second target group
// and move the production listener rule's traffic to it: all at once (blue_green), a
// share first (canary), or in equal steps (linear).
type Deploy struct {
	Strategy string `yaml:"strategy"`
	// CanaryPercent of production traffic goes to the new revision for CanaryBakeMinutes
	// before the rest follows.
	CanaryPercent     int `yaml:"canary_percent"`
	CanaryBakeMinutes int `yaml:"canary_bake_minutes"`
	// LinearStepPercent of production traffic moves per step, LinearStepBakeMinutes apart.
	LinearStepPercent     int `yaml:"linear_step_percent"`
	LinearStepBakeMinutes int `yaml:"linear_step_bake_minutes"`
	// BakeMinutes is how long both revisions keep running once all traffic is on the new
	// one: a rollback in that window is a switch back, with no task to start.
	BakeMinutes int `yaml:"bake_minutes"`
}

// Image is the service image: how it is built and where it is pushed.
type Image struct {
	// Repository is the ECR repository; empty means the app's name. Environments share it:
	// an image is built once per commit and can run in any of them.
	Repository string `yaml:"repository"`
	// Registry, when set, replaces the ECR registry host (host[:port]) for the push and in
	// the image URI, with the same ECR credentials: a pull-through proxy, or a local
	// registry paired with an emulator's ECR in tests.
	Registry string `yaml:"registry"`
	// Platform is the target os/arch of the build; the task definition follows it.
	Platform string `yaml:"platform"`
	// Keep is how many images the repository's lifecycle policy keeps.
	Keep int `yaml:"keep"`
	// ImmutableTags makes the commit and release tags unmovable; latest and -dirty tags
	// stay movable.
	ImmutableTags bool `yaml:"immutable_tags"`
	// BuildArgs are KEY=VALUE build arguments, e.g. BASE_IMAGE=python:3.11-slim.
	BuildArgs []string `yaml:"build_args"`
	// Context is the build context, a folder relative to the git work tree's root.
	Context string `yaml:"context"`
	// Dockerfile is the Dockerfile's path relative to Context.
	Dockerfile string `yaml:"dockerfile"`
}

// ImageRepository is the ECR repository's name.
func (c *Config) ImageRepository() string {
	if c.Image.Repository != "" {
		return c.Image.Repository
	}
	return c.App
}

// ErrInvalid is wrapped by every error that comes from bad input (unknown
// environment, unreadable or malformed file, invalid value), so that callers
// can tell them from AWS failures with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem with one value, found while reading the file or
// by Validate. File and Line are empty when the value did not come from a file.
type FieldError struct {
	File   string
	Line   int
	Field  string // dotted path, e.g. "service.min" or "alarms.email[1]"
	Reason string
}

func (e *FieldError) Error() string {
	if e.File == "" {
		return e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// FileError is a problem with the file as a whole: it cannot be read, or it
// is not well-formed YAML. Line is 0 when unknown.
type FileError struct {
	File string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FileError) Is(target error) bool { return target == ErrInvalid }

// unknownEnvError keeps its message free of a prefix, as the CLI prints it as is.
type unknownEnvError struct{ name string }

func (e *unknownEnvError) Error() string {
	return fmt.Sprintf("unknown environment %q (want dev, hml or prod)", e.name)
}

func (e *unknownEnvError) Is(target error) bool { return target == ErrInvalid }

// envDefaults are the per-environment differences; everything else is shared.
var envDefaults = map[string]struct {
	nat                  string
	min, desired, max    int
	waf, deletionProtect bool
	retentionDays        int
	containerInsights    bool
	branches, tags       []string // what the CI deploy role trusts
	strategy             string
}{
	"dev":  {NATSingle, 1, 1, 2, false, false, 7, false, []string{"dev"}, []string{}, StrategyRolling},
	"hml":  {NATSingle, 2, 2, 4, true, false, 30, false, []string{"hml"}, []string{}, StrategyRolling},
	"prod": {NATPerAZ, 2, 2, 6, true, true, 30, true, []string{"main"}, []string{"v*"}, StrategyCanary},
}

// defaultRotationDays rotates prod's admin credentials monthly; dev and hml keep theirs
// until `secrets rotate`.
func defaultRotationDays(env string) int {
	if env == "prod" {
		return 30
	}
	return 0
}

// EnvNames lists the environments, cheapest first.
func EnvNames() []string { return []string{"dev", "hml", "prod"} }

// Defaults returns the built-in settings of env, without reading any file.
func Defaults(env string) (*Config, error) {
	d, ok := envDefaults[env]
	if !ok {
		return nil, &unknownEnvError{env}
	}
	return &Config{
		App: "fastapi-vars",
		Env: env,
		// Region stays empty: it then comes from the AWS config or --region.
		Network: Network{VPCCIDR: "10.0.0.0/16", AZCount: 2, NAT: d.nat, FlowLogs: env == "prod"},
		Secrets: Secrets{RotationDays: defaultRotationDays(env)},
		Service: Service{
			CPU: 256, Memory: 512,
			Min: d.min, Desired: d.desired, Max: d.max, CPUTarget: 60,
			ContainerPort:   8000,
			HealthCheckPath: "/health",
			// A stateless API answering in milliseconds: a new task is judged healthy
			// after 2 checks 5 s apart (the ALB's minimums), and an old one drains
			// in-flight requests in 5 s, five times the p95 latency alarm's 1000 ms.
			// Together with ~30 s of task start, a rolling step is modelled at 45 s.
			HealthCheckInterval:    5,
			HealthyThreshold:       2,
			DeregistrationDelay:    5,
			HealthCheckGracePeriod: 60,
			ScaleInCooldown:        300,
			ScaleOutCooldown:       60,
			EgressCIDRs:            []string{"0.0.0.0/0"},
			EgressPorts:            []int{443},
		},
		Edge: Edge{WAF: d.waf, TLSPolicy: "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", WAFRateLimit: 1000, WAFLogExpiryDays: 90, SANs: []string{}},
		Logs: Logs{RetentionDays: d.retentionDays},
		Alarms: Alarms{CPUPercent: 80, MemoryPercent: 80, P95LatencyMS: 1000, HTTP5xxCount: 10,
			EvaluationPeriods: 5, DatapointsToAlarm: 3, Email: []string{}, HTTPS: []string{}},
		Observability: Observability{ContainerInsights: d.containerInsights},
		CICD:          CICD{Branches: slices.Clone(d.branches), Tags: slices.Clone(d.tags)},
		ALB:           ALB{DeletionProtection: d.deletionProtect},
		Image: Image{Platform: "linux/amd64", Keep: 30, ImmutableTags: true, BuildArgs: []string{},
			Context: ".", Dockerfile: "Dockerfile"},
		// Prod sends 10 % of its traffic to a new revision for 5 minutes, the window of the
		// 5xx and latency alarms (5 one-minute periods), before the rest; both revisions
		// then run 2 more minutes, when a rollback is a switch of traffic, not a restart.
		Deploy: Deploy{Strategy: d.strategy, CanaryPercent: 10, CanaryBakeMinutes: 5,
			LinearStepPercent: 25, LinearStepBakeMinutes: 2, BakeMinutes: 2},
	}, nil
}
