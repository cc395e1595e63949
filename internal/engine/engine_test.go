package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// cloud is an in-memory account: objects carry their logical key as a tag, so Find can
// adopt them without state, exactly as the real resources do.
type cloud struct {
	mu         sync.Mutex
	objs       map[string]*object // by ID
	next       int
	calls      []string // mutating calls, in order: "create a", "update a", "delete a"
	failFind   map[string]error
	failCreate map[string]error
	failDelete map[string]error
	// lose counts, per key, creates that take effect and whose answer is then lost;
	// drop counts creates that fail with an unknown outcome without taking effect.
	lose, drop  map[string]int
	inflight    int
	maxInflight int
	// gate, when set, holds every Create until it is closed.
	gate chan struct{}
	// started is told the key of each Create as it begins.
	started chan string
}

type object struct {
	key, value string
	deps       map[string]string // dep key -> dep ID it is attached to
	// fixed objects cannot change value in place: a new value replaces them.
	fixed bool
}

func newCloud() *cloud {
	return &cloud{objs: map[string]*object{}, failFind: map[string]error{}, failCreate: map[string]error{}, failDelete: map[string]error{},
		lose: map[string]int{}, drop: map[string]int{}}
}

func (c *cloud) record(call string) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
}

func (c *cloud) mutations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func (c *cloud) byKey(key string) (string, *object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, o := range c.objs {
		if o.key == key {
			return id, o
		}
	}
	return "", nil
}

type fakeRes struct {
	c    *cloud
	key  string
	deps []string
	want string
}

func (r *fakeRes) Key() string         { return r.key }
func (r *fakeRes) Type() string        { return "fake:thing" }
func (r *fakeRes) DependsOn() []string { return r.deps }

// Find behaves like the real resources: "not found" while a dependency does not exist,
// and drift where the object is attached to another dependency than the current one.
func (r *fakeRes) Find(_ context.Context, deps Deps, rec *state.Resource) (*Found, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if err := r.c.failFind[r.key]; err != nil {
		return nil, err
	}
	for _, d := range r.deps {
		if deps.Get(d) == nil {
			return nil, nil
		}
	}
	var id string
	var o *object
	var extras []state.Resource
	if rec != nil {
		id, o = rec.ID, r.c.objs[rec.ID]
	} else {
		var ids []string
		for oid, obj := range r.c.objs {
			if obj.key == r.key {
				ids = append(ids, oid)
			}
		}
		slices.Sort(ids)
		for i, oid := range ids {
			if i == 0 {
				id, o = oid, r.c.objs[oid]
			} else {
				extras = append(extras, state.Resource{ID: oid})
			}
		}
	}
	if o == nil {
		return nil, nil
	}
	f := &Found{Record: state.Resource{ID: id, Attrs: map[string]string{"value": o.value}}, Extras: extras}
	if o.value != r.want {
		f.Changes = []Change{{Field: "value", From: o.value, To: r.want}}
		f.Replace = o.fixed
	}
	for _, d := range r.deps {
		if want := deps.Get(d).ID; o.deps[d] != want {
			f.Changes = append(f.Changes, Change{Field: d, From: o.deps[d], To: want})
		}
	}
	return f, nil
}

