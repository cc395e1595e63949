// Package tail reads a CloudWatch log group across all its streams in time order, once
// or following it, with FilterLogEvents.
//
// Following has two hazards: CloudWatch takes events in late (an event can appear after
// others with later timestamps), and each poll overlaps the previous one. So events
// younger than Hold are left for a later poll (those that arrive up to Hold late are
// still shown in time order), each poll starts Lag before the newest timestamp shown
// (events up to Lag late are still shown, if out of order), and events already shown are
// skipped by their event ID (no duplicates).
package tail

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// API is what tailing calls.
type API interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// Event is one log event.
type Event struct {
	ID        string
	Timestamp time.Time
	Stream    string
	Message   string
}

// Tail reads one log group.
type Tail struct {
	API   API
	Group string
	// Filter keeps only events containing this text; empty keeps all.
	Filter string
	// Poll is the wait between polls when following.
	Poll time.Duration
	// Lag is how late an event may arrive and still be shown.
	Lag time.Duration
	// Hold is how long, when following, an event waits before it is shown, so that
	// slightly late ones can be put before it.
	Hold time.Duration
	// Now is the clock; nil means the real one.
	Now func() time.Time
	// Sleep waits between polls; nil means the real clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Run shows every event from since on, in time order, calling emit once per event. With
// follow it keeps polling until ctx ends, which is a normal end (Ctrl-C), not an error.
func (t *Tail) Run(ctx context.Context, since time.Time, follow bool, emit func(Event)) error {
	sleep := t.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}
	}
	now := t.Now
	if now == nil {
		now = time.Now
	}
	start := since.UnixMilli()
	seen := map[string]int64{} // event ID -> timestamp, for the overlap window only
	var newest int64
	for {
		held := now().Add(-t.Hold)
		events, err := t.poll(ctx, start)
		if err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range events {
			// Before start is before the window seen covers: shown already, or older than Lag.
			if _, dup := seen[ev.ID]; dup || ev.Timestamp.UnixMilli() < start {
				continue
			}
			if follow && ev.Timestamp.After(held) {
				// Sorted by time: this and every later event wait for the next poll.
				break
			}
			seen[ev.ID] = ev.Timestamp.UnixMilli()
			newest = max(newest, ev.Timestamp.UnixMilli())
			emit(ev)
		}
		if !follow {
			return nil
		}
		// The next poll starts Lag before the newest event, never before since.
		start = max(since.UnixMilli(), newest-t.Lag.Milliseconds())
		for id, ts := range seen {
			if ts < start {
				delete(seen, id)
			}
		}
		if err := sleep(ctx, t.Poll); err != nil {
			return nil
		}
	}
}

// poll reads every page from start on and orders the events by time, then stream;
// events equal in both keep the order FilterLogEvents gave them.
func (t *Tail) poll(ctx context.Context, start int64) ([]Event, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(t.Group), StartTime: aws.Int64(start)}
	if t.Filter != "" {
		in.FilterPattern = aws.String(`"` + t.Filter + `"`)
	}
	var out []Event
	p := cloudwatchlogs.NewFilterLogEventsPaginator(t.API, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading log group %s: %w", t.Group, err)
		}
		for _, e := range page.Events {
			ev := Event{ID: aws.ToString(e.EventId), Timestamp: time.UnixMilli(aws.ToInt64(e.Timestamp)), Stream: aws.ToString(e.LogStreamName), Message: aws.ToString(e.Message)}
			if ev.ID == "" {
				// Without an ID (an emulator), what identifies an event is all it holds.
				ev.ID = fmt.Sprintf("%d/%s/%s", aws.ToInt64(e.Timestamp), ev.Stream, ev.Message)
			}
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.Stream, b.Stream))
	})
	return out, nil
}
