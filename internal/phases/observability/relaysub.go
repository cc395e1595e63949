package observability

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// relaySubscription is the function subscribed to the alarm topic, with the permission
// in the function's policy that lets that topic, and only it, invoke the function.
type relaySubscription struct {
	in     *kit.Inputs
	lambda kinds.LambdaPermissionAPI
	sns    subscriptionsAPI
}

func (r *relaySubscription) Key() string         { return KeyChatRelaySub }
func (r *relaySubscription) Type() string        { return "sns:lambda-subscription" }
func (r *relaySubscription) DependsOn() []string { return []string{KeyTopic, KeyChatRelay} }

// endpoints are the topic's and the function's ARNs; ok is false while either is missing.
func endpoints(deps engine.Deps) (topicARN, functionARN string, ok bool) {
	t, f := deps.Get(KeyTopic), deps.Get(KeyChatRelay)
	if t == nil || f == nil {
		return "", "", false
	}
	return t.ARN, f.ARN, true
}

// Permission lets topicARN, and only it, invoke the function.
func (r *relaySubscription) Permission(topicARN string) kinds.InvokePermission {
	return kinds.InvokePermission{Sid: relayPermissionSid, Principal: "sns.amazonaws.com", SourceARN: topicARN}
}

func (r *relaySubscription) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	topicARN, functionARN, ok := endpoints(deps)
	if !ok {
		return nil, nil
	}
	subs, err := ListSubscriptions(ctx, r.sns, topicARN)
	if err != nil {
		return nil, fmt.Errorf("listing the subscriptions of SNS topic %s: %w", topicARN, err)
	}
	var subARN string
	for _, s := range subs {
		if aws.ToString(s.Protocol) == "lambda" && aws.ToString(s.Endpoint) == functionARN {
			subARN = aws.ToString(s.SubscriptionArn)
		}
	}
	permitted, err := r.Permission(topicARN).Permitted(ctx, r.lambda, functionARN, r.in.Account)
	if err != nil {
		return nil, err
	}
	if subARN == "" && !permitted && rec == nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: subARN, Attrs: map[string]string{"function": functionARN}}}
	if !permitted {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "sns.amazonaws.com from " + topicARN})
	}
	if subARN == "" {
		found.Changes = append(found.Changes, engine.Change{Field: "subscription", From: "(none)", To: "lambda:" + functionARN})
	}
	return found, nil
}

func (r *relaySubscription) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	return r.Update(ctx, deps, &engine.Found{Changes: []engine.Change{{Field: "permission"}, {Field: "subscription"}}})
}

func (r *relaySubscription) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	topicARN, functionARN, ok := endpoints(deps)
	if !ok {
		return nil, fmt.Errorf("subscribing the alarm relay: the topic or the function does not exist")
	}
	rec := &state.Resource{ID: found.Record.ID, Attrs: map[string]string{"function": functionARN}}
	for _, c := range found.Changes {
		switch c.Field {
		case "permission":
			// A statement of this ID for another topic is replaced.
			if err := r.Permission(topicARN).Put(ctx, r.lambda, functionARN, r.in.Account); err != nil {
				return nil, err
			}
		case "subscription":
			out, err := r.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("lambda"),
				Endpoint: aws.String(functionARN), ReturnSubscriptionArn: true})
			if err != nil {
				return nil, fmt.Errorf("subscribing Lambda function %s to SNS topic %s: %w", functionARN, topicARN, err)
			}
			rec.ID = aws.ToString(out.SubscriptionArn)
		}
	}
	return rec, nil
}

func (r *relaySubscription) Delete(ctx context.Context, rec *state.Resource) error {
	if rec.ID != "" {
		if _, err := r.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(rec.ID)}); err != nil && !kit.IsNotFound(err) {
			return fmt.Errorf("unsubscribing the alarm relay (%s): %w", rec.ID, err)
		}
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return kinds.RemovePermission(ctx, r.lambda, fn, relayPermissionSid)
	}
	return nil
}