func (r *fakeRes) Create(_ context.Context, deps Deps) (*state.Resource, error) {
	r.c.mu.Lock()
	r.c.inflight++
	r.c.maxInflight = max(r.c.maxInflight, r.c.inflight)
	gate, started := r.c.gate, r.c.started
	r.c.mu.Unlock()
	defer func() {
		r.c.mu.Lock()
		r.c.inflight--
		r.c.mu.Unlock()
	}()
	if started != nil {
		started <- r.key
	}
	if gate != nil {
		<-gate
	}
	seen := map[string]string{}
	for _, d := range r.deps {
		rec := deps.Get(d)
		if rec == nil {
			return nil, fmt.Errorf("dependency %s not created before %s", d, r.key)
		}
		seen[d] = rec.ID
	}
	r.c.record("create " + r.key)
	if err := r.c.failCreate[r.key]; err != nil {
		return nil, err
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.c.drop[r.key] > 0 {
		r.c.drop[r.key]--
		return nil, lostAnswer{}
	}
	r.c.next++
	id := fmt.Sprintf("id-%d", r.c.next)
	r.c.objs[id] = &object{key: r.key, value: r.want, deps: seen}
	if r.c.lose[r.key] > 0 {
		r.c.lose[r.key]--
		return nil, lostAnswer{}
	}
	return &state.Resource{ID: id, Attrs: map[string]string{"value": r.want}}, nil
}

func (r *fakeRes) Update(_ context.Context, deps Deps, f *Found) (*state.Resource, error) {
	r.c.record("update " + r.key)
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	o := r.c.objs[f.Record.ID]
	o.value = r.want
	for _, d := range r.deps {
		o.deps[d] = deps.Get(d).ID
	}
	return &state.Resource{ID: f.Record.ID, Attrs: map[string]string{"value": r.want}}, nil
}

func (r *fakeRes) Delete(_ context.Context, rec *state.Resource) error {
	return fakeDeleter{r.c}.Delete(context.Background(), rec)
}

type fakeDeleter struct{ c *cloud }

func (d fakeDeleter) Delete(_ context.Context, rec *state.Resource) error {
	d.c.mu.Lock()
	o := d.c.objs[rec.ID]
	d.c.mu.Unlock()
	key := "?"
	if o != nil {
		key = o.key
	}
	d.c.record("delete " + key)
	if err := d.c.failDelete[key]; err != nil {
		return err
	}
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	delete(d.c.objs, rec.ID) // already gone is fine
	return nil
}

// stack is a small architecture: vpc <- subnet-a, subnet-b <- alb; sg <- alb; log independent.
func stack(c *cloud) []Resource {
	return []Resource{
		&fakeRes{c: c, key: "network/vpc", want: "10.0.0.0/16"},
		&fakeRes{c: c, key: "network/subnet-a", deps: []string{"network/vpc"}, want: "a"},
		&fakeRes{c: c, key: "network/subnet-b", deps: []string{"network/vpc"}, want: "b"},
		&fakeRes{c: c, key: "network/sg", deps: []string{"network/vpc"}, want: "80"},
		&fakeRes{c: c, key: "network/alb", deps: []string{"network/subnet-a", "network/subnet-b", "network/sg"}, want: "alb"},
		&fakeRes{c: c, key: "cluster/logs", want: "7d"},
	}
}

// saves records a copy of every saved document, proving state is written per change.
type saves struct {
	mu   sync.Mutex
	docs []map[string]string // key -> ID
	fail error
}

func (s *saves) save(_ context.Context, doc *state.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	snap := map[string]string{}
	for k, r := range doc.Resources {
		snap[k] = r.ID
	}
	s.docs = append(s.docs, snap)
	return nil
}

func newDoc() *state.Document {
	return &state.Document{App: "app", Env: "dev", Resources: map[string]*state.Resource{}}
}

func actions(r *Result) map[string]Action {
	m := map[string]Action{}
	for _, it := range r.Items {
		m[it.Key] = it.Action
	}
	return m
}

func index(calls []string, call string) int { return slices.Index(calls, call) }

func TestApplyCreatesInDependencyOrderAndSavesEachChange(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	s := &saves{}
	res, err := (&Engine{}).Apply(context.Background(), stack(c), doc, s.save)
	if err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res.Err())
	}
	calls := c.mutations()
	if len(calls) != 6 {
		t.Fatalf("want 6 creates, got %v", calls)
	}
	for _, r := range stack(c) {
		for _, d := range r.DependsOn() {
			if index(calls, "create "+d) > index(calls, "create "+r.Key()) {
				t.Errorf("%s created before its dependency %s: %v", r.Key(), d, calls)
			}
		}
	}
	if len(s.docs) != 6 {
		t.Errorf("want one save per create (6), got %d", len(s.docs))
	}
	for i, d := range s.docs {
		if len(d) != i+1 {
			t.Errorf("save %d holds %d resources, want %d", i, len(d), i+1)
		}
	}
	if got := doc.Resources["network/alb"]; got == nil || !slices.Equal(got.DependsOn, []string{"network/subnet-a", "network/subnet-b", "network/sg"}) || got.Type != "fake:thing" {
		t.Errorf("alb record = %+v, want type and dependencies stamped", got)
	}
	_, alb := c.byKey("network/alb")
	if alb.deps["network/sg"] != doc.Resources["network/sg"].ID {
		t.Errorf("alb saw sg %q, state has %q", alb.deps["network/sg"], doc.Resources["network/sg"].ID)
	}
}

