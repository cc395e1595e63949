package phases

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// taskStartSeconds is about how long a Fargate task takes from placement to its app
// answering: ENI attachment, image pull, interpreter start. An estimate, not a
// measurement of Fargate: the local runtime measures only the container's part of it
// (see README, "The deployment model").
const taskStartSeconds = 30

// DeploymentModel is how the service rolls a new revision out, and how long that is
// modelled to take: plan shows it.
type DeploymentModel struct {
	Strategy              string   `json:"strategy"`
	MinimumHealthyPercent int      `json:"minimum_healthy_percent"`
	MaximumPercent        int      `json:"maximum_percent"`
	CircuitBreaker        bool     `json:"circuit_breaker_rollback"`
	RollbackAlarms        []string `json:"rollback_alarms"`
	HealthCheckInterval   int      `json:"health_check_interval_seconds"`
	HealthyThreshold      int      `json:"healthy_threshold"`
	DeregistrationDelay   int      `json:"deregistration_delay_seconds"`
	TaskStart             int      `json:"task_start_seconds"`
	// StepSeconds is one rolling step: new tasks start, pass the target group's health
	// checks, and the old ones drain.
	StepSeconds  int `json:"step_seconds"`
	DesiredCount int `json:"desired_count"`
	// Steps is how many steps replace DesiredCount tasks within MaximumPercent (rolling).
	Steps int `json:"steps"`
	// The traffic-shifting strategies' settings; zero under rolling.
	CanaryPercent         int `json:"canary_percent,omitempty"`
	CanaryBakeMinutes     int `json:"canary_bake_minutes,omitempty"`
	LinearStepPercent     int `json:"linear_step_percent,omitempty"`
	LinearStepBakeMinutes int `json:"linear_step_bake_minutes,omitempty"`
	BakeMinutes           int `json:"bake_minutes,omitempty"`
	// TrafficShifts is how many times ECS moves production traffic (canary 2, linear one
	// per step, blue_green 1); 0 under rolling.
	TrafficShifts int `json:"traffic_shifts,omitempty"`
	// ReadySeconds is the new revision's full set started and healthy in the alternate
	// target group, before any traffic moves: task start + interval x threshold.
	ReadySeconds  int `json:"ready_seconds,omitempty"`
	DeploySeconds int `json:"deploy_seconds"`
	// Formula is DeploySeconds as the sum it is.
	Formula string `json:"formula"`
}

// Deployment models the rollout of the service cfg configures, from the same deployment
// configuration the service is created with:
//
//	step       = health check interval x healthy threshold + deregistration delay + task start
//	rolling    = steps x step, where a step replaces as many tasks as maximumPercent leaves room for
//	ready      = task start + interval x threshold (the full new set, in the alternate group)
//	blue_green = ready + bake + deregistration delay
//	canary     = ready + canary bake + bake + deregistration delay
//	linear     = ready + (ceil(100 / step %) - 1) x step bake + bake + deregistration delay
//
// A traffic shift itself is a listener rule change, counted as instant; the old tasks
// drain (the deregistration delay) once the bake is over. Rolling leaves out the bake
// time ECS adds after its last step to watch the alarms, which ECS derives from them.
func Deployment(cfg *config.Config) DeploymentModel {
	in := &kit.Inputs{Config: cfg}
	dc, s, d := cluster.DeploymentConfiguration(in), cfg.Service, cfg.Deploy
	m := DeploymentModel{
		Strategy:              d.Strategy,
		MinimumHealthyPercent: int(aws.ToInt32(dc.MinimumHealthyPercent)),
		MaximumPercent:        int(aws.ToInt32(dc.MaximumPercent)),
		CircuitBreaker:        dc.DeploymentCircuitBreaker.Enable && dc.DeploymentCircuitBreaker.Rollback,
		HealthCheckInterval:   s.HealthCheckInterval,
		HealthyThreshold:      s.HealthyThreshold,
		DeregistrationDelay:   s.DeregistrationDelay,
		TaskStart:             taskStartSeconds,
		DesiredCount:          s.Desired,
	}
	if dc.Alarms.Enable && dc.Alarms.Rollback {
		m.RollbackAlarms = dc.Alarms.AlarmNames
	}
	health := s.HealthCheckInterval * s.HealthyThreshold
	m.StepSeconds = health + s.DeregistrationDelay + taskStartSeconds
	// Old tasks stay until new ones are healthy (minimum), so each step starts as many new
	// tasks as fit above the desired count (maximum); at least one.
	batch := max(1, s.Desired*m.MaximumPercent/100-s.Desired*m.MinimumHealthyPercent/100)
	m.Steps = (s.Desired + batch - 1) / batch
	if d.Strategy == config.StrategyRolling {
		m.DeploySeconds = m.Steps * m.StepSeconds
		m.Formula = fmt.Sprintf("%d step(s) x (%d s x %d + %d s + %d s)", m.Steps, s.HealthCheckInterval, s.HealthyThreshold, s.DeregistrationDelay, taskStartSeconds)
		return m
	}
	m.BakeMinutes = d.BakeMinutes
	m.ReadySeconds = taskStartSeconds + health
	tail := d.BakeMinutes*60 + s.DeregistrationDelay
	ready := fmt.Sprintf("(%d s + %d s x %d)", taskStartSeconds, s.HealthCheckInterval, s.HealthyThreshold)
	end := fmt.Sprintf("%d min bake + %d s", d.BakeMinutes, s.DeregistrationDelay)
	switch d.Strategy {
	case config.StrategyCanary:
		m.CanaryPercent, m.CanaryBakeMinutes, m.TrafficShifts = d.CanaryPercent, d.CanaryBakeMinutes, 2
		m.DeploySeconds = m.ReadySeconds + d.CanaryBakeMinutes*60 + tail
		m.Formula = fmt.Sprintf("%s + %d min at %d %% + %s", ready, d.CanaryBakeMinutes, d.CanaryPercent, end)
	case config.StrategyLinear:
		m.LinearStepPercent, m.LinearStepBakeMinutes = d.LinearStepPercent, d.LinearStepBakeMinutes
		m.TrafficShifts = (100 + d.LinearStepPercent - 1) / d.LinearStepPercent
		m.DeploySeconds = m.ReadySeconds + (m.TrafficShifts-1)*d.LinearStepBakeMinutes*60 + tail
		m.Formula = fmt.Sprintf("%s + %d x %d min between %d shifts of %d %% + %s", ready, m.TrafficShifts-1, d.LinearStepBakeMinutes, m.TrafficShifts, d.LinearStepPercent, end)
	default: // blue_green
		m.TrafficShifts = 1
		m.DeploySeconds = m.ReadySeconds + tail
		m.Formula = fmt.Sprintf("%s + %s", ready, end)
	}
	return m
}
