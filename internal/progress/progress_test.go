package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// story drives a renderer through a resource, a wait seen three times (twice unchanged)
// and a failure, with the clock moving in between.
func story(mode Mode) string {
	var b bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	r := New(&b, mode, c.t.Add(-time.Second), c.now)
	r.Start("network/vpc", "create")
	c.t = c.t.Add(2100 * time.Millisecond)
	r.Done("network/vpc", "create")
	r.Wait("deployment d1", "running 0 of 2")
	c.t = c.t.Add(5 * time.Second)
	r.Wait("deployment d1", "running 0 of 2")
	c.t = c.t.Add(PlainWaitEvery)
	r.Wait("deployment d1", "running 0 of 2")
	r.Fail("cluster/service", "update", errors.New("updating cluster/service: boom"))
	r.Log("AWS SDK", "warn", "falling back to IMDSv1")
	r.Error(errors.New("up: 1 resource failed"), 1)
	r.Summary("up", false)
	return b.String()
}

func TestPlainAppendsLinesAndRepeatsAWaitSparingly(t *testing.T) {
	got := story(Plain)
	want := "creating network/vpc ...\ncreated network/vpc (2.1s)\n" +
		"waiting for deployment d1: running 0 of 2 (0s)\n" +
		"waiting for deployment d1: running 0 of 2 (35s)\n" +
		"FAILED cluster/service: updating cluster/service: boom\n" +
		"AWS SDK warn: falling back to IMDSv1\n" +
		"Error: up: 1 resource failed\n"
	if got != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestLiveRedrawsTheWaitInPlace(t *testing.T) {
	got := story(Live)
	if strings.Count(got, "\r\033[Kwaiting for deployment d1") != 3 || !strings.Contains(got, "\r\033[KFAILED cluster/service") {
		t.Errorf("got %q", got)
	}
}

func TestJSONIsOneEventPerLineEndingWithASummary(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(story(JSON)), "\n")
	var evs []Event
	for _, l := range lines {
		var ev Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 9 {
		t.Fatalf("%d events: %q", len(evs), lines)
	}
	if ev := evs[1]; ev.Event != "resource" || ev.Phase != "network" || ev.Resource != "network/vpc" || ev.Action != "create" || ev.Status != "done" || *ev.Duration != 2.1 {
		t.Errorf("done event: %+v", ev)
	}
	if ev := evs[5]; ev.Status != "failed" || ev.Error == "" || ev.Phase != "cluster" {
		t.Errorf("failed event: %+v", ev)
	}
	if ev := evs[6]; ev.Event != "log" || ev.Level != "warn" || ev.Message != "AWS SDK: falling back to IMDSv1" {
		t.Errorf("log event: %+v", ev)
	}
	if ev := evs[7]; ev.Event != "error" || ev.Message != "up: 1 resource failed" || ev.ExitCode == nil || *ev.ExitCode != 1 {
		t.Errorf("error event: %+v", ev)
	}
	// The duration counts from when the command began, in seconds: 1 s before the
	// renderer was made, then 2.1 + 5 + 30 s of work.
	if ev := evs[8]; ev.Event != "summary" || ev.Command != "up" || *ev.OK || ev.Counts["create"] != 1 || ev.Counts["failed"] != 1 || *ev.Duration != 38.1 {
		t.Errorf("summary: %+v", ev)
	}
}

// A skipped check is its own kind: "skip" in text, a check event with status skipped and
// no ok in JSON, and counted as skipped, neither passed nor failed.
func TestSkippedCheckIsNeitherPassedNorFailed(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		want string
	}{
		{Plain, "ok   a: fine\nskip b: no domain\n"},
		{JSON, `{"event":"check","name":"a","ok":true,"evidence":"fine"}` + "\n" + `{"event":"check","status":"skipped","name":"b","evidence":"no domain"}` + "\n" +
			`{"event":"summary","duration_s":0,"ok":true,"command":"validate","counts":{"passed":1,"skipped":1}}` + "\n"},
	} {
		var b bytes.Buffer
		c := &clock{t: time.Unix(0, 0)}
		r := New(&b, tc.mode, c.t, c.now)
		r.Check("a", true, "fine", "")
		r.Skip("b", "no domain")
		r.Summary("validate", true)
		if b.String() != tc.want {
			t.Errorf("mode %v:\n got %q\nwant %q", tc.mode, b.String(), tc.want)
		}
	}
}