func TestSecondApplyMakesNoChange(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	s := &saves{}
	e := &Engine{}
	if _, err := e.Apply(context.Background(), stack(c), doc, s.save); err != nil {
		t.Fatal(err)
	}
	before, savesBefore := len(c.mutations()), len(s.docs)
	res, err := e.Apply(context.Background(), stack(c), doc, s.save)
	if err != nil || res.Err() != nil {
		t.Fatalf("second apply: %v %v", err, res.Err())
	}
	if res.Changed() || len(c.mutations()) != before || len(s.docs) != savesBefore {
		t.Errorf("second apply changed something: actions %v, calls %v, saves %d->%d", actions(res), c.mutations()[before:], savesBefore, len(s.docs))
	}
}

func TestPlan(t *testing.T) {
	tests := map[string]struct {
		setup   func(c *cloud, doc *state.Document)
		want    map[string]Action
		reasons map[string]string // key -> Item.Reason, where there is one
		errs    map[string]string // key -> what Item.Err says, where there is one
	}{
		"empty account: everything is created": {
			setup: func(*cloud, *state.Document) {},
			want: map[string]Action{"network/vpc": Create, "network/subnet-a": Create, "network/subnet-b": Create,
				"network/sg": Create, "network/alb": Create, "cluster/logs": Create},
		},
		"converged: nothing to do": {
			setup: func(c *cloud, doc *state.Document) { applyOrFail(t, c, doc) },
			want: map[string]Action{"network/vpc": NoOp, "network/subnet-a": NoOp, "network/subnet-b": NoOp,
				"network/sg": NoOp, "network/alb": NoOp, "cluster/logs": NoOp},
		},
		"drift: changed out of band is updated, deleted out of band is created": {
			setup: func(c *cloud, doc *state.Document) {
				applyOrFail(t, c, doc)
				_, sg := c.byKey("network/sg")
				sg.value = "22"
				id, _ := c.byKey("cluster/logs")
				delete(c.objs, id)
			},
			want: map[string]Action{"network/vpc": NoOp, "network/subnet-a": NoOp, "network/subnet-b": NoOp,
				"network/sg": Update, "network/alb": NoOp, "cluster/logs": Create},
		},
		"lost state: objects are adopted by their tags": {
			setup: func(c *cloud, doc *state.Document) {
				applyOrFail(t, c, doc)
				doc.Resources = map[string]*state.Resource{}
			},
			want: map[string]Action{"network/vpc": NoOp, "network/subnet-a": NoOp, "network/subnet-b": NoOp,
				"network/sg": NoOp, "network/alb": NoOp, "cluster/logs": NoOp},
		},
		"no longer declared: deleted": {
			setup: func(c *cloud, doc *state.Document) {
				applyOrFail(t, c, doc)
				doc.Resources["old/bucket"] = &state.Resource{Type: "fake:thing", ID: "id-old"}
			},
			want: map[string]Action{"network/vpc": NoOp, "network/subnet-a": NoOp, "network/subnet-b": NoOp,
				"network/sg": NoOp, "network/alb": NoOp, "cluster/logs": NoOp, "old/bucket": Delete},
		},
		"replaced dependency: its dependents are found and follow it, not created": {
			setup: func(c *cloud, doc *state.Document) {
				applyOrFail(t, c, doc)
				_, vpc := c.byKey("network/vpc")
				vpc.value, vpc.fixed = "10.1.0.0/16", true
			},
			want: map[string]Action{"network/vpc": Replace, "network/subnet-a": Update, "network/subnet-b": Update,
				"network/sg": Update, "network/alb": NoOp, "cluster/logs": NoOp},
			reasons: map[string]string{"network/subnet-a": "network/vpc will be replaced",
				"network/subnet-b": "network/vpc will be replaced", "network/sg": "network/vpc will be replaced"},
		},
		"failed find: that resource carries the error, its dependents are skipped, the rest is planned": {
			setup: func(c *cloud, doc *state.Document) {
				applyOrFail(t, c, doc)
				c.failFind["network/sg"] = errors.New("AccessDenied")
				id, _ := c.byKey("cluster/logs")
				delete(c.objs, id)
			},
			want: map[string]Action{"network/vpc": NoOp, "network/subnet-a": NoOp, "network/subnet-b": NoOp,
				"network/sg": NoOp, "network/alb": Skip, "cluster/logs": Create},
			errs: map[string]string{"network/sg": "finding network/sg: AccessDenied",
				"network/alb": "skipped: waits for network/sg, which failed"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCloud()
			doc := newDoc()
			tc.setup(c, doc)
			before := len(c.mutations())
			stateBefore := fmt.Sprint(doc.Resources)
			res, err := (&Engine{}).Plan(context.Background(), stack(c), doc)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if got := actions(res); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("plan = %v\nwant   %v", got, tc.want)
			}
			for _, it := range res.Items {
				if it.Reason != tc.reasons[it.Key] {
					t.Errorf("%s: reason %q, want %q", it.Key, it.Reason, tc.reasons[it.Key])
				}
				if got := fmt.Sprint(it.Err); it.Err == nil && tc.errs[it.Key] != "" || it.Err != nil && got != tc.errs[it.Key] {
					t.Errorf("%s: error %v, want %q", it.Key, it.Err, tc.errs[it.Key])
				}
			}
			if len(c.mutations()) != before {
				t.Errorf("plan made calls: %v", c.mutations()[before:])
			}
			if fmt.Sprint(doc.Resources) != stateBefore {
				t.Errorf("plan changed the state document")
			}
		})
	}
}

