package validate

import (
	"context"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/status"
)

// Suite is one run of validate: what to check, through which clients, and how long to
// give things that settle.
type Suite struct {
	Deployed phases.Deployed
	// MinTargets is the service's minimum task count: fewer healthy targets fail.
	MinTargets int
	// Audit is what --security expects of this environment's configuration.
	Audit AuditConfig
	HTTP  HTTPTarget

	ECS      ChaosAPI
	Targets  TargetsAPI
	Logs     LogsAPI
	Security SecurityAPIs
	Alarms   func(ctx context.Context) ([]status.AlarmState, error)

	// LogsWait bounds the wait for validate's requests to show up in the log group.
	LogsWait time.Duration
	Poll     time.Duration

	// RunSecurity adds the security audit; RunChaos the chaos test, last, since it
	// stops a task.
	RunSecurity bool
	RunChaos    bool
	Chaos       ChaosOptions

	// Report is told each check as it finishes; may be nil.
	Report func(Check)
}

// Run runs the checks in order and returns them all: one failing does not hide the
// others, so a person sees everything that is wrong at once.
func (s Suite) Run(ctx context.Context) []Check {
	var out []Check
	add := func(cs ...Check) {
		for _, c := range cs {
			if s.Report != nil {
				s.Report(c)
			}
			out = append(out, c)
		}
	}
	// A little before the first request: CloudWatch timestamps are the app's clock.
	since := time.Now().Add(-time.Minute)
	add(HTTP(ctx, s.HTTP)...)
	add(Service(ctx, s.ECS, s.Deployed))
	add(Targets(ctx, s.Targets, s.Deployed, s.MinTargets))
	add(Logs(ctx, s.Logs, s.Deployed, since, s.HTTP.UserAgent, s.LogsWait, s.Poll))
	states, err := s.Alarms(ctx)
	add(Alarms(states, err))
	if s.RunSecurity {
		add(Audit(ctx, s.Security, s.Deployed, s.Audit)...)
	}
	if s.RunChaos {
		add(Chaos(ctx, s.ECS, s.Targets, s.Deployed, s.Chaos))
	}
	return out
}
