package phases_test

import (
	"slices"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

func TestDeploymentModel(t *testing.T) {
	tests := map[string]struct {
		env                         string
		change                      func(*config.Config)
		strategy                    string
		step, desired, steps, total int
		shifts, ready               int
	}{
		// 5 s x 2 + 5 s + 30 s: the 45 s rolling step.
		"dev defaults": {env: "dev", strategy: "rolling", step: 5*2 + 5 + 30, desired: 1, steps: 1, total: 45},
		"hml defaults": {env: "hml", strategy: "rolling", step: 45, desired: 2, steps: 1, total: 45},
		// 40 s ready, 5 min at 10 %, 2 min bake, 5 s drain.
		"prod defaults (canary)": {env: "prod", strategy: "canary", step: 45, desired: 2, steps: 1, ready: 40, shifts: 2, total: 40 + 300 + 120 + 5},
		"prod rolling":           {env: "prod", change: func(c *config.Config) { c.Deploy.Strategy = "rolling" }, strategy: "rolling", step: 45, desired: 2, steps: 1, total: 45},
		// What the target group was set to before: the 80 s step this tuning replaced.
		"the former defaults": {env: "dev", change: func(c *config.Config) { c.Service.HealthCheckInterval, c.Service.DeregistrationDelay = 10, 30 },
			strategy: "rolling", step: 80, desired: 1, steps: 1, total: 80},
		"long requests drain longer": {env: "dev", change: func(c *config.Config) { c.Service.DeregistrationDelay = 120 }, strategy: "rolling", step: 160, desired: 1, steps: 1, total: 160},
		"a large service still rolls in one step": {env: "hml", change: func(c *config.Config) { c.Service.Desired, c.Service.Max = 7, 8 },
			strategy: "rolling", step: 45, desired: 7, steps: 1, total: 45},
		// ceil(100 / 25) = 4 shifts, 3 waits of 2 min between them.
		"linear": {env: "prod", change: func(c *config.Config) { c.Deploy.Strategy = "linear" }, strategy: "linear", step: 45, desired: 2, steps: 1,
			ready: 40, shifts: 4, total: 40 + 3*120 + 120 + 5},
		"linear 30 % steps": {env: "prod", change: func(c *config.Config) { c.Deploy.Strategy, c.Deploy.LinearStepPercent = "linear", 30 }, strategy: "linear",
			step: 45, desired: 2, steps: 1, ready: 40, shifts: 4, total: 40 + 3*120 + 120 + 5},
		"blue_green": {env: "prod", change: func(c *config.Config) { c.Deploy.Strategy = "blue_green" }, strategy: "blue_green", step: 45, desired: 2, steps: 1,
			ready: 40, shifts: 1, total: 40 + 120 + 5},
		"blue_green without bake": {env: "prod", change: func(c *config.Config) { c.Deploy.Strategy, c.Deploy.BakeMinutes = "blue_green", 0 }, strategy: "blue_green",
			step: 45, desired: 2, steps: 1, ready: 40, shifts: 1, total: 45},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Defaults(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(cfg)
			}
			m := phases.Deployment(cfg)
			if m.StepSeconds != tc.step || m.DesiredCount != tc.desired || m.Steps != tc.steps || m.DeploySeconds != tc.total {
				t.Errorf("step %d s, desired %d, %d steps, %d s; want %d s, %d, %d, %d s", m.StepSeconds, m.DesiredCount, m.Steps, m.DeploySeconds, tc.step, tc.desired, tc.steps, tc.total)
			}
			if m.Strategy != tc.strategy || m.TrafficShifts != tc.shifts || m.ReadySeconds != tc.ready || m.Formula == "" {
				t.Errorf("strategy %s, %d shifts, ready %d s, formula %q; want %s, %d, %d s", m.Strategy, m.TrafficShifts, m.ReadySeconds, m.Formula, tc.strategy, tc.shifts, tc.ready)
			}
			if !m.CircuitBreaker || m.MinimumHealthyPercent != 100 || m.MaximumPercent != 200 {
				t.Errorf("model %+v", m)
			}
			if want := phasetest.DeploymentAlarmsOf(tc.env); !slices.Equal(m.RollbackAlarms, want) {
				t.Errorf("rollback alarms %v, want %v", m.RollbackAlarms, want)
			}
		})
	}
}

// The target: a rolling step of at most 45 s with the shipped defaults.
func TestDefaultRollingStepWithin45s(t *testing.T) {
	for _, env := range config.EnvNames() {
		cfg, err := config.Defaults(env)
		if err != nil {
			t.Fatal(err)
		}
		if m := phases.Deployment(cfg); m.StepSeconds > 45 {
			t.Errorf("%s: modelled rolling step %d s, want at most 45 s", env, m.StepSeconds)
		}
	}
}
