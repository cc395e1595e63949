// Package progress is the one display of long operations: resource lines with their
// durations, waits with what is awaited and for how long, and checks as they finish.
//
// It writes to the progress stream (stderr), never to stdout, so that a command's data
// on stdout stays parseable. Three modes:
//   - Live (a terminal, CI unset): lines are appended, and the current wait is one
//     status line redrawn in place beneath them.
//   - Plain (not a terminal, or CI=true): appended lines only, no control characters,
//     no colour; a wait is repeated at most every 30 s or when its status changes.
//   - JSON (--output json): one JSON object per line (an Event), ending with a summary.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Mode is how the renderer draws.
type Mode int

// The modes.
const (
	Plain Mode = iota
	Live
	JSON
)

// DetectMode picks JSON when asked for, else Live on a terminal outside CI, else Plain.
func DetectMode(w io.Writer, jsonOutput bool, getenv func(string) string) Mode {
	if jsonOutput {
		return JSON
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && getenv("CI") == "" {
		return Live
	}
	return Plain
}

// Event is one line of --output json progress.
type Event struct {
	Event    string   `json:"event"` // resource, wait, check, note, log, error or summary
	Phase    string   `json:"phase,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Action   string   `json:"action,omitempty"`
	Status   string   `json:"status,omitempty"` // started, done, failed; a wait's status
	Duration *float64 `json:"duration_s,omitempty"`
	Error    string   `json:"error,omitempty"`
	What     string   `json:"what,omitempty"` // what a wait waits for
	Message  string   `json:"message,omitempty"`
	Name     string   `json:"name,omitempty"` // a check's name
	OK       *bool    `json:"ok,omitempty"`
	Evidence string   `json:"evidence,omitempty"`
	Fix      string   `json:"fix,omitempty"`
	Level    string   `json:"level,omitempty"`     // a log line's level
	ExitCode *int     `json:"exit_code,omitempty"` // an error's
	// Summary fields.
	Command string         `json:"command,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

// Renderer draws progress; safe for concurrent use.
type Renderer struct {
	w    io.Writer
	mode Mode
	now  func() time.Time

	mu       sync.Mutex
	started  map[string]time.Time
	drawn    bool // a live status line is on screen
	lastWait map[string]waitSeen
	begun    time.Time
	counts   map[string]int
}

type waitSeen struct {
	at     time.Time
	status string
}

// PlainWaitEvery is how often an unchanged wait is repeated in plain mode: CI logs are
// read afterwards, not watched.
const PlainWaitEvery = 30 * time.Second

// New returns a renderer writing to w; now is the clock (nil for the real one), begun
// when the command started (zero: now), which the summary's duration counts from.
func New(w io.Writer, mode Mode, begun time.Time, now func() time.Time) *Renderer {
	if now == nil {
		now = time.Now
	}
	if begun.IsZero() {
		begun = now()
	}
	return &Renderer{w: w, mode: mode, now: now, started: map[string]time.Time{}, lastWait: map[string]waitSeen{},
		begun: begun, counts: map[string]int{}}
}

// Mode reports how the renderer draws.
func (r *Renderer) Mode() Mode { return r.mode }

func (r *Renderer) emit(ev Event) {
	b, _ := json.Marshal(ev) // an Event always encodes
	fmt.Fprintf(r.w, "%s\n", b)
}

// line appends a line, clearing a live status line first.
func (r *Renderer) line(format string, args ...any) {
	if r.drawn {
		fmt.Fprint(r.w, "\r\033[K")
		r.drawn = false
	}
	fmt.Fprintf(r.w, format+"\n", args...)
}

func phaseOf(key string) string {
	p, _, _ := strings.Cut(key, "/")
	return p
}

// Start says work on a resource began; action is create, update, replace or delete.
func (r *Renderer) Start(key, action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[key] = r.now()
	if r.mode == JSON {
		r.emit(Event{Event: "resource", Phase: phaseOf(key), Resource: key, Action: action, Status: "started"})
		return
	}
	r.line("%s %s ...", ing(action), key)
}

// Done says a resource's work ended well, with how long it took.
func (r *Renderer) Done(key, action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	took := r.now().Sub(r.started[key])
	r.counts[action]++
	if r.mode == JSON {
		s := took.Seconds()
		r.emit(Event{Event: "resource", Phase: phaseOf(key), Resource: key, Action: action, Status: "done", Duration: &s})
		return
	}
	r.line("%s %s (%s)", ed(action), key, took.Round(100*time.Millisecond))
}

// Fail says a resource's work failed.
func (r *Renderer) Fail(key, action string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts["failed"]++
	if r.mode == JSON {
		ev := Event{Event: "resource", Phase: phaseOf(key), Resource: key, Action: action, Status: "failed", Error: err.Error()}
		if t, ok := r.started[key]; ok {
			s := r.now().Sub(t).Seconds()
			ev.Duration = &s
		}
		r.emit(ev)
		return
	}
	r.line("FAILED %s: %v", key, err)
}

// Wait shows what is being waited for, its current status and the time waited so far
// (since the first Wait for the same what).
func (r *Renderer) Wait(what, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	first, ok := r.started["wait:"+what]
	if !ok {
		first = now
		r.started["wait:"+what] = now
	}
	elapsed := now.Sub(first)
	switch r.mode {
	case JSON:
		s := elapsed.Seconds()
		r.emit(Event{Event: "wait", What: what, Status: status, Duration: &s})
	case Live:
		fmt.Fprintf(r.w, "\r\033[Kwaiting for %s: %s (%s)", what, status, elapsed.Round(time.Second))
		r.drawn = true
	default:
		last, seen := r.lastWait[what]
		if seen && last.status == status && now.Sub(last.at) < PlainWaitEvery {
			return
		}
		r.lastWait[what] = waitSeen{at: now, status: status}
		r.line("waiting for %s: %s (%s)", what, status, elapsed.Round(time.Second))
	}
}

// Notef is a message for the person: an appended line, or a note event.
func (r *Renderer) Notef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if r.mode == JSON {
		r.emit(Event{Event: "note", Message: msg})
		return
	}
	r.line("%s", msg)
}

// Log passes on a line that a library logged (the AWS SDK's warnings): a log event, or
// an appended line naming its source.
func (r *Renderer) Log(source, level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == JSON {
		r.emit(Event{Event: "log", Level: level, Message: source + ": " + msg})
		return
	}
	r.line("%s %s: %s", source, level, msg)
}

// Error reports the command's failure and its exit code: an error event, or the
// "Error: ..." line.
func (r *Renderer) Error(err error, exitCode int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == JSON {
		r.emit(Event{Event: "error", Message: err.Error(), ExitCode: &exitCode})
		return
	}
	r.line("Error: %v", err)
}

// Check reports a finished check.
func (r *Renderer) Check(name string, ok bool, evidence, fix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.counts["passed"]++
	} else {
		r.counts["failed"]++
	}
	if r.mode == JSON {
		r.emit(Event{Event: "check", Name: name, OK: &ok, Evidence: evidence, Fix: fix})
		return
	}
	mark := "ok  "
	if !ok {
		mark = "FAIL"
	}
	r.line("%s %s: %s", mark, name, evidence)
}

// Skip reports a check that did not apply, with why: neither passed nor failed.
func (r *Renderer) Skip(name, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts["skipped"]++
	if r.mode == JSON {
		r.emit(Event{Event: "check", Name: name, Status: "skipped", Evidence: why})
		return
	}
	r.line("skip %s: %s", name, why)
}

// Summary ends a JSON event stream with the counts of what happened and how long the
// command took; in the text modes it only clears a live status line, since the
// command's result (on stdout) is the summary people read.
func (r *Renderer) Summary(command string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode != JSON {
		if r.drawn {
			fmt.Fprint(r.w, "\r\033[K")
			r.drawn = false
		}
		return
	}
	s := r.now().Sub(r.begun).Seconds()
	r.emit(Event{Event: "summary", Command: command, OK: &ok, Duration: &s, Counts: r.counts})
}

func ing(action string) string {
	switch action {
	case "create":
		return "creating"
	case "update":
		return "updating"
	case "replace":
		return "replacing"
	case "delete":
		return "deleting"
	}
	return action
}

func ed(action string) string {
	switch action {
	case "create":
		return "created"
	case "update":
		return "updated"
	case "replace":
		return "replaced"
	case "delete":
		return "deleted"
	}
	return action
}
