package kit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/smithy-go"
)

// ErrorCode is the AWS error code of err, or "".
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether err says the object does not exist. Each service words it
// differently; deletes treat it as success, finds as "not there".
func IsNotFound(err error) bool {
	code := ErrorCode(err)
	switch code {
	case "NotFound", "ResourceNotFoundException", "NoSuchEntity", "LoadBalancerNotFound",
		"TargetGroupNotFound", "ListenerNotFound", "ClusterNotFoundException", "ServiceNotFoundException",
		"ObjectNotFoundException":
		return true
	}
	return strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, "NotFoundException")
}

// DeleteWaitingForDependents deletes one object with del, treating "already gone" as
// done and retrying, for up to limit, while AWS says something still uses it. what names
// the object in messages ("subnet subnet-0abc").
func (in *Inputs) DeleteWaitingForDependents(ctx context.Context, what string, limit time.Duration, del func(ctx context.Context) error) error {
	err := in.RetryWhileInUse(ctx, what+" to be unused", limit, func(ctx context.Context) error {
		if err := del(ctx); err != nil && !IsNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting %s: %w", what, err)
	}
	return nil
}

// RetryWhileInUse retries op while AWS says something still depends on the object
// (DependencyViolation, ResourceInUse): ENIs of deleted NAT gateways, load balancers and
// tasks linger for minutes. It backs off and gives up after limit.
func (in *Inputs) RetryWhileInUse(ctx context.Context, what string, limit time.Duration, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(limit)
	var lastErr error
	err := in.WaitFor(ctx, what, func(ctx context.Context) (bool, string, error) {
		err := op(ctx)
		switch code := ErrorCode(err); {
		case err == nil:
			return true, "", nil
		case code == "DependencyViolation" || code == "ResourceInUse" || code == "ResourceInUseException" || code == "InvalidDependency":
			lastErr = err
			if time.Now().After(deadline) {
				return false, "", fmt.Errorf("still in use after %s: %w", limit, err)
			}
			return false, "still in use (" + code + ")", nil
		default:
			return false, "", err
		}
	})
	if err != nil && lastErr != nil && !errors.Is(err, lastErr) {
		return fmt.Errorf("%w (last: %v)", err, lastErr)
	}
	return err
}

// RetryUntilSeen retries op for up to a minute while it fails with one of codes: what
// op names was made a moment ago and may not be visible to the service yet.
func (in *Inputs) RetryUntilSeen(ctx context.Context, what string, op func(ctx context.Context) error, codes ...string) error {
	deadline := time.Now().Add(time.Minute)
	return in.WaitFor(ctx, what, func(ctx context.Context) (bool, string, error) {
		err := op(ctx)
		if code := ErrorCode(err); err != nil && slices.Contains(codes, code) && time.Now().Before(deadline) {
			return false, code, nil
		}
		return err == nil, "", err
	})
}

// InUseAs makes the codes by which one API says "still in use" read as ResourceInUse, so
// that retryWhileInUse waits them out like the common ones.
func InUseAs(err error, codes ...string) error {
	if err != nil && slices.Contains(codes, ErrorCode(err)) {
		return &stillInUse{err}
	}
	return err
}

type stillInUse struct{ error }

func (e *stillInUse) ErrorCode() string             { return "ResourceInUse" }
func (e *stillInUse) ErrorMessage() string          { return e.error.Error() }
func (e *stillInUse) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }
func (e *stillInUse) Unwrap() error                 { return e.error }
