package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print fvdeploy's version",
		Args:  cobra.NoArgs,
		// The version needs no environment or config.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(*cobra.Command, []string) error {
			data := map[string]string{"version": version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			return a.emit(data, func(w io.Writer) {
				fmt.Fprintf(w, "fvdeploy %s (%s, %s)\n", data["version"], data["go"], data["platform"])
			})
		},
	}
}
