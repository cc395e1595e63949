package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func newSecretsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the service's admin credentials in Secrets Manager",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Set a new random admin password and roll the service onto it",
		Long: `Store a new random ADMIN_PASS (the user stays), then start a new deployment of the
service so that its tasks read it, and wait until the deployment is steady. fvdeploy never
shows the password; it tells you how to read it from Secrets Manager.`,
		Example: `  fvdeploy secrets rotate --env prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			ws, err := a.open(ctx)
			if err != nil {
				return err
			}
			in := a.inputs(ws, "")
			return ws.Locked(ctx, "secrets rotate", func(doc *state.Document, _ engine.Saver) error {
				if err := phases.RotateAdminPassword(ctx, in, doc); err != nil {
					return err
				}
				a.progressf("rolling the service so that its tasks read the new password ...")
				if err := phases.RollService(ctx, in, doc); err != nil {
					return fmt.Errorf("the password is rotated, but the service did not roll onto it: %w", err)
				}
				data := map[string]any{"rotated": true, "secret": doc.Outputs["admin_secret"], "service": doc.Outputs["service"]}
				return a.emit(data, func(w io.Writer) {
					fmt.Fprintf(w, "Rotated the admin password of %s-%s; the service runs with it.\n", ws.Config.App, ws.Config.Env)
				})
			})
		},
	})
	return cmd
}
