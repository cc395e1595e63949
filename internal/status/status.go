// Package status reads how a deployed environment's watchers stand now: the state of its
// alarms and the subscribers of its alarm topic. It knows names and narrow interfaces
// only, not fvdeploy's phases.
package status

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
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

// Alarms reads the current state of the named alarms, in name order.
func Alarms(ctx context.Context, api cloudwatch.DescribeAlarmsAPIClient, names []string) ([]AlarmState, error) {
	names = slices.Sorted(slices.Values(names))
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

// pendingConfirmation is the subscription ARN SNS lists until the recipient confirms.
const pendingConfirmation = "PendingConfirmation"

// Subscriptions lists the subscribers (every protocol) of the topic; none when topicARN
// is "" (the observability phase has not run) or the topic is gone.
func Subscriptions(ctx context.Context, api sns.ListSubscriptionsByTopicAPIClient, topicARN string) ([]SubscriptionState, error) {
	if topicARN == "" {
		return nil, nil
	}
	out := []SubscriptionState{}
	p := sns.NewListSubscriptionsByTopicPaginator(api, &sns.ListSubscriptionsByTopicInput{TopicArn: &topicARN})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing the subscriptions of SNS topic %s: %w", topicARN, err)
		}
		for _, s := range page.Subscriptions {
			p := aws.ToString(s.Protocol)
			out = append(out, SubscriptionState{Protocol: p, Endpoint: DisplayEndpoint(p, aws.ToString(s.Endpoint)), Confirmed: aws.ToString(s.SubscriptionArn) != pendingConfirmation})
		}
	}
	return out, nil
}

// DisplayEndpoint shortens an HTTPS endpoint to its host and a hash of the whole: webhook
// URLs often carry a token in the path, which has no place in plans, logs or status.
func DisplayEndpoint(protocol, endpoint string) string {
	u, err := url.Parse(endpoint)
	if protocol != "https" && protocol != "http" || err != nil {
		return endpoint
	}
	sum := sha256.Sum256([]byte(endpoint))
	return u.Scheme + "://" + u.Host + "/…#" + hex.EncodeToString(sum[:])[:8]
}

// notFound reports whether SNS says the topic does not exist.
func notFound(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.ErrorCode()
	return code == "NotFound" || strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, ".NotFound")
}
