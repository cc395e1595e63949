package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// DefaultConcurrency bounds parallel AWS work: enough to overlap independent slow calls,
// few enough to stay clear of API throttling.
const DefaultConcurrency = 8

// Engine walks declared resources. Its zero value works: sequential-safe defaults, no
// progress reporting, no deleters for undeclared types.
type Engine struct {
	Concurrency int
	// Deleters remove objects that are in state but no longer declared, by Resource.Type.
	Deleters map[string]Deleter
	// Report, when set, is told about each resource as work on it starts and ends. It is
	// called from several goroutines.
	Report func(Event)
	// Scope, when set, limits pruning to the state keys it accepts: running one phase
	// must not delete what the other phases own.
	Scope func(key string) bool
	// SettleDelay replaces DefaultSettleDelay (tests make it short).
	SettleDelay time.Duration
}

func (e *Engine) inScope(key string) bool { return e.Scope == nil || e.Scope(key) }

// Status is where work on one resource stands.
type Status string

// The statuses an Event carries.
const (
	Started Status = "started"
	Done    Status = "done"
	Failed  Status = "failed"
	// Noted carries something the user should know about work in progress (Event.Note).
	Noted Status = "noted"
)

// Event is progress on one resource.
type Event struct {
	Key    string
	Type   string
	Action Action
	Status Status
	Err    error
	Note   string
}

// Item is the outcome, or in a plan the intent, for one resource.
type Item struct {
	Key     string   `json:"key"`
	Type    string   `json:"type"`
	Action  Action   `json:"action"`
	Changes []Change `json:"changes,omitempty"`
	// Reason, in a plan, says why an object whose own diff is clean changes anyway: a
	// dependency will be replaced, and the object follows the new one.
	Reason string `json:"reason,omitempty"`
	Err    error  `json:"-"`
}

// MarshalJSON adds the failure as text: an error value has no JSON form of its own.
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item
	out := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(it)}
	if it.Err != nil {
		out.Error = it.Err.Error()
	}
	return json.Marshal(out)
}

// Result lists every resource the walk considered, in dependency order (teardown order
// for destroy).
type Result struct {
	Items []Item
}

// Changed reports whether the walk changed, or would change, anything.
func (r *Result) Changed() bool {
	return slices.ContainsFunc(r.Items, func(it Item) bool { return it.Action != NoOp })
}

// Err joins the failures, each naming its resource.
func (r *Result) Err() error {
	var errs []error
	for _, it := range r.Items {
		if it.Err != nil && !errors.Is(it.Err, errSkipped) {
			errs = append(errs, it.Err)
		}
	}
	return errors.Join(errs...)
}

// Saver persists the state document; the engine calls it after every change.
type Saver func(ctx context.Context, doc *state.Document) error

// ledger is the state document shared by the goroutines of one walk.
type ledger struct {
	mu     sync.Mutex
	doc    *state.Document
	save   Saver // nil in a plan
	failed bool  // a save failed: start nothing new, since nothing more can be recorded
	// In a plan: what would be created, which dependents see as not existing yet, and
	// what would be replaced, which dependents see as it is until then.
	pending  map[string]bool
	replaced map[string]bool
}

func (l *ledger) get(key string) *state.Resource {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending[key] {
		return nil
	}
	rec, ok := l.doc.Resources[key]
	if !ok {
		return nil
	}
	cp := *rec
	cp.Attrs = maps.Clone(rec.Attrs)
	cp.DependsOn = slices.Clone(rec.DependsOn)
	return &cp
}

// replacedAmong lists the keys that a plan would replace.
func (l *ledger) replacedAmong(keys []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, k := range keys {
		if l.replaced[k] {
			out = append(out, k)
		}
	}
	return out
}

// Get makes a ledger the Deps of every resource in the walk.
func (l *ledger) Get(key string) *state.Resource { return l.get(key) }

func (l *ledger) stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// set records rec under key (nil removes it) and saves at once.
func (l *ledger) set(ctx context.Context, key string, rec *state.Resource) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec == nil {
		delete(l.doc.Resources, key)
	} else {
		l.doc.Resources[key] = rec
	}
	if l.save == nil {
		return nil
	}
	// The save must happen even if the user pressed Ctrl-C: the object exists now.
	if err := l.save(context.WithoutCancel(ctx), l.doc); err != nil {
		l.failed = true
		return fmt.Errorf("saving state after %s: %w", key, err)
	}
	return nil
}

func (e *Engine) report(ev Event) {
	if e.Report != nil {
		e.Report(ev)
	}
}

