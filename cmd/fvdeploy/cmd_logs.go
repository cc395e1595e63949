package main

import (
	"time"

	"github.com/spf13/cobra"
)

func newLogsCmd(a *app) *cobra.Command {
	var follow bool
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the service's CloudWatch logs",
		Example: `  fvdeploy logs --env prod --since 1h
  fvdeploy logs --env prod --follow`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return notImplemented("logs") },
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new log events")
	cmd.Flags().DurationVar(&since, "since", 10*time.Minute, "start this long ago")
	return cmd
}
