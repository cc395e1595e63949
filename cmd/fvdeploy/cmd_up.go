package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// selection is the --image and --phases flags that up and plan share.
type selection struct {
	image string
	only  []string
}

func (s *selection) register(cmd *cobra.Command, verb string) {
	cmd.Flags().StringVar(&s.image, "image", "", verb+" this existing image (URI, ideally pinned by digest) instead of building one")
	cmd.Flags().StringSliceVar(&s.only, "phases", nil, verb+" only these phases, in the usual order (e.g. network,secrets,cluster)")
}

// phases keeps the named phases in their usual order (none named: all) and decides the
// image; an image given by the user replaces the build, so then the image phase is left
// out.
func (s *selection) phases() ([]kit.Phase, imagechoice.Decision, error) {
	for _, n := range s.only {
		if _, err := phases.Lookup(n); err != nil {
			return nil, imagechoice.Decision{}, &usageError{err: fmt.Errorf("--phases: %w", err)}
		}
	}
	selected := slices.DeleteFunc(phases.All(), func(p kit.Phase) bool {
		return len(s.only) > 0 && !slices.Contains(s.only, p.Name)
	})
	image := decideImage(s.image, slices.ContainsFunc(selected, isImagePhase))
	if image.Kind == imagechoice.Given {
		selected = slices.DeleteFunc(selected, isImagePhase)
	}
	return selected, image, nil
}

func isImagePhase(p kit.Phase) bool { return p.Name == "image" }

func newUpCmd(a *app) *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create or update every phase, in order; safe to re-run",
		Long: `Run every phase in dependency order (image, network, secrets, cluster, edge,
observability, cicd), creating what is missing, updating what drifted and leaving the
rest alone. A second run on a converged environment changes nothing. An interrupted run
is resumed by running it again: state is saved after every change.`,
		Example: `  fvdeploy up --env dev
  fvdeploy up --env prod --state s3://my-team-state/fvdeploy
  fvdeploy up --env prod --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			selected, image, err := sel.phases()
			if err != nil {
				return err
			}
			return a.apply(cmd.Context(), "up", selected, image)
		},
	}
	sel.register(cmd, "use")
	return cmd
}

func newPlanCmd(a *app) *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what up would change, and what the environment costs a month; changes nothing",
		Example: `  fvdeploy plan --env prod
  fvdeploy plan --env prod --output json | jq '.resources[] | select(.action != "no-op")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			selected, image, err := sel.phases()
			if err != nil {
				return err
			}
			return a.plan(cmd.Context(), selected, image)
		},
	}
	sel.register(cmd, "plan with")
	return cmd
}

func newPhaseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "phase NAME",
		Short: "Run one phase (image|network|secrets|cluster|edge|observability|cicd)",
		Long: `Run one phase alone. Resources of other phases that it depends on must already be
deployed; nothing outside the phase is created or deleted.`,
		Example: `  fvdeploy phase network --env hml`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return phases.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := phases.Lookup(args[0])
			if err != nil {
				return err
			}
			return a.apply(cmd.Context(), "phase "+p.Name, []kit.Phase{p}, decideImage("", isImagePhase(p)))
		},
	}
}
