package phases

import (
	"slices"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/config"
)

func TestDeploymentModel(t *testing.T) {
	tests := map[string]struct {
		env                         string
		change                      func(*config.Service)
		step, desired, steps, total int
	}{
		"dev defaults":  {env: "dev", step: 5*2 + 10 + 30, desired: 1, steps: 1, total: 50},
		"prod defaults": {env: "prod", step: 50, desired: 2, steps: 1, total: 50},
		// What the target group was set to before: the 80 s step this tuning replaced.
		"the former defaults":                     {env: "prod", change: func(s *config.Service) { s.HealthCheckInterval, s.DeregistrationDelay = 10, 30 }, step: 80, desired: 2, steps: 1, total: 80},
		"long requests drain longer":              {env: "prod", change: func(s *config.Service) { s.DeregistrationDelay = 120 }, step: 160, desired: 2, steps: 1, total: 160},
		"a large service still rolls in one step": {env: "prod", change: func(s *config.Service) { s.Desired, s.Max = 7, 8 }, step: 50, desired: 7, steps: 1, total: 50},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Defaults(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(&cfg.Service)
			}
			m := Deployment(cfg)
			if m.StepSeconds != tc.step || m.DesiredCount != tc.desired || m.Steps != tc.steps || m.DeploySeconds != tc.total {
				t.Errorf("step %d s, desired %d, %d steps, %d s; want %d s, %d, %d, %d s", m.StepSeconds, m.DesiredCount, m.Steps, m.DeploySeconds, tc.step, tc.desired, tc.steps, tc.total)
			}
			if m.Strategy != "rolling" || !m.CircuitBreaker || m.MinimumHealthyPercent != 100 || m.MaximumPercent != 200 {
				t.Errorf("model %+v", m)
			}
			if want := deploymentAlarmsOf(tc.env); !slices.Equal(m.RollbackAlarms, want) {
				t.Errorf("rollback alarms %v, want %v", m.RollbackAlarms, want)
			}
		})
	}
}
