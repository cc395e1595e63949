package main

import "github.com/spf13/cobra"

func newDeployCmd(a *app) *cobra.Command {
	var image string
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "CI fast path: build and push the image, register a task definition, roll the service, wait",
		Example: `  fvdeploy deploy --env prod
  fvdeploy deploy --env prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:...`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return notImplemented("deploy") },
	}
	cmd.Flags().StringVar(&image, "image", "", "roll out this existing image instead of building one")
	return cmd
}
