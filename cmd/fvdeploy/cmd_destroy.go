package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/sweep"
)

func newDestroyCmd(a *app) *cobra.Command {
	var purgeData bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete everything fvdeploy created for an environment, in reverse order",
		Long: `Delete every resource the environment's state records, dependents first, removing
each from state as soon as it is gone, and every object that carries the environment's
ownership tags but that state does not record (a create whose answer was lost, a lost
state): those are listed as "found outside state" before anything is deleted. It asks you to type the environment's name; without
a terminal it needs --yes. After a partial failure, run it again: it continues where it
stopped. Buckets that hold data (audit trail, access logs) are kept unless you pass
--purge-data; destroy then says what it kept.`,
		Example: `  fvdeploy destroy --env dev
  fvdeploy destroy --env hml --yes   # in CI
  fvdeploy destroy --env dev --purge-data   # also empty and delete log buckets`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !a.yes && !isTerminal(a.in) {
				return usagef("destroy deletes resources: pass --yes to confirm when not running in a terminal")
			}
			return a.opened(cmd.Context(), opening{lock: "destroy", purgeData: purgeData}, func(s *session, doc *state.Document, save engine.Saver) error {
				ctx, ws := s.ctx, s.ws
				deleters, err := phases.Deleters(s.in)
				if err != nil {
					return err
				}
				eng := &engine.Engine{Deleters: deleters, Report: a.report}
				planned, err := eng.PlanDestroy(nil, doc)
				if err != nil {
					return err
				}
				orphans, err := sweep.Sweep(ctx, s.in, doc)
				if err != nil {
					return err
				}
				for _, o := range orphans {
					a.progressf("found outside state: %s", o)
				}
				if len(planned.Items) == 0 && len(orphans) == 0 {
					a.progressf("Nothing to destroy: %s has no resources for %s-%s.", ws.Backend.Where(), ws.Config.App, ws.Config.Env)
					if err := refreshOutputs(ctx, doc, save); err != nil {
						return err
					}
					return a.emitResult(ws, "destroy", planned)
				}
				if !a.yes {
					a.progressf("This deletes %d resources of %s-%s in account %s (%s):", len(planned.Items)+len(orphans), ws.Config.App, ws.Config.Env, ws.Identity.Account, ws.Region())
					for _, it := range planned.Items {
						a.progressf("  - %s (%s)", it.Key, it.Type)
					}
					for _, o := range orphans {
						a.progressf("  - %s (%s, found outside state)", o.Key, o.Type)
					}
					if err := confirm(a, ws.Config.Env); err != nil {
						return err
					}
				}
				// State records the orphans from the first save on, so that a destroy
				// stopped halfway resumes them like the rest.
				sweep.AddOrphans(doc, orphans)
				res, err := eng.Destroy(ctx, nil, doc, save)
				if err != nil {
					return err
				}
				if err := refreshOutputs(ctx, doc, save); err != nil {
					return err
				}
				data := newResult(ws, "destroy", res)
				data.OutsideState = orphans
				if err := a.emit(data, func(w io.Writer) { renderDestroy(w, data, a.verbose) }); err != nil {
					return err
				}
				return interrupted(ctx, "destroy", a.reportKept(res))
			})
		},
	}
	cmd.Flags().BoolVar(&purgeData, "purge-data", false, "also empty and delete buckets that hold logs or audit trails")
	return cmd
}

// confirm asks the person at the terminal to type the environment's name, as a guard
// against destroying the wrong one.
func confirm(a *app, env string) error {
	fmt.Fprintf(a.err, "Type %q to confirm: ", env)
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading confirmation: %w", err)
	}
	if strings.TrimSpace(line) != env {
		return errors.New("destroy canceled: confirmation did not match")
	}
	return nil
}

// isTerminal reports whether r is an interactive terminal (not /dev/null, a pipe or a
// file, as in CI).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
