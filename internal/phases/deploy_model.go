package phases

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fvdeploy/fvdeploy/internal/config"
)

// taskStartSeconds is about how long a Fargate task takes from placement to its app
// answering: ENI attachment, image pull, interpreter start.
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
	// Steps is how many steps replace DesiredCount tasks within MaximumPercent.
	Steps         int `json:"steps"`
	DeploySeconds int `json:"deploy_seconds"`
}

// Deployment models the rollout of the service cfg configures, from the same deployment
// configuration the service is created with. It leaves out the bake time ECS adds after
// the last step to watch the alarms, which ECS derives from them.
func Deployment(cfg *config.Config) DeploymentModel {
	in := &Inputs{Config: cfg}
	dc, s := deploymentConfiguration(in), cfg.Service
	m := DeploymentModel{
		Strategy:              "rolling",
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
	m.StepSeconds = s.HealthCheckInterval*s.HealthyThreshold + s.DeregistrationDelay + taskStartSeconds
	// Old tasks stay until new ones are healthy (minimum), so each step starts as many new
	// tasks as fit above the desired count (maximum); at least one.
	batch := max(1, s.Desired*m.MaximumPercent/100-s.Desired*m.MinimumHealthyPercent/100)
	m.Steps = (s.Desired + batch - 1) / batch
	m.DeploySeconds = m.Steps * m.StepSeconds
	return m
}