// declaredGraph orders the declared resources. A dependency that is not declared but is
// in state (another phase's, when one phase runs alone) is already satisfied.
func declaredGraph(resources []Resource, doc *state.Document) (*graph, map[string]Resource, error) {
	byKey := make(map[string]Resource, len(resources))
	for _, r := range resources {
		byKey[r.Key()] = r
	}
	keys := make([]string, 0, len(resources))
	waits := make(map[string][]string, len(resources))
	for _, r := range resources {
		keys = append(keys, r.Key())
		for _, d := range r.DependsOn() {
			if _, declared := byKey[d]; declared {
				waits[r.Key()] = append(waits[r.Key()], d)
			} else if doc.Resources[d] == nil {
				return nil, nil, fmt.Errorf("%s needs %s, which is neither declared nor deployed: run its phase first", r.Key(), d)
			}
		}
	}
	g, err := newGraph(keys, waits)
	return g, byKey, err
}

// stateGraph orders what state records, by the dependencies recorded with each object;
// an edge to something no longer in state is already satisfied.
func stateGraph(doc *state.Document, keys []string) (*graph, error) {
	waits := make(map[string][]string, len(keys))
	in := make(map[string]bool, len(keys))
	for _, k := range keys {
		in[k] = true
	}
	for _, k := range keys {
		for _, d := range doc.Resources[k].DependsOn {
			if in[d] {
				waits[k] = append(waits[k], d)
			}
		}
	}
	return newGraph(keys, waits)
}

// Plan reports what Apply would do, calling only Find. doc is left as it was.
func (e *Engine) Plan(ctx context.Context, resources []Resource, doc *state.Document) (*Result, error) {
	scratch := *doc
	scratch.Resources = maps.Clone(doc.Resources)
	return e.reconcile(ctx, resources, &scratch, nil)
}

// Apply creates, updates and replaces declared resources, deletes what state holds that
// is no longer declared, and saves state after every change.
func (e *Engine) Apply(ctx context.Context, resources []Resource, doc *state.Document, save Saver) (*Result, error) {
	if save == nil {
		return nil, errors.New("engine: Apply needs a Saver")
	}
	return e.reconcile(ctx, resources, doc, save)
}

func (e *Engine) reconcile(ctx context.Context, resources []Resource, doc *state.Document, save Saver) (*Result, error) {
	if doc.Resources == nil {
		doc.Resources = map[string]*state.Resource{}
	}
	g, byKey, err := declaredGraph(resources, doc)
	if err != nil {
		return nil, err
	}
	l := &ledger{doc: doc, save: save, pending: map[string]bool{}, replaced: map[string]bool{}}
	var mu sync.Mutex
	items := make(map[string]Item, len(g.order))
	results := g.walk(ctx, e.concurrency(), l.stopped, func(ctx context.Context, key string) error {
		it := e.reconcileOne(ctx, byKey[key], l)
		mu.Lock()
		items[key] = it
		mu.Unlock()
		return it.Err
	})
	res := &Result{}
	for _, key := range g.order {
		it, ok := items[key]
		if !ok {
			it = Item{Key: key, Type: byKey[key].Type(), Action: Skip, Err: results[key]}
		}
		res.Items = append(res.Items, it)
	}
	var orphans []string
	for key := range doc.Resources {
		if _, declared := byKey[key]; !declared && e.inScope(key) {
			orphans = append(orphans, key)
		}
	}
	slices.Sort(orphans)
	if len(orphans) == 0 {
		return res, nil
	}
	// Remove what is no longer declared only after a clean walk: a failure above may mean
	// the config is not what the user meant, and deleting is the one thing not undone by
	// the next run.
	if save != nil && res.Err() != nil {
		return res, nil
	}
	pruned, err := e.teardown(ctx, doc, orphans, nil, l)
	if err != nil {
		return nil, err
	}
	res.Items = append(res.Items, pruned.Items...)
	return res, nil
}

func (e *Engine) concurrency() int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return DefaultConcurrency
}

