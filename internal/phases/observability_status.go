package phases

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// AlarmState is one of the environment's alarms as CloudWatch sees it now.
type AlarmState struct {
	Name string `json:"name"`
	// State is OK, ALARM or INSUFFICIENT_DATA, or MISSING for an alarm state records but
	// CloudWatch does not have (deleted out of band: `up` puts it back).
	State  string    `json:"state"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since,omitzero"`
}

// AlarmStates reads the current state of every alarm the state document records, in
// name order.
func AlarmStates(ctx context.Context, in *Inputs, doc *state.Document) ([]AlarmState, error) {
	return alarmStates(ctx, in.AWS.CloudWatch(), doc)
}

func alarmStates(ctx context.Context, api alarmAPI, doc *state.Document) ([]AlarmState, error) {
	var names []string
	for _, rec := range doc.Resources {
		if rec.Type == typeAlarm {
			names = append(names, rec.ID)
		}
	}
	slices.Sort(names)
	live := map[string]cwtypes.MetricAlarm{}
	// DescribeAlarms takes at most 100 names a call.
	for batch := range slices.Chunk(names, 100) {
		p := cloudwatch.NewDescribeAlarmsPaginator(api, &cloudwatch.DescribeAlarmsInput{AlarmNames: batch})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing alarms: %w", err)
			}
			for _, m := range page.MetricAlarms {
				live[aws.ToString(m.AlarmName)] = m
			}
		}
	}
	out := make([]AlarmState, 0, len(names))
	for _, n := range names {
		m, ok := live[n]
		if !ok {
			out = append(out, AlarmState{Name: n, State: "MISSING", Reason: "recorded in state but not in CloudWatch: `fvdeploy up` creates it again"})
			continue
		}
		out = append(out, AlarmState{Name: n, State: string(m.StateValue), Reason: aws.ToString(m.StateReason), Since: aws.ToTime(m.StateUpdatedTimestamp)})
	}
	return out, nil
}

// SubscriptionState is one subscriber of the alarm topic.
type SubscriptionState struct {
	Protocol string `json:"protocol"`
	// Endpoint is the address; an HTTPS URL is shortened to its host and a hash, since
	// webhook URLs often hold a token.
	Endpoint string `json:"endpoint"`
	// Confirmed is false until the recipient confirms; until then it receives nothing.
	Confirmed bool `json:"confirmed"`
}

// Subscriptions lists the alarm topic's subscribers (every protocol), or none when the
// observability phase has not run.
func Subscriptions(ctx context.Context, in *Inputs, doc *state.Document) ([]SubscriptionState, error) {
	return subscriptionStates(ctx, in.AWS.SNS(), doc)
}

func subscriptionStates(ctx context.Context, api subscriptionsAPI, doc *state.Document) ([]SubscriptionState, error) {
	t := doc.Resources[keyTopic]
	if t == nil {
		return nil, nil
	}
	subs, err := listSubscriptions(ctx, api, t.ARN)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the subscriptions of SNS topic %s: %w", t.ARN, err)
	}
	out := make([]SubscriptionState, 0, len(subs))
	for _, s := range subs {
		p := aws.ToString(s.Protocol)
		out = append(out, SubscriptionState{Protocol: p, Endpoint: displayEndpoint(p, aws.ToString(s.Endpoint)), Confirmed: aws.ToString(s.SubscriptionArn) != pendingConfirmation})
	}
	return out, nil
}
