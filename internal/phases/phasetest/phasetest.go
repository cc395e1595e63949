// Package phasetest is what the phases' tests share: moto, the Inputs of an environment
// on it, the engine over the phases, fakes of what one phase needs of another, and
// assertions on what AWS holds. Only external test packages (package network_test, …)
// import it, so it may import the phases themselves.
package phasetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

var Moto *testenv.Moto

// Main runs a package's tests with moto started for them: each test package's TestMain
// calls it.
func Main(m *testing.M) int { return testenv.RunWithMoto(m, &Moto) }

// TestImage stands in for an image from the image phase; the emulator never pulls it.
const TestImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-vars@sha256:0f3e8d7f2a1c4b5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"

// NewTestInputs gives a clean emulator and the Inputs of env's default config; every API
// call made through them is recorded.
func NewTestInputs(t *testing.T, env string, vars map[string]string) (*kit.Inputs, *awsclients.Recorder) {
	t.Helper()
	Moto.Reset(t)
	return InputsBeside(t, env, vars)
}

// InputsBeside gives the Inputs of env in the emulator as it is, without resetting it: a
// second environment beside the first, with its own call recorder.
func InputsBeside(t *testing.T, env string, vars map[string]string) (*kit.Inputs, *awsclients.Recorder) {
	t.Helper()
	cfg, err := config.Defaults(env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Region = "us-east-1"
	rec := &awsclients.Recorder{}
	clients, err := awsclients.Load(context.Background(), awsclients.Options{Region: cfg.Region, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return &kit.Inputs{
		Config: cfg, Account: "123456789012", Region: cfg.Region, AWS: clients, Image: imagechoice.Use(TestImage),
		Getenv:       func(k string) string { return vars[k] },
		Progress:     t.Logf,
		PollInterval: 10 * time.Millisecond,
	}, rec
}

// Declared returns the resources of the named phases.
func Declared(t *testing.T, in *kit.Inputs, names ...string) []engine.Resource {
	t.Helper()
	var out []engine.Resource
	for _, n := range names {
		p, err := phases.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := p.Declare(in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func NewEngine(t *testing.T, in *kit.Inputs) *engine.Engine {
	t.Helper()
	deleters, err := phases.Deleters(in)
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Engine{Deleters: deleters}
}

// ApplyPhases runs the phases to convergence and fails the test on any error.
func ApplyPhases(t *testing.T, in *kit.Inputs, doc *state.Document, names ...string) *engine.Result {
	t.Helper()
	res, err := NewEngine(t, in).Apply(context.Background(), Declared(t, in, names...), doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("apply %v: %v", names, err)
	}
	return res
}

// DestroyAll deletes everything in doc and fails the test on any error.
func DestroyAll(t *testing.T, in *kit.Inputs, doc *state.Document) {
	t.Helper()
	res, err := NewEngine(t, in).Destroy(context.Background(), nil, doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// Mutations lists the mutating calls recorded since index from.
func Mutations(rec *awsclients.Recorder, from int) []string {
	var out []string
	for _, c := range rec.Calls()[from:] {
		if c.Mutating() {
			out = append(out, c.Service+"."+c.Operation)
		}
	}
	return out
}

// CallIndex is the position of the first call of op at or after from, or -1.
func CallIndex(rec *awsclients.Recorder, from int, op string) int {
	calls := rec.Calls()
	i := slices.IndexFunc(calls[from:], func(c awsclients.Call) bool { return c.Service+"."+c.Operation == op })
	if i < 0 {
		return -1
	}
	return from + i
}

// CallTrace records, in order, a line for every API call made through the Inputs —
// what the call recorder does not keep, such as the ID each call acts on.
type CallTrace struct {
	mu    sync.Mutex
	Calls []string
}

func TraceCalls(in *kit.Inputs, line func(ctx context.Context, params any) string) *CallTrace {
	tr := &CallTrace{}
	in.AWS.Config.APIOptions = append(in.AWS.Config.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("testCallTrace",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				tr.mu.Lock()
				tr.Calls = append(tr.Calls, line(ctx, in.Parameters))
				tr.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
	return tr
}

func (tr *CallTrace) All() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.Calls)
}

func NewDoc(in *kit.Inputs) *state.Document {
	return state.New(in.Config.App, in.Config.Env, in.Region, in.Account)
}