func applyOrFail(t *testing.T, c *cloud, doc *state.Document) {
	t.Helper()
	res, err := (&Engine{}).Apply(context.Background(), stack(c), doc, (&saves{}).save)
	if err != nil || res.Err() != nil {
		t.Fatalf("apply: %v %v", err, res.Err())
	}
}

func TestApplyRepairsDriftAndAdoptsWithoutDuplicates(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	applyOrFail(t, c, doc)
	_, sg := c.byKey("network/sg")
	sg.value = "22"
	doc.Resources = map[string]*state.Resource{} // as after a crash before the first save
	before := len(c.mutations())
	applyOrFail(t, c, doc)
	if got := c.mutations()[before:]; !slices.Equal(got, []string{"update network/sg"}) {
		t.Errorf("repair calls = %v, want only the sg update", got)
	}
	if len(c.objs) != 6 || len(doc.Resources) != 6 {
		t.Errorf("objects %d, state %d: want 6 each, no duplicates", len(c.objs), len(doc.Resources))
	}
}

// lostAnswer is a create whose outcome only a lookup can tell, as awsclients reports it.
type lostAnswer struct{}

func (lostAnswer) Error() string        { return "no answer to the create, which may have taken effect" }
func (lostAnswer) OutcomeUnknown() bool { return true }

// TestCreateIsResolvedBeforeItIsRepeatedOrReported: a failed create is looked for first;
// only a create whose outcome is unknown and which left nothing is repeated; duplicates
// carrying one key's tags are deleted, in a plan only shown.
func TestCreateIsResolvedBeforeItIsRepeatedOrReported(t *testing.T) {
	for name, tc := range map[string]struct {
		setup     func(c *cloud)
		wantErr   string
		wantCalls []string // mutating calls on network/vpc
	}{
		"answer lost after the create: adopted, not made twice": {
			setup:     func(c *cloud) { c.lose["network/vpc"] = 1 },
			wantCalls: []string{"create network/vpc"},
		},
		"outcome unknown and nothing made: created again": {
			setup:     func(c *cloud) { c.drop["network/vpc"] = 1 },
			wantCalls: []string{"create network/vpc", "create network/vpc"},
		},
		"outcome unknown every time: given up after three creates": {
			setup:     func(c *cloud) { c.drop["network/vpc"] = 5 },
			wantErr:   "creating network/vpc: no answer to the create",
			wantCalls: []string{"create network/vpc", "create network/vpc", "create network/vpc"},
		},
		"a refused create is reported, not repeated": {
			setup:     func(c *cloud) { c.failCreate["network/vpc"] = errors.New("InvalidParameterValue") },
			wantErr:   "creating network/vpc: InvalidParameterValue",
			wantCalls: []string{"create network/vpc"},
		},
		"duplicates with the same tags: the lowest ID is kept, the others deleted": {
			setup: func(c *cloud) {
				c.objs["id-a"] = &object{key: "network/vpc", value: "10.0.0.0/16"}
				c.objs["id-b"] = &object{key: "network/vpc", value: "10.0.0.0/16"}
				c.objs["id-c"] = &object{key: "network/vpc", value: "10.0.0.0/16"}
			},
			wantCalls: []string{"delete network/vpc", "delete network/vpc"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCloud()
			tc.setup(c)
			doc := newDoc()
			var notes []string
			var mu sync.Mutex
			e := &Engine{SettleDelay: time.Millisecond, Report: func(ev Event) {
				if ev.Status == Noted {
					mu.Lock()
					notes = append(notes, ev.Note)
					mu.Unlock()
				}
			}}
			res, err := e.Apply(context.Background(), stack(c), doc, (&saves{}).save)
			if err != nil {
				t.Fatal(err)
			}
			var vpcCalls []string
			for _, m := range c.mutations() {
				if strings.HasSuffix(m, " network/vpc") {
					vpcCalls = append(vpcCalls, m)
				}
			}
			if !slices.Equal(vpcCalls, tc.wantCalls) {
				t.Errorf("calls on the VPC: %v, want %v", vpcCalls, tc.wantCalls)
			}
			if tc.wantErr != "" {
				if res.Err() == nil || !strings.Contains(res.Err().Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", res.Err(), tc.wantErr)
				}
				return
			}
			if res.Err() != nil {
				t.Fatal(res.Err())
			}
			if len(c.objs) != 6 || len(doc.Resources) != 6 {
				t.Errorf("objects %d, state %d: want 6 each, no duplicates", len(c.objs), len(doc.Resources))
			}
			if len(tc.wantCalls) > 0 && tc.wantCalls[0] == "delete network/vpc" {
				if doc.Resources["network/vpc"].ID != "id-a" || len(notes) != 2 || !strings.Contains(notes[0], "a duplicate carrying the same ownership tags") {
					t.Errorf("kept %s, notes %q: want id-a kept and each deletion said", doc.Resources["network/vpc"].ID, notes)
				}
			}
		})
	}
}

