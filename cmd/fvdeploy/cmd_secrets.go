package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/secrets"
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
				ctx, ws := s.ctx, s.ws
				secretName := secrets.AdminSecretName(ws.Config)
				d := phases.DeployedObjects(doc)
				target := rotation.Target{Secret: d.Secret, Cluster: d.Cluster, Service: d.Service}
				if err := target.Check(secretName, ws.Config.Env); err != nil {
					return err
				}
				res, err := rotation.Rotate(ctx, ws.Clients.SecretsManager(), ws.Clients.ECS(), target,
					rotation.Options{NewPassword: rotation.NewPassword, Progress: a.progressf})
				if err != nil {
					return fmt.Errorf("rotating the admin password: %w; run `fvdeploy secrets rotate --env %s` again to finish it", err, ws.Config.Env)
				}
				a.progressf("fvdeploy never shows the password. Read it with: %s", rotation.ReadCommand(secretName, ws.Region()))
				data := map[string]any{"rotated": true, "resumed": res.Resumed, "secret": doc.Outputs["admin_secret"], "service": doc.Outputs["service"]}
				return a.emit(data, func(w io.Writer) { renderRotation(w, ws.Config.App, ws.Config.Env, res.Resumed) })
			})
		},
	})
	return cmd
}