// reconcileOne finds one resource and brings it to the desired state (or, in a plan,
// says what that would take).
func (e *Engine) reconcileOne(ctx context.Context, r Resource, l *ledger) Item {
	key := r.Key()
	it := Item{Key: key, Type: r.Type()}
	fail := func(what string, err error) Item {
		it.Err = fmt.Errorf("%s %s: %w", what, key, err)
		e.report(Event{Key: key, Type: it.Type, Action: it.Action, Status: Failed, Err: it.Err})
		return it
	}
	found, err := r.Find(ctx, l, l.get(key))
	if err != nil {
		it.Action = NoOp
		return fail("finding", err)
	}
	switch {
	case found == nil:
		it.Action = Create
	case found.Replace:
		it.Action, it.Changes = Replace, found.Changes
	case len(found.Changes) > 0:
		it.Action, it.Changes = Update, found.Changes
	default:
		it.Action = NoOp
	}
	if found != nil && len(found.Extras) > 0 {
		if l.save == nil {
			it.Changes = append(it.Changes, Change{Field: "duplicates", From: recordIDs(found.Extras), To: "(deleted)"})
			if it.Action == NoOp {
				it.Action = Update
			}
		} else if err := e.removeExtras(ctx, r, found.Extras); err != nil {
			return fail("removing duplicates of", err)
		}
	}
	if l.save == nil {
		if replaced := l.replacedAmong(r.DependsOn()); len(replaced) > 0 && found != nil {
			// Found against the dependency as it is now; up finds it again against the
			// new one, and only then can say what following it takes.
			it.Reason = strings.Join(replaced, ", ") + " will be replaced"
			if it.Action == NoOp {
				it.Action = Update
			}
		}
		l.mu.Lock()
		l.pending[key] = it.Action == Create
		l.replaced[key] = it.Action == Replace
		l.mu.Unlock()
		if found != nil {
			// A plan works on a copy, so this only lets dependents see what Find adopted,
			// or, before a replace, the object they are attached to until then.
			_ = l.set(ctx, key, e.stamp(r, found.Record))
		}
		return it
	}
	if it.Action == NoOp {
		// Adopted by tags or refreshed: a state write, never an AWS call.
		if prev := l.get(key); prev == nil || !sameRecord(prev, &found.Record, r) {
			if err := l.set(ctx, key, e.stamp(r, found.Record)); err != nil {
				return fail("recording", err)
			}
		}
		return it
	}
	e.report(Event{Key: key, Type: it.Type, Action: it.Action, Status: Started})
	var rec *state.Resource
	switch it.Action {
	case Create:
		rec, err = e.create(ctx, r, l)
	case Update:
		rec, err = e.update(ctx, r, l, found)
	case Replace:
		if err = r.Delete(ctx, &found.Record); err != nil {
			return fail("replacing (delete)", err)
		}
		if err = l.set(ctx, key, nil); err != nil {
			return fail("recording", err)
		}
		rec, err = e.create(ctx, r, l)
	}
	if err != nil {
		return fail(verb(it.Action), err)
	}
	if err := l.set(ctx, key, e.stamp(r, *rec)); err != nil {
		return fail("recording", err)
	}
	e.report(Event{Key: key, Type: it.Type, Action: it.Action, Status: Done})
	return it
}

// createAttempts bounds the creates of one object whose outcome stays unknown.
const createAttempts = 3

// DefaultSettleDelay is how long a create with an unknown outcome is given to show in
// AWS's describe calls, which are eventually consistent, before the second look that
// decides whether to create again.
const DefaultSettleDelay = 3 * time.Second

// create makes the object. A create that fails may still have happened (its answer was
// lost, or the SDK's retry of it met "already exists"), so before it is tried again or
// reported the object is looked for: what is found is adopted, and the create is repeated
// only when nothing is found and the failure left the outcome unknown.
func (e *Engine) create(ctx context.Context, r Resource, l *ledger) (*state.Resource, error) {
	for attempt := 1; ; attempt++ {
		rec, err := r.Create(ctx, l)
		if err == nil {
			return rec, nil
		}
		found, ferr := r.Find(ctx, l, nil)
		if ferr == nil && found == nil && outcomeUnknown(err) {
			if werr := e.settleDelay(ctx); werr != nil {
				return nil, errors.Join(err, werr)
			}
			found, ferr = r.Find(ctx, l, nil)
		}
		if ferr != nil {
			return nil, fmt.Errorf("%w; looking for it afterwards: %w", err, ferr)
		}
		if found != nil {
			e.report(Event{Key: r.Key(), Type: r.Type(), Action: Create, Status: Noted,
				Note: "found it after a failed create (" + err.Error() + "): adopted"})
			return e.settle(ctx, r, l, found, err)
		}
		if !outcomeUnknown(err) || attempt == createAttempts {
			return nil, err
		}
	}
}

