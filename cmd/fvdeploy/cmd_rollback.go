package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/rollout"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func newRollbackCmd(a *app) *cobra.Command {
	var wait rolloutFlags
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Put the previous task definition revision back on the service and wait",
		Long: `Point the service at the task definition revision before the one it runs, and wait
for the rollout as deploy does. The revision rolled back from is deregistered, so that a
later up keeps the service where the rollback put it until the next deploy.`,
		Example: `  fvdeploy rollback --env prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := wait.validate(); err != nil {
				return err
			}
			return a.opened(cmd.Context(), opening{lock: "rollback"}, func(s *session, doc *state.Document, save engine.Saver) error {
				ctx, ws := s.ctx, s.ws
				api, target := ws.Clients.ECS(), rolloutTarget(ws, phases.DeployedObjects(doc))
				current, previous, err := rollout.Previous(ctx, api, target, phases.TaskFamily(ws.Config))
				if err != nil {
					return fmt.Errorf("rollback: %w", err)
				}
				a.progressf("rolling back from %s to %s ...", revision(current), revision(previous))
				r, err := rollout.Roll(ctx, api, target, previous, a.rolloutOptions(ws, wait))
				if err != nil {
					return fmt.Errorf("rollback: %w", err)
				}
				// State records the revision that runs, so that a plain up keeps it.
				td, err := rollout.Forget(ctx, api, current, previous)
				if err == nil && phases.RecordTaskDefinition(doc, td) {
					err = save(ctx, doc)
				}
				if err != nil {
					return fmt.Errorf("rollback: the service runs %s, but: %w", revision(previous), err)
				}
				return a.emitRollout("rollback", doc, r)
			})
		},
	}
	wait.register(cmd)
	return cmd
}
