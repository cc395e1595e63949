package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/status"
	"github.com/fvdeploy/fvdeploy/internal/validate"
)

func newValidateCmd(a *app) *cobra.Command {
	var chaos, security bool
	var url string
	var settle, logsWait time.Duration
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Prove the deployment works: HTTPS and Basic Auth, healthy targets, logs flowing",
		Long: `Check the deployed environment and report each check with its evidence; exit 1 if any
fails. The service URL (https://domain with the edge on, else http://ALB-DNS, or --url)
must answer GET / with 200 to the admin credentials read from Secrets Manager (never
shown) and 401 to none and to wrong ones, and /health with 200; with TLS, the
certificate must be valid for the name and port 80 must redirect. Requests are retried
while DNS and targets settle (--settle). Then: every target healthy and at least the
minimum count; the ECS service on one PRIMARY deployment of the task definition in
state, running = desired; validate's own requests in the log group; no alarm in ALARM.

--security audits the deployed configuration as AWS reports it (network exposure, default
security group, network ACLs, flow logs, TLS, IAM trust conditions, secret policies and
rotation, buckets, log encryption); a check that does not apply here is reported as
skipped, with why, and counts neither as passed nor as failed. --chaos stops one task and
times the recovery, failing when it takes longer than --timeout.`,
		Example: `  fvdeploy validate --env prod
  fvdeploy validate --env prod --security --output json
  fvdeploy validate --env prod --chaos --timeout 10m   # stop a task and time the recovery
  fvdeploy validate --env dev --url http://127.0.0.1:8000   # the service run locally`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if settle < 0 || logsWait < 0 {
				return usagef("--settle and --logs-wait must not be negative")
			}
			return a.opened(cmd.Context(), opening{}, func(s *session, doc *state.Document, _ engine.Saver) error {
				ctx, ws := s.ctx, s.ws
				d := phases.DeployedObjects(doc)
				if d.Secret == "" {
					return fmt.Errorf("validate: %s records no admin secret, so there is nothing to log in to: run `fvdeploy up --env %s` first", ws.Backend.Where(), ws.Config.Env)
				}
				if url == "" {
					url = d.URL
				}
				if url == "" {
					return fmt.Errorf("validate: %s records no service URL (no load balancer): run `fvdeploy up --env %s`, or give one with --url", ws.Backend.Where(), ws.Config.Env)
				}
				user, pass, err := rotation.Credentials(ctx, ws.Clients.SecretsManager(), d.Secret)
				if err != nil {
					return fmt.Errorf("validate: %w%s", err, kinds.DeniedBySecretPolicy(err))
				}
				p := a.progress()
				c := ws.Clients
				suite := validate.Suite{
					Deployed: d, MinTargets: ws.Config.Service.Min,
					Audit: validate.AuditConfig{ContainerPort: ws.Config.Service.ContainerPort, RotationDays: ws.Config.Secrets.RotationDays,
						FlowLogs: ws.Config.Network.FlowLogs, KMSKeyID: ws.Config.Observability.KMSKeyID},
					HTTP: validate.HTTPTarget{BaseURL: url, User: user, Pass: pass, UserAgent: validate.RunID(time.Now()),
						Settle: settle, Poll: time.Second},
					ECS: c.ECS(), Targets: c.ELB(), Logs: c.Logs(),
					Security: validate.SecurityAPIs{EC2: c.EC2(), ELB: c.ELB(), ECS: c.ECS(), IAM: c.IAM(), ECR: c.ECR(),
						Secrets: c.SecretsManager(), S3: c.S3(), Logs: c.Logs(), CloudTrail: c.CloudTrail()},
					Alarms: func(ctx context.Context) ([]status.AlarmState, error) {
						return status.Alarms(ctx, c.CloudWatch(), d.Alarms)
					},
					LogsWait: logsWait, Poll: time.Second,
					RunSecurity: security, RunChaos: chaos,
					Chaos: validate.ChaosOptions{Timeout: remaining(ctx), Poll: 5 * time.Second,
						Wait: func(status string) { p.Wait("the service to be whole again", status) }},
					Report: func(c validate.Check) {
						if c.Skipped {
							p.Skip(c.Name, c.Evidence)
							return
						}
						p.Check(c.Name, c.OK, c.Evidence, c.Fix)
					},
				}
				checks := suite.Run(ctx)
				data := validateJSON{Command: "validate", App: ws.Config.App, Env: ws.Config.Env, URL: url,
					OK: validate.Failed(checks) == 0, Checks: checks}
				if err := a.emit(data, func(w io.Writer) { renderValidate(w, data, a.verbose) }); err != nil {
					return err
				}
				if n := validate.Failed(checks); n > 0 {
					return interrupted(ctx, "validate", fmt.Errorf("validate: %d of %d checks failed; each failed check says what to change (fix)", n, len(checks)-validate.Skipped(checks)))
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&chaos, "chaos", false, "stop one task and measure how long until the service is whole again (fails past --timeout)")
	f.BoolVar(&security, "security", false, "also audit the deployed configuration (security groups, NACLs, flow logs, TLS, IAM trust, secrets, buckets, log encryption, task definition, ECR, ALB); checks that do not apply are skipped")
	f.StringVar(&url, "url", "", "check this URL instead of the deployed one (e.g. http://127.0.0.1:8000 for a local run)")
	f.DurationVar(&settle, "settle", 2*time.Minute, "retry HTTP requests this long while DNS and targets settle")
	f.DurationVar(&logsWait, "logs-wait", 2*time.Minute, "wait this long for validate's requests to appear in the log group")
	return cmd
}

// remaining is how long ctx has left; a long time when it has no deadline (--timeout 0).
func remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return 24 * time.Hour
}

type validateJSON struct {
	Command string           `json:"command"`
	App     string           `json:"app"`
	Env     string           `json:"env"`
	URL     string           `json:"url"`
	OK      bool             `json:"ok"`
	Checks  []validate.Check `json:"checks"`
}
