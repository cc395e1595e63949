package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// logs --follow, run as a user would, while events are written to the log group in
// batches over two streams: each appears once, in order, and Ctrl-C ends it cleanly.
func TestLogsFollowShowsEachEventOnceInOrder(t *testing.T) {
	c := newCLI(t)
	mustRun(t, c, upArgs("dev")...)
	group := readState(t, c, "dev").Resources["cluster/log-group"].ID
	logs := testClients(t).Logs()
	ctx := context.Background()
	for _, s := range []string{"app/app/t1", "app/app/t2"} {
		if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := c.Command("logs", "--env", "dev", "--follow", "--since", "1m", "--poll", "200ms", "--output", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	var want, got []string
	n := 0
	for batch := range 3 {
		// Each batch spreads over both streams, interleaved in time.
		byStream := map[string][]logtypes.InputLogEvent{}
		base := time.Now().UnixMilli()
		for i := range 4 {
			msg := fmt.Sprintf("event-%02d", n)
			stream := []string{"app/app/t1", "app/app/t2"}[i%2]
			byStream[stream] = append(byStream[stream], logtypes.InputLogEvent{Message: aws.String(msg), Timestamp: aws.Int64(base + int64(i))})
			want = append(want, msg)
			n++
		}
		for s, evs := range byStream {
			if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s), LogEvents: evs}); err != nil {
				t.Fatal(err)
			}
		}
		// Read until this batch has all arrived, then let a few more polls go by so that
		// a repeat would show before the next batch.
		deadline := time.After(20 * time.Second)
		for len(got) < len(want) {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("logs --follow ended early after batch %d; stderr:\n%s", batch, stderr.String())
				}
				var ev struct{ Message string }
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("not a JSON line: %q", l)
				}
				got = append(got, ev.Message)
			case <-deadline:
				t.Fatalf("batch %d: got %v, want %v; stderr:\n%s", batch, got, want, stderr.String())
			}
		}
		time.Sleep(600 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		got = append(got, "after the end: "+l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("logs --follow after Ctrl-C: %v; stderr:\n%s", err, stderr.String())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events shown:\n%v\nwant each once, in order:\n%v", got, want)
	}
}
