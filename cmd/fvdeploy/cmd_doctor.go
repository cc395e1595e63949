package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/doctor"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// errPreflight is a doctor report with a failed check: exit 1, the lines say why.
var errPreflight = errors.New("preflight failed")

func newDoctorCmd(a *app) *cobra.Command {
	var image string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check everything a deployment needs, read-only: config, credentials, state, Docker, git, domain",
		Long: `Check, without changing anything, what up needs: the config is valid; the region and
the identity the credentials resolve to; the state is readable and belongs to this
target, and whether the account already holds resources of this app and environment;
the Docker engine answers (and its API version); the git work tree (commit, uncommitted
changes) and its Dockerfile; the domain's hosted zone when one is configured.

Each line is ok, warn or fail, with what to do. Exit 1 when any check fails. up and phase
run the same checks first and stop on a failure before changing anything.`,
		Example: `  fvdeploy doctor --env prod
  fvdeploy doctor --env prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:...
  fvdeploy doctor --env prod --output json | jq '.checks[] | select(.status != "ok")'`,
		Args: cobra.NoArgs,
		// A broken config is one of the things reported, not a reason not to run.
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.checkFlags() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			cfg, cfgErr := workspace.LoadConfig(a.workspaceOptions())
			a.cfg = cfg
			// Without --image, check for a run that builds.
			report, _ := a.preflight(ctx, cfgErr, decideImage(image, true))
			data := doctorJSON{OK: len(report.Failed()) == 0, Checks: report.Checks}
			if cfg != nil {
				data.App, data.Env = cfg.App, cfg.Env
			}
			if err := a.emit(data, func(w io.Writer) { renderDoctor(w, report) }); err != nil {
				return err
			}
			if failed := len(report.Failed()); failed > 0 {
				return fmt.Errorf("%w: %d of %d checks failed", errPreflight, failed, len(report.Checks))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "check for a run that deploys this existing image: no Docker engine, git tree or Dockerfile needed")
	return cmd
}

type doctorJSON struct {
	App    string         `json:"app,omitempty"`
	Env    string         `json:"env,omitempty"`
	OK     bool           `json:"ok"`
	Checks []doctor.Check `json:"checks"`
}

// preflight runs the doctor's checks for a run that deploys image (Docker and git only
// when it builds); the workspace comes back when config, credentials and state are good.
func (a *app) preflight(ctx context.Context, cfgErr error, image imagechoice.Decision) (*doctor.Report, *workspace.Workspace) {
	return doctor.Run(ctx, doctor.Options{Config: a.cfg, ConfigErr: cfgErr, Workspace: a.workspaceOptions(), Build: image.Builds()})
}

// preflightError names the failed checks of a report, for up to stop on. It wraps the
// errors behind them, so that a missing region or credentials exit 2 as bad input.
func preflightError(r *doctor.Report) error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	lines := make([]string, len(failed))
	causes := []error{errPreflight}
	for i, c := range failed {
		lines[i] = fmt.Sprintf("%s: %s\n    fix: %s", c.Name, c.Detail, c.Fix)
		if c.Err != nil {
			causes = append(causes, c.Err)
		}
	}
	return &preflightFailure{
		msg:    fmt.Sprintf("%v, nothing was changed; run `fvdeploy doctor` for every check:\n  %s", errPreflight, strings.Join(lines, "\n  ")),
		causes: causes,
	}
}

// preflightFailure is a failed preflight: its message lists the checks, and it wraps
// errPreflight and the errors behind the checks.
type preflightFailure struct {
	msg    string
	causes []error
}

func (e *preflightFailure) Error() string   { return e.msg }
func (e *preflightFailure) Unwrap() []error { return e.causes }