func (e *Engine) settleDelay(ctx context.Context) error {
	d := e.SettleDelay
	if d == 0 {
		d = DefaultSettleDelay
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// update changes the object in place; when that fails, a second look tells an update
// whose answer was lost (nothing left to change) from one that did not happen.
func (e *Engine) update(ctx context.Context, r Resource, l *ledger, found *Found) (*state.Resource, error) {
	rec, err := r.Update(ctx, l, found)
	if err == nil {
		return rec, nil
	}
	again, ferr := r.Find(ctx, l, &found.Record)
	if ferr != nil || again == nil || again.Replace || len(again.Changes) > 0 {
		return nil, err
	}
	return &again.Record, nil
}

// settle takes an object found after a failed create: as it is, or updated in place to
// what is declared. One that would have to be replaced is reported with the failure.
func (e *Engine) settle(ctx context.Context, r Resource, l *ledger, found *Found, createErr error) (*state.Resource, error) {
	if err := e.removeExtras(ctx, r, found.Extras); err != nil {
		return nil, err
	}
	switch {
	case found.Replace:
		return nil, fmt.Errorf("%w; found %s afterwards, but it differs in what cannot change in place: %v", createErr, found.Record.ID, found.Changes)
	case len(found.Changes) > 0:
		return r.Update(ctx, l, found)
	}
	return &found.Record, nil
}

// removeExtras deletes the duplicates Find reported beside the object it keeps.
func (e *Engine) removeExtras(ctx context.Context, r Resource, extras []state.Resource) error {
	for _, x := range extras {
		if err := r.Delete(ctx, &x); err != nil {
			return err
		}
		e.report(Event{Key: r.Key(), Type: r.Type(), Status: Noted,
			Note: "deleted " + x.ID + ", a duplicate carrying the same ownership tags (left by a lost answer or an interrupted run)"})
	}
	return nil
}

func recordIDs(recs []state.Resource) string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return strings.Join(ids, ",")
}

// outcomeUnknown reports whether err says only a lookup can tell whether the write
// happened (awsclients.OutcomeUnknownError, among others).
func outcomeUnknown(err error) bool {
	var u interface{ OutcomeUnknown() bool }
	return errors.As(err, &u) && u.OutcomeUnknown()
}

func verb(a Action) string {
	switch a {
	case Create:
		return "creating"
	case Update:
		return "updating"
	case Replace:
		return "replacing"
	case Delete:
		return "deleting"
	}
	return string(a)
}

// stamp fills in what the engine, not the resource, knows about a record.
func (e *Engine) stamp(r Resource, rec state.Resource) *state.Resource {
	rec.Type = r.Type()
	rec.DependsOn = slices.Clone(r.DependsOn())
	return &rec
}

func sameRecord(prev, found *state.Resource, r Resource) bool {
	return prev.ID == found.ID && prev.ARN == found.ARN && maps.Equal(prev.Attrs, found.Attrs) &&
		prev.Type == r.Type() && slices.Equal(prev.DependsOn, r.DependsOn())
}

// PlanDestroy lists what Destroy would delete, in teardown order.
func (e *Engine) PlanDestroy(resources []Resource, doc *state.Document) (*Result, error) {
	g, err := stateGraph(doc, slices.Sorted(maps.Keys(doc.Resources)))
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, key := range g.reversed().order {
		res.Items = append(res.Items, Item{Key: key, Type: doc.Resources[key].Type, Action: Delete})
	}
	return res, nil
}

// Destroy deletes everything state records, dependents before what they depend on,
// removing each object from state as soon as it is gone. It is safe to re-run after a
// partial failure.
func (e *Engine) Destroy(ctx context.Context, resources []Resource, doc *state.Document, save Saver) (*Result, error) {
	if save == nil {
		return nil, errors.New("engine: Destroy needs a Saver")
	}
	l := &ledger{doc: doc, save: save}
	return e.teardown(ctx, doc, slices.Sorted(maps.Keys(doc.Resources)), resources, l)
}

func (e *Engine) teardown(ctx context.Context, doc *state.Document, keys []string, declared []Resource, l *ledger) (*Result, error) {
	g, err := stateGraph(doc, keys)
	if err != nil {
		return nil, err
	}
	deleters := make(map[string]Deleter, len(declared))
	for _, r := range declared {
		deleters[r.Key()] = r
	}
	recs := make(map[string]*state.Resource, len(keys))
	for _, k := range keys {
		recs[k] = doc.Resources[k]
		if deleters[k] == nil {
			deleters[k] = e.Deleters[doc.Resources[k].Type]
		}
	}
	rev := g.reversed()
	results := rev.walk(ctx, e.concurrency(), l.stopped, func(ctx context.Context, key string) error {
		rec := recs[key]
		if l.save == nil {
			return nil
		}
		d := deleters[key]
		if d == nil {
			err := fmt.Errorf("deleting %s: fvdeploy does not know how to delete a %s", key, rec.Type)
			e.report(Event{Key: key, Type: rec.Type, Action: Delete, Status: Failed, Err: err})
			return err
		}
		e.report(Event{Key: key, Type: rec.Type, Action: Delete, Status: Started})
		if err := d.Delete(ctx, rec); err != nil {
			err = fmt.Errorf("deleting %s: %w", key, err)
			e.report(Event{Key: key, Type: rec.Type, Action: Delete, Status: Failed, Err: err})
			return err
		}
		if err := l.set(ctx, key, nil); err != nil {
			return err
		}
		e.report(Event{Key: key, Type: rec.Type, Action: Delete, Status: Done})
		return nil
	})
	res := &Result{}
	for _, key := range rev.order {
		it := Item{Key: key, Type: recs[key].Type, Action: Delete, Err: results[key]}
		if errors.Is(it.Err, errSkipped) {
			it.Action = Skip
		}
		res.Items = append(res.Items, it)
	}
	return res, nil
}
