package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/rollout"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// releaseTag is a semantic version as an image tag allows it (no build metadata).
var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// rolloutFlags are how deploy and rollback wait.
type rolloutFlags struct {
	noWait      bool
	waitTimeout time.Duration
}

func (f *rolloutFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.noWait, "no-wait", false, "return once ECS has accepted the new task definition, without waiting for the rollout")
	cmd.Flags().DurationVar(&f.waitTimeout, "wait-timeout", 20*time.Minute, "fail when the rollout has not completed after this long")
}

func (f *rolloutFlags) validate() error {
	if f.waitTimeout <= 0 {
		return usagef("--wait-timeout: must be positive")
	}
	return nil
}

func newDeployCmd(a *app) *cobra.Command {
	var image, release string
	var wait rolloutFlags
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "CI fast path: build and push the image, register a task definition, roll the service, wait",
		Long: `Build the image from the git work tree and push it (skipped when the registry already
holds it for this commit), register a new task definition revision if anything in it
changed, point the service at it, and wait until the rollout has completed: the PRIMARY
deployment runs the new revision with as many tasks running as desired.

A rollout that the deployment circuit breaker rolls back, that a deployment alarm (the
service's 5xx or p95 latency alarm) rolls back, or that has not completed within
--wait-timeout, fails (exit 1) with the alarm's name, the service's last events and why
its tasks stopped. The network, the secret and the cluster must exist already (fvdeploy up).`,
		Example: `  fvdeploy deploy --env prod
  fvdeploy deploy --env prod --release v1.4.0
  fvdeploy deploy --env prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if release != "" && !releaseTag.MatchString(release) {
				return usagef("--release: %q is not a version like v1.2.3", release)
			}
			if release != "" && image != "" {
				return usagef("--release tags the image deploy builds; with --image nothing is built")
			}
			if err := wait.validate(); err != nil {
				return err
			}
			// deploy always builds, unless it is given the image.
			o := opening{lock: "deploy", image: decideImage(image, true), release: release}
			return a.opened(cmd.Context(), o, func(s *session, doc *state.Document, save engine.Saver) error {
				resources, err := phases.DeployResources(s.in)
				if err != nil {
					return err
				}
				deployed := phases.DeployedObjects(doc)
				if deployed.Service == "" {
					return fmt.Errorf("deploy: no ECS service in %s's state: run `fvdeploy up --env %s` first", s.ws.Config.Env, s.ws.Config.Env)
				}
				// Nothing outside these resources is pruned: deploy changes what runs, no more.
				eng := &engine.Engine{Scope: func(string) bool { return false }, Report: a.report}
				res, err := eng.Apply(s.ctx, resources, doc, save)
				if err != nil {
					return err
				}
				if err := res.Err(); err != nil {
					return interrupted(s.ctx, "deploy", err)
				}
				if err := refreshOutputs(s.ctx, doc, save); err != nil {
					return err
				}
				deployed = phases.DeployedObjects(doc)
				r, err := rollout.Roll(s.ctx, s.ws.Clients.ECS(), rolloutTarget(s.ws, deployed), deployed.TaskDefinition, a.rolloutOptions(s.ws, wait))
				if err != nil {
					return fmt.Errorf("deploy: %w", err)
				}
				return a.emitRollout("deploy", doc, r)
			})
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "roll out this existing image instead of building one")
	cmd.Flags().StringVar(&release, "release", "", "also tag the image with this version (vX.Y.Z); release tags never move")
	wait.register(cmd)
	return cmd
}

func revision(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// rolloutTarget names the service that state records and the deployment alarms it is
// created with.
func rolloutTarget(ws *workspace.Workspace, d phases.Deployed) rollout.Target {
	return rollout.Target{Cluster: d.Cluster, Service: d.Service, Alarms: phases.Deployment(ws.Config).RollbackAlarms, Env: ws.Config.Env}
}

// rolloutOptions shows the rollout as it goes: each new stage and each new service event
// once, and the stage with the deployment's counts as a wait (redrawn in place on a terminal, repeated sparingly in
// CI logs, an event each under --output json).
func (a *app) rolloutOptions(ws *workspace.Workspace, wait rolloutFlags) rollout.Options {
	p := a.progress()
	return rollout.Options{
		Wait: !wait.noWait, Timeout: wait.waitTimeout, Deploy: ws.Config.Deploy,
		Event: func(at time.Time, msg string) { p.Notef("%s %s", at.UTC().Format("15:04:05"), msg) },
		// Each stage once, in order: what the person waiting wants to know first.
		Stage: func(s rollout.Stage) { p.Notef("rollout: %s", s) },
		Status: func(s rollout.Status) {
			p.Wait("deployment "+s.Deployment, s.String())
		},
	}
}

type rolloutJSON struct {
	Command string `json:"command"`
	App     string `json:"app"`
	Env     string `json:"env"`
	*rollout.Result
	Image string `json:"image,omitempty"`
	// URL is where the service answers: CI reports it without a `status`, which would
	// need reads the deploy role does not have.
	URL string `json:"url,omitempty"`
}

func (a *app) emitRollout(command string, doc *state.Document, r *rollout.Result) error {
	data := rolloutJSON{Command: command, App: doc.App, Env: doc.Env, Result: r, Image: doc.Outputs["image"], URL: doc.Outputs["url"]}
	return a.emit(data, func(w io.Writer) { renderRollout(w, data) })
}
