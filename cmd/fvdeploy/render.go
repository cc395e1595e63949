package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/doctor"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/tail"
	"github.com/fvdeploy/fvdeploy/internal/validate"
)

// The text forms of the commands' results, for people; --output json writes the data
// instead. Progress while a command runs is internal/progress's.

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
		if plan && r.BuildsImage && image.PendingBuild(it) {
			continue
		}
		changed = changed || it.Action != engine.NoOp
		switch {
		case errors.Is(it.Err, kinds.ErrDataKept):
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
	case errors.Is(it.Err, kinds.ErrDataKept):
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

var actionMarks = map[engine.Action]string{
	engine.Create: "+", engine.Update: "~", engine.Replace: "-/+", engine.Delete: "-", engine.NoOp: " ", engine.Skip: "!",
}

var pastTense = map[engine.Action]string{
	engine.Create: "created", engine.Update: "updated", engine.Replace: "replaced", engine.Delete: "deleted", engine.Skip: "skipped",
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

func renderStatus(w io.Writer, s statusJSON) {
	fmt.Fprintf(w, "%s-%s (account %s, %s)\nstate: %s (serial %d)\n", s.App, s.Env, s.Account, s.Region, s.State, s.Serial)
	deployed := 0
	for _, r := range s.Resources {
		if r.Status != "not deployed" {
			deployed++
		}
	}
	if deployed == 0 {
		fmt.Fprintln(w, "Nothing deployed. Run `fvdeploy up --env "+s.Env+"` to deploy.")
		return
	}
	fmt.Fprintf(w, "%d resources:\n", deployed)
	for _, k := range slices.Sorted(maps.Keys(s.Resources)) {
		r := s.Resources[k]
		if r.Status == "not deployed" {
			continue
		}
		fmt.Fprintf(w, "  %-40s %-15s %s\n", k, r.Status, r.ID)
		for _, c := range r.Changes {
			fmt.Fprintf(w, "        %s\n", c)
		}
		if r.Reason != "" {
			fmt.Fprintf(w, "        because %s\n", r.Reason)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "        error: %s\n", r.Error)
		}
	}
	var pending []string
	for _, k := range slices.Sorted(maps.Keys(s.Resources)) {
		if s.Resources[k].Status == "not deployed" {
			pending = append(pending, k)
		}
	}
	if len(pending) > 0 {
		fmt.Fprintf(w, "declared but not deployed (`fvdeploy up` creates them): %s\n", strings.Join(pending, ", "))
	}
	if len(s.Outputs) > 0 {
		fmt.Fprintln(w, "outputs:")
		for _, k := range slices.Sorted(maps.Keys(s.Outputs)) {
			fmt.Fprintf(w, "  %s = %s\n", k, s.Outputs[k])
		}
	}
	if len(s.Alarms) > 0 {
		fmt.Fprintln(w, "alarms:")
		for _, al := range s.Alarms {
			fmt.Fprintf(w, "  %-40s %-17s %s\n", al.Name, al.State, al.Reason)
		}
	}
	if len(s.Subscriptions) > 0 {
		fmt.Fprintln(w, "alert subscribers:")
		for _, sub := range s.Subscriptions {
			confirmed := "pending confirmation"
			if sub.Confirmed {
				confirmed = "confirmed"
			}
			fmt.Fprintf(w, "  %-6s %-40s %s\n", sub.Protocol, sub.Endpoint, confirmed)
		}
	}
}

// renderValidate ends validate: the checks were shown as they finished, so only the
// failed and the skipped ones are told again (a reader must see what was not proven),
// with their evidence and fix; verbose lists every check.
func renderValidate(w io.Writer, v validateJSON, verbose bool) {
	fmt.Fprintf(w, "%s-%s at %s\n", v.App, v.Env, v.URL)
	for _, c := range v.Checks {
		var mark string
		switch {
		case c.Skipped:
			mark = "SKIP"
		case !c.OK:
			mark = "FAIL"
		case verbose:
			mark = "PASS"
		default:
			continue
		}
		fmt.Fprintf(w, "  %s %s\n       %s\n", mark, c.Name, c.Evidence)
		if mark == "FAIL" && c.Fix != "" {
			fmt.Fprintf(w, "       fix: %s\n", c.Fix)
		}
	}
	failed, skipped := validate.Failed(v.Checks), validate.Skipped(v.Checks)
	ran := len(v.Checks) - skipped
	tail := "."
	if skipped > 0 {
		tail = fmt.Sprintf("; %d skipped (not applicable).", skipped)
	}
	if failed == 0 {
		fmt.Fprintf(w, "All %d checks passed%s\n", ran, tail)
		return
	}
	fmt.Fprintf(w, "%d of %d checks failed%s\n", failed, ran, tail)
}

func renderDoctor(w io.Writer, r *doctor.Report) {
	counts := map[doctor.Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		fmt.Fprintf(w, "  %-5s %-12s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Status != doctor.OK {
			fmt.Fprintf(w, "  %-5s %-12s fix: %s\n", "", "", c.Fix)
		}
	}
	fmt.Fprintf(w, "%d ok, %d warnings, %d failed.\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail])
}

// renderRollout is the text form of deploy and rollback.
func renderRollout(w io.Writer, data rolloutJSON) {
	r := data.Result
	rev := revision(r.TaskDefinition)
	switch {
	case !r.Updated && r.Completed:
		fmt.Fprintf(w, "%s already runs %s (%s); nothing to roll out.\n", r.Service, rev, data.Image)
	case !r.Updated:
		fmt.Fprintf(w, "%s already runs %s (%s); not waiting (--no-wait).\n", r.Service, rev, data.Image)
	case r.Completed:
		fmt.Fprintf(w, "Rolled out %s to %s (%s): all tasks run it.\n", rev, r.Service, data.Image)
	default:
		fmt.Fprintf(w, "Started rolling out %s to %s (%s); not waiting (--no-wait). Follow it with `fvdeploy status --env %s`.\n", rev, r.Service, data.Image, data.Env)
	}
}

// renderDestroy is destroy's text form: its result, and how many of the deleted were
// found outside state.
func renderDestroy(w io.Writer, data resultJSON, verbose bool) {
	renderResult(w, data, false, verbose)
	if n := len(data.OutsideState); n > 0 {
		fmt.Fprintf(w, "%d of them were found outside state, by the tags of %s-%s.\n", n, data.App, data.Env)
	}
}

// renderRotation is the text form of secrets rotate.
func renderRotation(w io.Writer, app, env string, resumed bool) {
	what := "Rotated the admin password"
	if resumed {
		what = "Finished the interrupted rotation of the admin password"
	}
	fmt.Fprintf(w, "%s of %s-%s; every task runs with it and the previous password is refused.\n", what, app, env)
}

// renderUnlock is the text form of unlock: the lock it cleared, if there was one.
func renderUnlock(w io.Writer, where string, holder *state.LockInfo) {
	if holder == nil {
		fmt.Fprintf(w, "%s was not locked.\n", where)
		return
	}
	fmt.Fprintf(w, "Cleared the lock on %s held by %s (pid %d, fvdeploy %s) since %s.\n",
		where, holder.Who, holder.PID, holder.Operation, holder.Created.Format("2006-01-02T15:04:05Z07:00"))
}

// renderBuilt is the text form of build: the tags it built.
func renderBuilt(w io.Writer, tags []string) {
	for _, t := range tags {
		fmt.Fprintf(w, "built %s\n", t)
	}
}

func writeLogText(w io.Writer, ev tail.Event) {
	at := ev.Timestamp.UTC().Format("2006-01-02 15:04:05.000")
	var l accessLine
	if json.Unmarshal([]byte(ev.Message), &l) == nil && l.Method != "" {
		fmt.Fprintf(w, "%s %-6s %-30s %d %7.1f ms  %s  %s\n", at, l.Method, l.Path, l.Status, l.DurationMS, l.Client, l.UserAgent)
		return
	}
	fmt.Fprintf(w, "%s [%s] %s\n", at, ev.Stream, ev.Message)
}

// accessLine is the app's JSON access log line (api/access_log.py).
type accessLine struct {
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Client     string  `json:"client"`
	UserAgent  string  `json:"user_agent"`
}
