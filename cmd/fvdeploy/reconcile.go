package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// reconcile runs the selected phases through the engine: a plan when dryRun, else an
// apply under the state lock. It is the body of up, plan and phase.
func (a *app) reconcile(ctx context.Context, op string, selected []phases.Phase, image string, dryRun bool) error {
	// Refuse before touching AWS: a half-capable run must not look like a success.
	for _, p := range selected {
		if !p.Implemented() {
			return &phases.NotImplementedError{Phase: p.Name}
		}
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	ws, err := a.open(ctx)
	if err != nil {
		return err
	}
	in := a.inputs(ws, image)
	in.BuildImage = slices.ContainsFunc(selected, func(p phases.Phase) bool { return p.Name == "image" })
	var resources []engine.Resource
	names := make([]string, 0, len(selected))
	for _, p := range selected {
		rs, err := p.Declare(in)
		if err != nil {
			return err
		}
		resources = append(resources, rs...)
		names = append(names, p.Name)
	}
	deleters, err := phases.Deleters(in)
	if err != nil {
		return err
	}
	eng := &engine.Engine{
		Deleters: deleters,
		Scope: func(key string) bool {
			phase, _, _ := strings.Cut(key, "/")
			return slices.Contains(names, phase)
		},
	}
	if dryRun {
		doc, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		res, err := eng.Plan(ctx, resources, doc)
		if err != nil {
			return err
		}
		if err := res.Err(); err != nil {
			return err
		}
		return a.emitResult(ws, "plan", res)
	}
	eng.Report = newProgress(a).event
	return ws.Locked(ctx, op, func(doc *state.Document, save engine.Saver) error {
		res, err := eng.Apply(ctx, resources, doc, save)
		if err != nil {
			return err
		}
		if outputs := phases.Outputs(doc); !maps.Equal(outputs, doc.Outputs) {
			doc.Outputs = outputs
			if err := save(context.WithoutCancel(ctx), doc); err != nil {
				return fmt.Errorf("saving outputs: %w", err)
			}
		}
		if err := a.emitResult(ws, op, res); err != nil {
			return err
		}
		return interrupted(ctx, op, a.reportKept(res))
	})
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

// inputs is what phases declare their resources from.
func (a *app) inputs(ws *workspace.Workspace, image string) *phases.Inputs {
	return &phases.Inputs{
		Config: ws.Config, Account: ws.Identity.Account, Region: ws.Region(), AWS: ws.Clients,
		Image: image, Getenv: os.Getenv, Progress: a.progressf,
	}
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
}

func (a *app) emitResult(ws *workspace.Workspace, command string, res *engine.Result) error {
	data := resultJSON{
		Command: command, App: ws.Config.App, Env: ws.Config.Env, Account: ws.Identity.Account,
		Region: ws.Region(), Changed: res.Changed(), Items: res.Items,
	}
	return a.emit(data, func(w io.Writer) { renderResult(w, data, command == "plan") })
}

var actionMarks = map[engine.Action]string{
	engine.Create: "+", engine.Update: "~", engine.Replace: "-/+", engine.Delete: "-", engine.NoOp: " ", engine.Skip: "!",
}

func renderResult(w io.Writer, r resultJSON, plan bool) {
	fmt.Fprintf(w, "%s-%s (account %s, %s)\n", r.App, r.Env, r.Account, r.Region)
	counts := map[engine.Action]int{}
	failed, kept := 0, 0
	for _, it := range r.Items {
		switch {
		case errors.Is(it.Err, phases.ErrDataKept):
			kept++
		case it.Err != nil && it.Action != engine.Skip:
			failed++
		default:
			counts[it.Action]++
		}
		if it.Action == engine.NoOp && it.Err == nil {
			continue
		}
		fmt.Fprintf(w, "  %-3s %-40s %s\n", actionMarks[it.Action], it.Key, it.Action)
		for _, c := range it.Changes {
			fmt.Fprintf(w, "        %s\n", c)
		}
		switch {
		case errors.Is(it.Err, phases.ErrDataKept):
			fmt.Fprintf(w, "        kept: %v\n", it.Err)
		case it.Err != nil && it.Action != engine.Skip:
			fmt.Fprintf(w, "        error: %v\n", it.Err)
		}
	}
	switch {
	case !r.Changed && failed == 0:
		fmt.Fprintf(w, "No changes: %d resources up to date.\n", counts[engine.NoOp])
	case plan:
		fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to replace, %d to delete; %d unchanged.\n",
			counts[engine.Create], counts[engine.Update], counts[engine.Replace], counts[engine.Delete], counts[engine.NoOp])
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

// progress prints, on stderr, each change as it starts and ends, with its duration.
type progress struct {
	a       *app
	mu      sync.Mutex
	started map[string]time.Time
}

func newProgress(a *app) *progress { return &progress{a: a, started: map[string]time.Time{}} }

func (p *progress) event(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Status {
	case engine.Started:
		p.started[ev.Key] = time.Now()
		p.a.progressf("%s %s ...", ing(ev.Action), ev.Key)
	case engine.Done:
		p.a.progressf("%s %s (%s)", ed(ev.Action), ev.Key, time.Since(p.started[ev.Key]).Round(100*time.Millisecond))
	case engine.Failed:
		p.a.progressf("FAILED %s: %v", ev.Key, ev.Err)
	}
}

func ing(a engine.Action) string {
	return map[engine.Action]string{engine.Create: "creating", engine.Update: "updating", engine.Replace: "replacing", engine.Delete: "deleting"}[a]
}

func ed(a engine.Action) string {
	return map[engine.Action]string{engine.Create: "created", engine.Update: "updated", engine.Replace: "replaced", engine.Delete: "deleted"}[a]
}
