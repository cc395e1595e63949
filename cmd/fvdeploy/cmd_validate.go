package main

import "github.com/spf13/cobra"

func newValidateCmd(a *app) *cobra.Command {
	var chaos bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Prove the deployment works: HTTPS and Basic Auth, healthy targets, logs flowing",
		Example: `  fvdeploy validate --env prod
  fvdeploy validate --env prod --chaos   # stop a task and time the recovery`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return notImplemented("validate") },
	}
	cmd.Flags().BoolVar(&chaos, "chaos", false, "stop one task and measure how long until the service is whole again")
	return cmd
}
