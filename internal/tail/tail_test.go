package tail

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

func page(next string, evs ...logtypes.FilteredLogEvent) *cloudwatchlogs.FilterLogEventsOutput {
	out := &cloudwatchlogs.FilterLogEventsOutput{Events: evs}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out
}

func ev(id string, ms int64, stream string) logtypes.FilteredLogEvent {
	return logtypes.FilteredLogEvent{EventId: aws.String(id), Timestamp: aws.Int64(ms), LogStreamName: aws.String(stream), Message: aws.String("m" + id)}
}

// Two polls: the first reads two pages; the second overlaps it (the moving start time
// sits Lag before the newest event) and brings one late event and one new one.
func TestFollowPaginatesOverlapsAndNeverRepeats(t *testing.T) {
	since := time.UnixMilli(900)
	s := testenv.NewSDKStub(t, map[string][]any{"FilterLogEvents": {
		page("p2", ev("1", 1000, "a"), ev("2", 5000, "a")),
		page("", ev("3", 3000, "b")),
		page("", ev("2", 5000, "a"), ev("late", 4500, "b"), ev("4", 6000, "a")),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	tl := &Tail{API: s.Logs(), Group: "/ecs/app-dev", Filter: "GET", Poll: time.Second, Lag: time.Second,
		Sleep: func(context.Context, time.Duration) error {
			if polls++; polls == 2 {
				cancel()
				return context.Canceled
			}
			return nil
		}}
	var got []string
	if err := tl.Run(ctx, since, true, func(e Event) { got = append(got, e.ID) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"1", "3", "2", "late", "4"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	calls := s.Calls("FilterLogEvents")
	if len(calls) != 3 {
		t.Fatalf("%d FilterLogEvents calls, want 3", len(calls))
	}
	first, second, third := calls[0].(*cloudwatchlogs.FilterLogEventsInput), calls[1].(*cloudwatchlogs.FilterLogEventsInput), calls[2].(*cloudwatchlogs.FilterLogEventsInput)
	if aws.ToInt64(first.StartTime) != 900 || aws.ToString(second.NextToken) != "p2" || aws.ToInt64(second.StartTime) != 900 {
		t.Errorf("first poll: start %d, then token %q start %d", aws.ToInt64(first.StartTime), aws.ToString(second.NextToken), aws.ToInt64(second.StartTime))
	}
	if aws.ToInt64(third.StartTime) != 4000 || third.NextToken != nil {
		t.Errorf("second poll starts at %d, want 4000 (newest 5000 minus 1 s of lag)", aws.ToInt64(third.StartTime))
	}
	if aws.ToString(first.FilterPattern) != `"GET"` {
		t.Errorf("filter pattern %q", aws.ToString(first.FilterPattern))
	}
}

// An event younger than Hold waits for the next poll, so one that arrives a little late
// with an earlier time still comes out before it.
func TestFollowHoldsYoungEventsBackToKeepOrder(t *testing.T) {
	s := testenv.NewSDKStub(t, map[string][]any{"FilterLogEvents": {
		page("", ev("1", 1000, "a"), ev("3", 9500, "a")),
		page("", ev("1", 1000, "a"), ev("2", 9000, "b"), ev("3", 9500, "a")),
	}})
	clock := time.UnixMilli(10000)
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	tl := &Tail{API: s.Logs(), Group: "g", Poll: time.Second, Lag: 5 * time.Second, Hold: 2 * time.Second,
		Now: func() time.Time { return clock },
		Sleep: func(context.Context, time.Duration) error {
			clock = clock.Add(time.Second)
			if polls++; polls == 3 {
				cancel()
				return context.Canceled
			}
			return nil
		}}
	var got []string
	if err := tl.Run(ctx, time.UnixMilli(0), true, func(e Event) { got = append(got, e.ID) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1,2,3" {
		t.Errorf("events %v, want 1,2,3", got)
	}
}
