package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

func newUnlockCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Clear a stale state lock left by a run that died",
		Long: `Clear the environment's state lock. Use it only when the run holding the lock is
gone (a CI job killed mid-run, a laptop that lost its network): two runs acting on one
environment at once can leave it half-changed. A local lock held by a process that is
still running on this machine is never cleared; stop that process instead.`,
		Example: `  fvdeploy unlock --env prod --state s3://my-team-state/fvdeploy`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			backend, err := workspace.OpenBackend(ctx, a.cfg, a.workspaceOptions())
			if err != nil {
				return err
			}
			holder, err := backend.ForceUnlock(ctx)
			if err != nil {
				return fmt.Errorf("unlocking %s: %w", backend.Where(), err)
			}
			data := map[string]any{"state": backend.Where(), "was_locked": holder != nil, "holder": holder}
			return a.emit(data, func(w io.Writer) { renderUnlock(w, backend.Where(), holder) })
		},
	}
}
