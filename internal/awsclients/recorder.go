package awsclients

import (
	"context"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Call is one AWS API operation that fvdeploy invoked.
type Call struct {
	Service   string
	Operation string
}

// Mutating reports whether the operation may change something in the account. AWS names
// its read operations consistently, which makes a prefix test reliable.
func (c Call) Mutating() bool {
	for _, p := range []string{"Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "Check"} {
		if strings.HasPrefix(c.Operation, p) {
			return false
		}
	}
	return true
}

// Recorder keeps the list of API calls made, in order, for `--trace-calls` and for tests
// that prove a converged run makes no mutating call.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Calls returns a copy of the calls recorded so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

func (r *Recorder) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fvdeployRecorder",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			call := Call{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
			r.mu.Lock()
			r.calls = append(r.calls, call)
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}
