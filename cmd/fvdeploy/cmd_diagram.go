package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/diagram"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

func newDiagramCmd(a *app) *cobra.Command {
	var format, file string
	cmd := &cobra.Command{
		Use:   "diagram",
		Short: "Draw the architecture as deployed, as SVG or a Mermaid flowchart",
		Long: `Draw the environment as it is deployed, from the state and read-only calls to the
account: the VPC and its zones, the public and private subnets, the NAT gateways, the load
balancer and its listeners, the target group, the ECS service with its running and desired
tasks, the admin secret, the alarms (and which are in ALARM) and their topic, and the WAF,
hosted zone and certificate when present. It takes no lock. With nothing deployed it fails
and writes nothing.`,
		Example: `  fvdeploy diagram --env prod -f prod.svg
  fvdeploy diagram --env prod --format mermaid`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			render := map[string]func(io.Writer, *diagram.Model) error{"svg": diagram.SVG, "mermaid": diagram.Mermaid}[format]
			if render == nil {
				return usagef("--format: want svg or mermaid, got %q", format)
			}
			return a.opened(cmd.Context(), opening{}, func(s *session, doc *state.Document, _ engine.Saver) error {
				c := s.ws.Clients
				m, err := diagram.Build(s.ctx, doc, diagram.Live{ECS: c.ECS(), ELB: c.ELB(), CloudWatch: c.CloudWatch()})
				if errors.Is(err, diagram.ErrNothingDeployed) {
					return fmt.Errorf("diagram: nothing deployed for %s (state %s): run `fvdeploy up --env %s` first", a.env, s.ws.Backend.Where(), a.env)
				}
				if err != nil {
					return fmt.Errorf("diagram: %w", err)
				}
				var buf bytes.Buffer
				if err := render(&buf, m); err != nil {
					return fmt.Errorf("diagram: rendering: %w", err)
				}
				if file == "" {
					_, err := a.out.Write(buf.Bytes())
					return err
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					return fmt.Errorf("diagram: writing %s: %w", file, err)
				}
				a.progressf("wrote %s", file)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "svg", "svg or mermaid")
	// -o is the global --output; the diagram goes to a file with -f.
	cmd.Flags().StringVarP(&file, "file", "f", "", "write the diagram to this file instead of stdout")
	return cmd
}
