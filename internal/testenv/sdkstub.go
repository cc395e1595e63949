package testenv

import (
	"context"
	"sync"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
)

// SDKStub answers SDK operations with canned outputs, in call order per operation, the
// last one repeating: the real client runs its stack up to the point where it would
// serialize the request, so inputs are validated as in production.
type SDKStub struct {
	t       testing.TB
	mu      sync.Mutex
	answers map[string][]any
	inputs  map[string][]any
}

// NewSDKStub answers each operation (by name, e.g. "ListTasks") from its queue; an
// error in a queue is returned as the call's error.
func NewSDKStub(t testing.TB, answers map[string][]any) *SDKStub {
	return &SDKStub{t: t, answers: answers, inputs: map[string][]any{}}
}

// Option is an APIOptions entry that puts the stub in a client's stack.
func (s *SDKStub) Option(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("stub", func(ctx context.Context, in middleware.InitializeInput, _ middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		return s.answer(ctx, in)
	}), middleware.After)
}

// OptionFor is Option for one service only (its SDK service ID, e.g.
// accessanalyzer.ServiceID): calls to every other service go on to their endpoint. Added
// to an aws.Config's APIOptions, it stands in for a service the emulator lacks in every
// client built from that config.
func (s *SDKStub) OptionFor(serviceID string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("stub", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if awsmiddleware.GetServiceID(ctx) != serviceID {
				return next.HandleInitialize(ctx, in)
			}
			return s.answer(ctx, in)
		}), middleware.After)
	}
}

// answer records a call's input and returns the next canned output of its operation.
func (s *SDKStub) answer(ctx context.Context, in middleware.InitializeInput) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := awsmiddleware.GetOperationName(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs[op] = append(s.inputs[op], in.Parameters)
	queue := s.answers[op]
	if len(queue) == 0 {
		s.t.Errorf("unexpected call to %s", op)
		return middleware.InitializeOutput{}, middleware.Metadata{}, context.Canceled
	}
	out := queue[0]
	if len(queue) > 1 {
		s.answers[op] = queue[1:]
	}
	if err, ok := out.(error); ok {
		return middleware.InitializeOutput{}, middleware.Metadata{}, err
	}
	return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
}

// Calls returns the inputs op was called with, in order.
func (s *SDKStub) Calls(op string) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inputs[op]
}

// ECS is an ECS client answered by the stub.
func (s *SDKStub) ECS() *ecs.Client {
	return ecs.New(ecs.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{s.Option}})
}

// ELB is an ELBv2 client answered by the stub.
func (s *SDKStub) ELB() *elbv2.Client {
	return elbv2.New(elbv2.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{s.Option}})
}

// Logs is a CloudWatch Logs client answered by the stub.
func (s *SDKStub) Logs() *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{s.Option}})
}
