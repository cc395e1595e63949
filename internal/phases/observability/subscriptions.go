package observability

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/status"
)

type subscriptionsAPI interface {
	ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, opts ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
	Subscribe(ctx context.Context, in *sns.SubscribeInput, opts ...func(*sns.Options)) (*sns.SubscribeOutput, error)
	Unsubscribe(ctx context.Context, in *sns.UnsubscribeInput, opts ...func(*sns.Options)) (*sns.UnsubscribeOutput, error)
}

// SubscriptionSet owns the topic's email and HTTPS subscribers as one set: keyed one by
// one by their position in the config, removing the first would resubscribe the rest.
// Subscriptions of other protocols (a Lambda relay, a queue) are not fvdeploy's to judge
// and are left alone.
type SubscriptionSet struct {
	In  *kit.Inputs
	API subscriptionsAPI
}

// PendingConfirmation is the subscription ARN SNS reports until the recipient confirms.
const PendingConfirmation = "PendingConfirmation"

func (r *SubscriptionSet) Key() string         { return KeySubscriptions }
func (r *SubscriptionSet) Type() string        { return "sns:subscriptions" }
func (r *SubscriptionSet) DependsOn() []string { return []string{KeyTopic} }

type subscriber struct{ protocol, endpoint string }

// String names the subscriber for plans and progress, shortening HTTPS URLs.
func (s subscriber) String() string {
	return s.protocol + ":" + status.DisplayEndpoint(s.protocol, s.endpoint)
}

// id is what two subscribers are compared by. SNS masks the password of an HTTPS
// endpoint with Basic Auth when it lists subscriptions, so that part is left out.
func (s subscriber) id() string {
	if u, err := url.Parse(s.endpoint); err == nil && s.protocol == "https" && u.User != nil {
		u.User = url.User(u.User.Username())
		return s.protocol + ":" + u.String()
	}
	return s.protocol + ":" + s.endpoint
}

func (r *SubscriptionSet) Desired() []subscriber {
	var out []subscriber
	for _, e := range r.In.Config.Alarms.Email {
		out = append(out, subscriber{"email", e})
	}
	for _, u := range r.In.Config.Alarms.HTTPS {
		out = append(out, subscriber{"https", u})
	}
	return out
}

func ListSubscriptions(ctx context.Context, api subscriptionsAPI, topicARN string) ([]snstypes.Subscription, error) {
	var out []snstypes.Subscription
	p := sns.NewListSubscriptionsByTopicPaginator(api, &sns.ListSubscriptionsByTopicInput{TopicArn: &topicARN})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Subscriptions...)
	}
	return out, nil
}

// plan compares the topic's subscribers with the config: which to subscribe, and which
// confirmed ones to unsubscribe. A pending subscription counts as there (subscribing
// again would send another confirmation request every run); an unwanted pending one
// cannot be cancelled, and SNS drops it unconfirmed after three days.
func (r *SubscriptionSet) plan(ctx context.Context, topicARN string) (add []subscriber, remove []snstypes.Subscription, err error) {
	subs, err := ListSubscriptions(ctx, r.API, topicARN)
	if err != nil {
		return nil, nil, err
	}
	live := map[string]bool{}
	for _, s := range subs {
		live[subscriber{aws.ToString(s.Protocol), aws.ToString(s.Endpoint)}.id()] = true
	}
	want := map[string]bool{}
	for _, d := range r.Desired() {
		if !live[d.id()] && !want[d.id()] {
			add = append(add, d)
		}
		want[d.id()] = true
	}
	for _, s := range subs {
		p := aws.ToString(s.Protocol)
		if (p == "email" || p == "https") && aws.ToString(s.SubscriptionArn) != PendingConfirmation && !want[subscriber{p, aws.ToString(s.Endpoint)}.id()] {
			remove = append(remove, s)
		}
	}
	return add, remove, nil
}

// Find reports the set as found whenever the topic exists, so that an empty set is
// "up to date" rather than "to create" on every run.
func (r *SubscriptionSet) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	t := deps.Get(KeyTopic)
	if t == nil {
		return nil, nil
	}
	add, remove, err := r.plan(ctx, t.ARN)
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the subscriptions of SNS topic %s: %w", t.ARN, err)
	}
	found := &engine.Found{Record: state.Resource{ID: t.ARN}}
	for _, s := range add {
		found.Changes = append(found.Changes, engine.Change{Field: "subscribe", To: s.String()})
	}
	for _, s := range remove {
		found.Changes = append(found.Changes, engine.Change{Field: "unsubscribe", From: subscriber{aws.ToString(s.Protocol), aws.ToString(s.Endpoint)}.String()})
	}
	return found, nil
}

func (r *SubscriptionSet) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	arn := deps.Get(KeyTopic).ARN
	if err := r.sync(ctx, arn); err != nil {
		return nil, err
	}
	return &state.Resource{ID: arn}, nil
}

// Update works from a fresh comparison, not from the changes: those show HTTPS
// endpoints shortened.
func (r *SubscriptionSet) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.sync(ctx, found.Record.ID); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

func (r *SubscriptionSet) sync(ctx context.Context, topicARN string) error {
	add, remove, err := r.plan(ctx, topicARN)
	if err != nil {
		return fmt.Errorf("listing the subscriptions of SNS topic %s: %w", topicARN, err)
	}
	for _, s := range add {
		if _, err := r.API.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topicARN, Protocol: aws.String(s.protocol), Endpoint: aws.String(s.endpoint)}); err != nil {
			return fmt.Errorf("subscribing %s to SNS topic %s: %w", s, topicARN, err)
		}
		// Email and HTTPS subscriptions always wait for the recipient's confirmation.
		r.In.Progress("subscribed %s to the alarm topic: alarms reach it once it confirms the request AWS sent it", s)
	}
	for _, s := range remove {
		if err := unsubscribe(ctx, r.API, s); err != nil {
			return err
		}
	}
	return nil
}

func unsubscribe(ctx context.Context, api subscriptionsAPI, s snstypes.Subscription) error {
	if _, err := api.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: s.SubscriptionArn}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("unsubscribing %s: %w", subscriber{aws.ToString(s.Protocol), aws.ToString(s.Endpoint)}, err)
	}
	return nil
}

// Delete unsubscribes the confirmed email and HTTPS subscribers; pending ones have no
// ARN to unsubscribe and lapse by themselves (or go with the topic).
func (r *SubscriptionSet) Delete(ctx context.Context, rec *state.Resource) error {
	subs, err := ListSubscriptions(ctx, r.API, rec.ID)
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the subscriptions of SNS topic %s: %w", rec.ID, err)
	}
	for _, s := range subs {
		p := aws.ToString(s.Protocol)
		if (p == "email" || p == "https") && aws.ToString(s.SubscriptionArn) != PendingConfirmation {
			if err := unsubscribe(ctx, r.API, s); err != nil {
				return err
			}
		}
	}
	return nil
}
