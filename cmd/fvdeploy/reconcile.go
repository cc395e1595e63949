package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/cost"
	"github.com/fvdeploy/fvdeploy/internal/doctor"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// plan shows what applying the selected phases would change, reading state without a
// lock. It is the body of plan.
func (a *app) plan(ctx context.Context, selected []phases.Phase, image imagechoice.Decision) error {
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
func (a *app) apply(ctx context.Context, op string, selected []phases.Phase, image imagechoice.Decision) error {
	return a.opened(ctx, opening{lock: op, preflight: true, image: image}, func(s *session, doc *state.Document, save engine.Saver) error {
		resources, eng, err := a.declare(s.in, selected)
		if err != nil {
			return err
		}
		eng.Report = a.report
		res, err := eng.Apply(s.ctx, resources, doc, withOutputs(save))
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

// withOutputs derives the outputs from the resources in every save, so that state never
// keeps the URL or image of what is gone, even after an interrupted run.
func withOutputs(save engine.Saver) engine.Saver {
	return func(ctx context.Context, doc *state.Document) error {
		doc.Outputs = phases.Outputs(doc)
		return save(ctx, doc)
	}
}

// refreshOutputs saves the outputs when a walk that saved nothing left them stale.
func refreshOutputs(ctx context.Context, doc *state.Document, save engine.Saver) error {
	outputs := phases.Outputs(doc)
	if maps.Equal(outputs, doc.Outputs) {
		return nil
	}
	doc.Outputs = outputs
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
func (a *app) declare(in *phases.Inputs, selected []phases.Phase) ([]engine.Resource, *engine.Engine, error) {
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
		case errors.Is(it.Err, phases.ErrDataKept):
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
	OutsideState []phases.Orphan `json:"outside_state,omitempty"`
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
	data.BuildsImage = slices.ContainsFunc(res.Items, phases.PendingBuild)
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

func renderDeployment(w io.Writer, m phases.DeploymentModel) {
	var rollback []string
	if m.CircuitBreaker {
		rollback = append(rollback, "the circuit breaker")
	}
	if len(m.RollbackAlarms) > 0 {
		rollback = append(rollback, "alarms "+strings.Join(m.RollbackAlarms, ", "))
	}
	by := strings.Join(rollback, " and ")
	if m.Strategy == config.StrategyRolling {
		fmt.Fprintf(w, "\nDeployment: %s, %d%% to %d%% of the desired tasks running; rolled back by %s.\n",
			m.Strategy, m.MinimumHealthyPercent, m.MaximumPercent, by)
		fmt.Fprintf(w, "  one rolling step ~%d s: health check every %d s × %d healthy + %d s deregistration delay + ~%d s task start\n",
			m.StepSeconds, m.HealthCheckInterval, m.HealthyThreshold, m.DeregistrationDelay, m.TaskStart)
		fmt.Fprintf(w, "  a deploy at %d desired task(s): %d step(s), ~%d s, then ECS watches the alarms for its bake time\n",
			m.DesiredCount, m.Steps, m.DeploySeconds)
		return
	}
	var shift string
	switch m.Strategy {
	case config.StrategyCanary:
		shift = fmt.Sprintf("%d%% of production traffic for %d min, then all of it", m.CanaryPercent, m.CanaryBakeMinutes)
	case config.StrategyLinear:
		shift = fmt.Sprintf("production traffic in %d steps of %d%%, %d min apart", m.TrafficShifts, m.LinearStepPercent, m.LinearStepBakeMinutes)
	default:
		shift = "all production traffic at once"
	}
	fmt.Fprintf(w, "\nDeployment: %s, a full new set of tasks in the alternate target group, then %s; both revisions kept %d min after; rolled back by %s.\n",
		m.Strategy, shift, m.BakeMinutes, by)
	fmt.Fprintf(w, "  new revision ready ~%d s: ~%d s task start + health check every %d s × %d healthy\n",
		m.ReadySeconds, m.TaskStart, m.HealthCheckInterval, m.HealthyThreshold)
	fmt.Fprintf(w, "  a deploy ~%s: %s\n", (time.Duration(m.DeploySeconds) * time.Second).String(), m.Formula)
}

func renderCost(w io.Writer, r resultJSON) {
	if r.Cost == nil {
		fmt.Fprintf(w, "Monthly cost: not estimated: %s.\n", r.CostUnavailable)
		return
	}
	c := r.Cost
	fmt.Fprintf(w, "\nEstimated monthly cost of %s-%s as configured (%s on-demand prices as of %s, USD):\n", r.App, r.Env, c.Region, c.PricesAsOf)
	for _, l := range c.Lines {
		fmt.Fprintf(w, "  %-28s %-34s %9.2f\n", l.Item, l.Quantity, l.Monthly)
	}
	fmt.Fprintf(w, "  %-63s %9.2f\n", "total", c.Total)
	fmt.Fprintf(w, "Assumes %s; excludes taxes and free tiers.\n", strings.Join(c.Assumed, ", "))
}

var actionMarks = map[engine.Action]string{
	engine.Create: "+", engine.Update: "~", engine.Replace: "-/+", engine.Delete: "-", engine.NoOp: " ", engine.Skip: "!",
}

// renderResult is the text form of up, phase, destroy and plan. A plan lists every
// change, since nothing was shown before it; after an apply, whose progress lines named
// each resource as it went, it is a summary: what changed or failed, with the details,
// resources without details named once per action and phase. verbose lists every
// resource, the unchanged too.
//
// A plan without --image says in one line that up would build and run a new image,
// instead of listing the build and what runs it as changes.
func renderResult(w io.Writer, r resultJSON, plan, verbose bool) {
	fmt.Fprintf(w, "%s-%s (account %s, %s)\n", r.App, r.Env, r.Account, r.Region)
	counts := map[engine.Action]int{}
	failed, kept := 0, 0
	changed := false
	// Resources without details, by action and phase, in the order first seen.
	grouped := map[string][]string{}
	var groups []string
	for _, it := range r.Items {
		if plan && r.BuildsImage && phases.PendingBuild(it) {
			continue
		}
		changed = changed || it.Action != engine.NoOp
		switch {
		case errors.Is(it.Err, phases.ErrDataKept):
			kept++
		case it.Err != nil && it.Action != engine.Skip:
			failed++
		default:
			counts[it.Action]++
		}
		if it.Action == engine.NoOp && it.Err == nil && !verbose {
			continue
		}
		detailed := len(it.Changes) > 0 || it.Reason != "" || it.Err != nil && it.Action != engine.Skip
		if plan || verbose || detailed {
			renderItem(w, it)
			continue
		}
		phase, name, _ := strings.Cut(it.Key, "/")
		g := string(it.Action) + " " + phase
		if grouped[g] == nil {
			groups = append(groups, g)
		}
		grouped[g] = append(grouped[g], name)
	}
	for _, g := range groups {
		action, phase, _ := strings.Cut(g, " ")
		renderGroup(w, actionMarks[engine.Action(action)], pastTense[engine.Action(action)]+" in "+phase+": ", grouped[g])
	}
	const build = "up would build a new image from the working tree and run it (not drift; plan --image URI compares with an existing image)"
	switch {
	case !changed && failed == 0 && plan && r.BuildsImage:
		fmt.Fprintf(w, "No changes: %d resources up to date; %s.\n", counts[engine.NoOp], build)
	case !changed && failed == 0:
		fmt.Fprintf(w, "No changes: %d resources up to date.\n", counts[engine.NoOp])
	case plan:
		if r.BuildsImage {
			fmt.Fprintf(w, "  *   %s\n", build)
		}
		fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to replace, %d to delete; %d unchanged",
			counts[engine.Create], counts[engine.Update], counts[engine.Replace], counts[engine.Delete], counts[engine.NoOp])
		if failed+counts[engine.Skip] > 0 {
			fmt.Fprintf(w, "; %d could not be checked, %d skipped", failed, counts[engine.Skip])
		}
		fmt.Fprintln(w, ".")
	default:
		fmt.Fprintf(w, "%d created, %d updated, %d replaced, %d deleted; %d unchanged, %d failed, %d skipped",
			counts[engine.Create], counts[engine.Update], counts[engine.Replace], counts[engine.Delete],
			counts[engine.NoOp], failed, counts[engine.Skip])
		if kept > 0 {
			fmt.Fprintf(w, ", %d kept for their data", kept)
		}
		fmt.Fprintln(w, ".")
	}
}

var pastTense = map[engine.Action]string{
	engine.Create: "created", engine.Update: "updated", engine.Replace: "replaced", engine.Delete: "deleted", engine.Skip: "skipped",
}

// renderItem is one resource's line and its details.
func renderItem(w io.Writer, it engine.Item) {
	mark, word := actionMarks[it.Action], string(it.Action)
	switch {
	case it.Action == engine.NoOp && it.Err != nil:
		// Only a failure shows an unchanged resource: it could not be found or recorded.
		mark, word = "!", "failed"
	case it.Action == engine.NoOp:
		word = "unchanged"
	}
	fmt.Fprintf(w, "  %-3s %-40s %s\n", mark, it.Key, word)
	for _, c := range it.Changes {
		fmt.Fprintf(w, "        %s\n", c)
	}
	if it.Reason != "" {
		fmt.Fprintf(w, "        because %s\n", it.Reason)
	}
	switch {
	case errors.Is(it.Err, phases.ErrDataKept):
		fmt.Fprintf(w, "        kept: %v\n", it.Err)
	case it.Err != nil && it.Action != engine.Skip:
		fmt.Fprintf(w, "        error: %v\n", it.Err)
	}
}

// renderGroup names resources on one line after the mark and head, wrapped at 100
// columns under the first name.
func renderGroup(w io.Writer, mark, head string, names []string) {
	line := fmt.Sprintf("  %-3s %s", mark, head)
	indent := strings.Repeat(" ", len(line))
	for i, n := range names {
		sep := ", "
		if i == len(names)-1 {
			sep = ""
		}
		if i > 0 && len(line)+len(n)+len(sep) > 100 {
			fmt.Fprintln(w, strings.TrimRight(line, " "))
			line = indent
		}
		line += n + sep
	}
	fmt.Fprintln(w, line)
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
