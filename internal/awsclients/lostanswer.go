package awsclients

import (
	"context"
	"errors"
	"fmt"
	"net"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// duplicatingCreates are the creates that may leave a second object when repeated after
// a lost answer: no unique name makes the repeat fail with "already exists". Some take an
// idempotency token, which fvdeploy sends, and Elastic Load Balancing promises to answer
// a repeat with identical settings with the same object; fvdeploy leans on neither, since
// not every implementation keeps the promise. The SDK never repeats these blind: the
// engine looks for the object first (engine.Engine.create).
var duplicatingCreates = map[string]bool{
	"EC2.CreateVpc":              true,
	"EC2.CreateSubnet":           true,
	"EC2.CreateInternetGateway":  true,
	"EC2.CreateRouteTable":       true,
	"EC2.CreateNetworkAcl":       true,
	"EC2.CreateFlowLogs":         true,
	"EC2.CreateNatGateway":       true,
	"EC2.AllocateAddress":        true,
	"KMS.CreateKey":              true,
	"ECS.RegisterTaskDefinition": true,
	"Route 53.CreateHostedZone":  true,
	"ACM.RequestCertificate":     true,

	"Elastic Load Balancing v2.CreateLoadBalancer": true,
	"Elastic Load Balancing v2.CreateTargetGroup":  true,
	"Elastic Load Balancing v2.CreateListener":     true,
}

// lookBeforeRepeating are writes that are not creates but that a blind repeat after a lost
// answer turns into a failure: the repeat names what the first attempt replaced (an
// association ID that no longer exists). The caller looks at what happened instead.
var lookBeforeRepeating = map[string]bool{
	"EC2.ReplaceNetworkAclAssociation": true,
}

// OutcomeUnknownError is a write whose answer never arrived: AWS may or may not have
// carried it out. The SDK does not repeat it; the caller looks before it tries again.
type OutcomeUnknownError struct {
	Operation string
	Err       error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("no answer to %s, which may have taken effect: %v", e.Operation, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// RetryableError keeps the SDK's retryer from repeating the call blind.
func (e *OutcomeUnknownError) RetryableError() bool { return false }

// OutcomeUnknown tells callers that only a lookup can say what happened.
func (e *OutcomeUnknownError) OutcomeUnknown() bool { return true }

// markLostAnswers turns the failures of duplicating creates after which the object may
// exist (the connection dropped once the request was sent, or a 5xx) into an
// OutcomeUnknownError. It sits at the start of the deserialize step, so it sees each
// attempt's outcome before the retryer does.
func markLostAnswers(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("fvdeployLostAnswers",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			if err != nil && (duplicatingCreates[op] || lookBeforeRepeating[op]) && mayHaveTakenEffect(err) {
				err = &OutcomeUnknownError{Operation: op, Err: err}
			}
			return out, md, err
		}), middleware.Before)
}

// mayHaveTakenEffect is false only when the request surely never reached AWS (it could
// not connect) or AWS surely refused it (a 4xx).
func mayHaveTakenEffect(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return false
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return true
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode() >= 500
	}
	return false
}