func TestPlanShowsDuplicatesToDelete(t *testing.T) {
	c := newCloud()
	applyOrFail(t, c, newDoc())
	c.objs["id-0"] = &object{key: "network/sg", value: "80", deps: map[string]string{}}
	doc := newDoc()
	res, err := (&Engine{}).Plan(context.Background(), stack(c), doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		if it.Key != "network/sg" {
			continue
		}
		if it.Action != Update || !slices.ContainsFunc(it.Changes, func(ch Change) bool { return ch.Field == "duplicates" }) {
			t.Errorf("plan for network/sg: %s %v, want an update naming the duplicates", it.Action, it.Changes)
		}
	}
	if len(c.objs) != 7 {
		t.Errorf("plan deleted something: %d objects", len(c.objs))
	}
}

func TestApplyReplacesAndDependentsFollowTheNewObject(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	applyOrFail(t, c, doc)
	oldVPC, vpc := c.byKey("network/vpc")
	vpc.value, vpc.fixed = "10.1.0.0/16", true
	before := len(c.mutations())
	applyOrFail(t, c, doc)
	calls := c.mutations()[before:]
	if len(calls) != 5 || !slices.Equal(calls[:2], []string{"delete network/vpc", "create network/vpc"}) {
		t.Fatalf("calls = %v, want the vpc deleted and created, then its 3 dependents updated", calls)
	}
	for _, k := range []string{"network/subnet-a", "network/subnet-b", "network/sg"} {
		_, o := c.byKey(k)
		if !slices.Contains(calls, "update "+k) || o.deps["network/vpc"] != doc.Resources["network/vpc"].ID || o.deps["network/vpc"] == oldVPC {
			t.Errorf("%s does not follow the new vpc: calls %v, attached to %s", k, calls, o.deps["network/vpc"])
		}
	}
	res, err := (&Engine{}).Plan(context.Background(), stack(c), doc)
	if err != nil || res.Err() != nil || res.Changed() {
		t.Errorf("plan after the replace: %v %v %v", err, res.Err(), actions(res))
	}
}

