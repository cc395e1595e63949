package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/image"
)

func newBuildCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "build",
		Short: "Build the service image with the local Docker engine, without pushing it",
		Long: `Build the image from the git work tree's Dockerfile (image.dockerfile in the folder
image.context, by default the root's), as up and deploy would, and tag it
<repository>:<commit> and <repository>:latest in the local engine. Nothing reaches AWS:
use it to try the image locally; up, deploy or phase image push it.`,
		Example: `  fvdeploy build
  docker run --rm -e ADMIN_USER=admin -e ADMIN_PASS=... -p 8000:8000 fastapi-vars:latest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			img := a.cfg.Image
			tags, err := image.BuildLocal(ctx, image.SourceConfig{Context: img.Context, Dockerfile: img.Dockerfile, Platform: img.Platform,
				BuildArgs: img.BuildArgs, Repository: a.cfg.ImageRepository()}, a.progressf)
			if err != nil {
				return fmt.Errorf("build: %w", err)
			}
			return a.emit(map[string]any{"tags": tags}, func(w io.Writer) { renderBuilt(w, tags) })
		},
	}
}
