package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/rotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func newSecretsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the service's admin credentials in Secrets Manager",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Set a new random admin password and roll the service onto it, refusing no client",
		Long: `Rotate ADMIN_PASS (the user stays) in two stages, each rolled out to every task:

  A  the new password is stored, the current one kept as ADMIN_PASS_PREVIOUS, which the
     service also accepts: old and new tasks all accept the old password;
  B  once every task runs stage A, the previous password is cleared and the service
     rolled again: afterwards only the new password is accepted.

When the secret rotates automatically (secrets.rotation_days > 0, the default in prod),
Secrets Manager rotates it now with fvdeploy's rotation function, which does both
stages, and this command waits for each to be stored and rolled out; otherwise fvdeploy
does them itself. A rotation stopped between its stages (Ctrl-C, a timeout) is finished by
the next run.
fvdeploy never shows the password; it tells you how to read it from Secrets Manager.`,
		Example: `  fvdeploy secrets rotate --env prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.opened(cmd.Context(), opening{lock: "secrets rotate"}, func(s *session, doc *state.Document, _ engine.Saver) error {
				ctx, ws, in := s.ctx, s.ws, s.in
				target, err := phases.RotationTarget(in, doc)
				if err != nil {
					return err
				}
				sm, opts := ws.Clients.SecretsManager(), rotation.Options{NewPassword: phases.NewAdminPassword, Progress: a.progressf}
				fn, err := rotation.RotatedBy(ctx, sm, target.Secret)
				if err != nil {
					return err
				}
				var res *rotation.Result
				if fn != "" {
					// The same path as the schedule's: the function does both stages.
					a.progressf("secret %s rotates with Lambda function %s: rotating now through Secrets Manager", target.Secret, fn)
					res, err = rotation.Follow(ctx, sm, ws.Clients.ECS(), target, opts)
				} else {
					res, err = rotation.Run(ctx, sm, ws.Clients.ECS(), target, opts)
				}
				if err != nil {
					return fmt.Errorf("rotating the admin password: %w; run `fvdeploy secrets rotate --env %s` again to finish it", err, ws.Config.Env)
				}
				a.progressf("fvdeploy never shows the password. Read it with: %s", phases.ReadAdminSecretCommand(in))
				data := map[string]any{"rotated": true, "resumed": res.Resumed, "secret": doc.Outputs["admin_secret"], "service": doc.Outputs["service"]}
				return a.emit(data, func(w io.Writer) { renderRotation(w, ws.Config.App, ws.Config.Env, res.Resumed) })
			})
		},
	})
	return cmd
}