func TestItemJSONCarriesTheError(t *testing.T) {
	tests := map[string]struct {
		it   Item
		want string
	}{
		"ok":     {Item{Key: "network/vpc", Type: "ec2:vpc", Action: NoOp}, `{"key":"network/vpc","type":"ec2:vpc","action":"no-op"}`},
		"failed": {Item{Key: "network/vpc", Type: "ec2:vpc", Action: NoOp, Err: errors.New("finding network/vpc: AccessDenied")}, `{"key":"network/vpc","type":"ec2:vpc","action":"no-op","error":"finding network/vpc: AccessDenied"}`},
		"follows": {Item{Key: "network/rt", Type: "ec2:route-table", Action: Update, Reason: "network/nat will be replaced"},
			`{"key":"network/rt","type":"ec2:route-table","action":"update","reason":"network/nat will be replaced"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(tc.it)
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestFailureStopsDependentsOnly(t *testing.T) {
	c := newCloud()
	c.failCreate["network/subnet-a"] = errors.New("InsufficientFreeAddressesInSubnet")
	doc := newDoc()
	s := &saves{}
	res, err := (&Engine{}).Apply(context.Background(), stack(c), doc, s.save)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(res)
	if got["network/alb"] != Skip {
		t.Errorf("alb depends on the failed subnet: action %s, want skipped", got["network/alb"])
	}
	if index(c.mutations(), "create network/alb") >= 0 {
		t.Error("alb was created although its subnet failed")
	}
	for _, k := range []string{"network/vpc", "network/subnet-b", "network/sg", "cluster/logs"} {
		if doc.Resources[k] == nil {
			t.Errorf("%s is independent of the failure but was not created and saved", k)
		}
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "creating network/subnet-a: InsufficientFreeAddressesInSubnet") {
		t.Errorf("error = %v, want it to name the resource and the cause", err)
	}
	if last := s.docs[len(s.docs)-1]; len(last) != 4 {
		t.Errorf("last saved state has %d resources, want the 4 that were created", len(last))
	}
}

func TestSaveFailureStartsNothingNew(t *testing.T) {
	c := newCloud()
	s := &saves{fail: errors.New("disk full")}
	res, err := (&Engine{Concurrency: 1}).Apply(context.Background(), stack(c), newDoc(), s.save)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.mutations()); n != 1 {
		t.Errorf("after the first save failed, %d creates were made, want 1: %v", n, c.mutations())
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), ": disk full") || !strings.Contains(err.Error(), "saving state after") {
		t.Errorf("error = %v", err)
	}
}

func TestConcurrencyIsBoundedAndUsed(t *testing.T) {
	for _, limit := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			c := newCloud()
			c.gate = make(chan struct{})
			c.started = make(chan string, 16)
			var rs []Resource
			for i := range 8 {
				rs = append(rs, &fakeRes{c: c, key: fmt.Sprintf("logs/group-%d", i), want: "x"})
			}
			done := make(chan error, 1)
			go func() {
				res, err := (&Engine{Concurrency: limit}).Apply(context.Background(), rs, newDoc(), (&saves{}).save)
				if err == nil {
					err = res.Err()
				}
				done <- err
			}()
			// All `limit` slots fill while every Create is held at the gate ...
			for range limit {
				select {
				case <-c.started:
				case <-time.After(5 * time.Second):
					t.Fatalf("fewer than %d creates started together", limit)
				}
			}
			// ... and no more than that start.
			select {
			case k := <-c.started:
				t.Fatalf("create %s started beyond the limit of %d", k, limit)
			case <-time.After(50 * time.Millisecond):
			}
			close(c.gate)
			go func() {
				for range c.started {
				}
			}()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if c.maxInflight != limit {
				t.Errorf("max in flight %d, want %d", c.maxInflight, limit)
			}
		})
	}
}

func TestDestroyDeletesInReverseOrderAndIsRerunnable(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	applyOrFail(t, c, doc)
	c.failDelete["network/subnet-b"] = errors.New("DependencyViolation")
	e := &Engine{}
	before := len(c.mutations())
	res, err := e.Destroy(context.Background(), stack(c), doc, (&saves{}).save)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got["network/vpc"] != Skip {
		t.Errorf("vpc must wait for its failed subnet: %v", got)
	}
	if doc.Resources["network/vpc"] == nil || doc.Resources["network/subnet-b"] == nil {
		t.Error("what was not deleted must stay in state")
	}
	if doc.Resources["network/alb"] != nil || doc.Resources["cluster/logs"] != nil {
		t.Error("what was deleted must leave state")
	}
	delete(c.failDelete, "network/subnet-b")
	res, err = e.Destroy(context.Background(), stack(c), doc, (&saves{}).save)
	if err != nil || res.Err() != nil {
		t.Fatalf("second destroy: %v %v", err, res.Err())
	}
	calls := c.mutations()[before:]
	for _, r := range stack(c) {
		for _, d := range r.DependsOn() {
			// the last delete of each key is the one that succeeded
			if lastIndex(calls, "delete "+d) < lastIndex(calls, "delete "+r.Key()) {
				t.Errorf("%s deleted before its dependent %s: %v", d, r.Key(), calls)
			}
		}
	}
	if len(doc.Resources) != 0 || len(c.objs) != 0 {
		t.Errorf("left behind: state %v, cloud %d objects", doc.Resources, len(c.objs))
	}
	n := len(c.mutations())
	res, err = e.Destroy(context.Background(), stack(c), doc, (&saves{}).save)
	if err != nil || res.Err() != nil || len(res.Items) != 0 || len(c.mutations()) != n {
		t.Errorf("destroy of nothing must be a no-op: %v %v %v", err, res, c.mutations()[n:])
	}
}

func lastIndex(s []string, v string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == v {
			return i
		}
	}
	return -1
}

func TestApplyPrunesUndeclaredWithTypeDeleter(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	applyOrFail(t, c, doc)
	rs := stack(c)[:5] // cluster/logs is no longer declared
	e := &Engine{Deleters: map[string]Deleter{"fake:thing": fakeDeleter{c}}}
	res, err := e.Apply(context.Background(), rs, doc, (&saves{}).save)
	if err != nil || res.Err() != nil {
		t.Fatalf("%v %v", err, res.Err())
	}
	if actions(res)["cluster/logs"] != Delete || doc.Resources["cluster/logs"] != nil {
		t.Errorf("undeclared resource not pruned: %v", actions(res))
	}
	if id, _ := c.byKey("cluster/logs"); id != "" {
		t.Error("undeclared resource still exists")
	}
}

func TestGraphErrors(t *testing.T) {
	c := newCloud()
	tests := map[string]struct {
		rs   []Resource
		want string
	}{
		"unknown dependency": {
			rs:   []Resource{&fakeRes{c: c, key: "a", deps: []string{"b"}}},
			want: "a needs b, which is neither declared nor deployed: run its phase first",
		},
		"cycle": {
			rs:   []Resource{&fakeRes{c: c, key: "a", deps: []string{"b"}}, &fakeRes{c: c, key: "b", deps: []string{"a"}}},
			want: "dependency cycle",
		},
		"duplicate": {
			rs:   []Resource{&fakeRes{c: c, key: "a"}, &fakeRes{c: c, key: "a"}},
			want: "declared twice",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := (&Engine{}).Plan(context.Background(), tc.rs, newDoc())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCanceledRunStartsNothing(t *testing.T) {
	c := newCloud()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := (&Engine{}).Apply(ctx, stack(c), newDoc(), (&saves{}).save)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.mutations()) != 0 {
		t.Errorf("canceled run made calls: %v", c.mutations())
	}
	for _, it := range res.Items {
		if it.Action != Skip {
			t.Errorf("%s: %s, want skipped", it.Key, it.Action)
		}
	}
}

func TestOnePhaseUsesDeployedDependenciesAndPrunesOnlyItsScope(t *testing.T) {
	c := newCloud()
	doc := newDoc()
	applyOrFail(t, c, doc)
	c.objs["id-old"] = &object{key: "cluster/old"}
	doc.Resources["cluster/old"] = &state.Resource{Type: "fake:thing", ID: "id-old"}
	// `phase cluster` alone: its service needs the deployed, undeclared network/alb.
	cluster := []Resource{
		stack(c)[5],
		&fakeRes{c: c, key: "cluster/service", deps: []string{"network/alb"}, want: "svc"},
	}
	e := &Engine{Scope: func(key string) bool { return strings.HasPrefix(key, "cluster/") },
		Deleters: map[string]Deleter{"fake:thing": fakeDeleter{c}}}
	before := len(c.mutations())
	res, err := e.Apply(context.Background(), cluster, doc, (&saves{}).save)
	if err != nil || res.Err() != nil {
		t.Fatalf("%v %v", err, res.Err())
	}
	if got := c.mutations()[before:]; !slices.Equal(got, []string{"create cluster/service", "delete cluster/old"}) {
		t.Errorf("calls = %v, want the service created and only the in-scope orphan deleted", got)
	}
	_, svc := c.byKey("cluster/service")
	if svc.deps["network/alb"] != doc.Resources["network/alb"].ID {
		t.Error("the service did not see the deployed ALB")
	}
	if len(doc.Resources) != 7 {
		t.Errorf("state has %d resources, want the 6 of the stack and the service", len(doc.Resources))
	}
}
