package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/cost"
	"github.com/fvdeploy/fvdeploy/internal/doctor"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/sweep"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// plan shows what applying the selected phases would change, reading state without a
// lock. It is the body of plan.
func (a *app) plan(ctx context.Context, selected []kit.Phase, image imagechoice.Decision) error {
	return a.opened(ctx, opening{image: image}, func(s *session, doc *state.Document, _ engine.Saver) error {
		resources, eng, err := a.declare(s.in, selected)
		if err != nil {
			return err
		}
		res, err := eng.Plan(s.ctx, resources, doc)
		if err != nil {
			return err
		}
		// The rest of the plan is worth seeing even when some resources could not be
		// checked; those still fail the command.
		if err := a.emitPlan(s.ws, res); err != nil {
			return err
		}
		return res.Err()
	})
}

// apply runs the selected phases through the engine under the state lock, after the
// doctor's checks. It is the body of up and phase.
func (a *app) apply(ctx context.Context, op string, selected []kit.Phase, image imagechoice.Decision) error {
	return a.opened(ctx, opening{lock: op, preflight: true, image: image}, func(s *session, doc *state.Document, save engine.Saver) error {
		resources, eng, err := a.declare(s.in, selected)
		if err != nil {
			return err
		}
		eng.Report = a.report
		res, err := eng.Apply(s.ctx, resources, doc, save)
		if err != nil {
			return err
		}
		if err := refreshOutputs(s.ctx, doc, save); err != nil {
			return err
		}
		if err := a.emitResult(s.ws, op, res); err != nil {
			return err
		}
		return interrupted(s.ctx, op, a.reportKept(res))
	})
}

// refreshOutputs saves when the outputs are stale: after a walk that saved nothing, or a
// change to what runs. The save derives them (workspace.Options.Outputs).
func refreshOutputs(ctx context.Context, doc *state.Document, save engine.Saver) error {
	if maps.Equal(phases.Outputs(doc), doc.Outputs) {
		return nil
	}
	if err := save(context.WithoutCancel(ctx), doc); err != nil {
		return fmt.Errorf("saving outputs: %w", err)
	}
	return nil
}

// preflightApply runs the doctor's checks before up or phase changes anything: warnings are
// shown, a failure stops it.
func (a *app) preflightApply(ctx context.Context, image imagechoice.Decision) (*workspace.Workspace, error) {
	report, ws := a.preflight(ctx, nil, image)
	for _, c := range report.Checks {
		if c.Status == doctor.Warn {
			a.progressf("preflight: %s: %s (%s)", c.Name, c.Detail, c.Fix)
		}
	}
	if err := preflightError(report); err != nil {
		return nil, err
	}
	return ws, nil
}

// declare gathers the selected phases' resources and an engine whose pruning stays
// within those phases.
func (a *app) declare(in *kit.Inputs, selected []kit.Phase) ([]engine.Resource, *engine.Engine, error) {
	var resources []engine.Resource
	names := make([]string, 0, len(selected))
	for _, p := range selected {
		rs, err := p.Declare(in)
		if err != nil {
			return nil, nil, err
		}
		resources = append(resources, rs...)
		names = append(names, p.Name)
	}
	deleters, err := phases.Deleters(in)
	if err != nil {
		return nil, nil, err
	}
	return resources, &engine.Engine{
		Deleters: deleters,
		Scope: func(key string) bool {
			phase, _, _ := strings.Cut(key, "/")
			return slices.Contains(names, phase)
		},
	}, nil
}

// reportKept tells the person which objects were deliberately left because they hold
// data, and returns the other failures: keeping data is what was asked for, not an error.
func (a *app) reportKept(res *engine.Result) error {
	var failed []error
	for _, it := range res.Items {
		switch {
		case it.Err == nil || it.Action == engine.Skip:
		case errors.Is(it.Err, kinds.ErrDataKept):
			a.progressf("kept %s: %v", it.Key, it.Err)
		default:
			failed = append(failed, it.Err)
		}
	}
	return errors.Join(failed...)
}

// interrupted adds to a failure what a person needs after Ctrl-C or a timeout: that
// state is saved and that running the command again resumes.
func interrupted(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		why := "interrupted"
		if errors.Is(cerr, context.DeadlineExceeded) {
			why = "timed out (see --timeout)"
		}
		return errors.Join(fmt.Errorf("%s: %s; what was done is saved in state, run `fvdeploy %s` again to resume", op, why, op), err)
	}
	return err
}

type resultJSON struct {
	Command string        `json:"command"`
	App     string        `json:"app"`
	Env     string        `json:"env"`
	Account string        `json:"account"`
	Region  string        `json:"region"`
	Changed bool          `json:"changed"`
	Items   []engine.Item `json:"resources"`
	// Cost is plan's monthly estimate of the environment as configured.
	Cost *cost.Estimate `json:"cost,omitempty"`
	// CostUnavailable says why there is no estimate (a region missing from the table).
	CostUnavailable string `json:"cost_unavailable,omitempty"`
	// BuildsImage says that up (no --image) would build a new image from the work tree and
	// run it: the items phases.PendingBuild picks out are that, not drift.
	BuildsImage bool `json:"builds_image,omitempty"`
	// Deployment is plan's model of how the service rolls out and how long it takes.
	Deployment *phases.DeploymentModel `json:"deployment,omitempty"`
	// OutsideState lists what destroy found by the environment's tags that state did not
	// record; its items are among the resources, under the keys given here.
	OutsideState []sweep.Orphan `json:"outside_state,omitempty"`
}

func newResult(ws *workspace.Workspace, command string, res *engine.Result) resultJSON {
	return resultJSON{
		Command: command, App: ws.Config.App, Env: ws.Config.Env, Account: ws.Identity.Account,
		Region: ws.Region(), Changed: res.Changed(), Items: res.Items,
	}
}

func (a *app) emitResult(ws *workspace.Workspace, command string, res *engine.Result) error {
	data := newResult(ws, command, res)
	return a.emit(data, func(w io.Writer) { renderResult(w, data, false, a.verbose) })
}

// emitPlan is the plan and the monthly cost of the environment as configured.
func (a *app) emitPlan(ws *workspace.Workspace, res *engine.Result) error {
	data := newResult(ws, "plan", res)
	data.BuildsImage = slices.ContainsFunc(res.Items, image.PendingBuild)
	est, err := cost.Of(ws.Config, ws.Region(), cost.DefaultAssumptions)
	var noPrices *cost.ErrNoPrices
	switch {
	case errors.As(err, &noPrices):
		data.CostUnavailable = err.Error()
	case err != nil:
		return err
	default:
		data.Cost = est
	}
	model := phases.Deployment(ws.Config)
	data.Deployment = &model
	return a.emit(data, func(w io.Writer) {
		renderResult(w, data, true, a.verbose)
		renderDeployment(w, model)
		renderCost(w, data)
	})
}

// report passes the engine's events to the progress renderer.
func (a *app) report(ev engine.Event) {
	p := a.progress()
	switch ev.Status {
	case engine.Started:
		p.Start(ev.Key, string(ev.Action))
	case engine.Done:
		p.Done(ev.Key, string(ev.Action))
	case engine.Failed:
		p.Fail(ev.Key, string(ev.Action), ev.Err)
	case engine.Noted:
		a.progressf("%s: %s", ev.Key, ev.Note)
	}
}
