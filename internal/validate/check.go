// Package validate holds the checks behind `fvdeploy validate`: each proves one thing
// about a deployment and says, when it fails, what was seen and what to change. Checks
// take narrow interfaces over the SDK clients, so tests can stub the SDK.
package validate

import (
	"fmt"
	"time"
)

// Check is one proof: what was checked, whether it held, what was seen, and, when it
// did not hold, what to do about it.
type Check struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Evidence string `json:"evidence"`
	Fix      string `json:"fix,omitempty"`
	// Seconds is the measured time, for checks that time something (chaos recovery).
	Seconds float64 `json:"seconds,omitempty"`
}

func pass(name, format string, args ...any) Check {
	return Check{Name: name, OK: true, Evidence: fmt.Sprintf(format, args...)}
}

func fail(name, fix, format string, args ...any) Check {
	return Check{Name: name, Evidence: fmt.Sprintf(format, args...), Fix: fix}
}

// Failed counts the checks that did not hold.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.OK {
			n++
		}
	}
	return n
}

// backoff is the wait between polls: from first, growing by half each time, to at most
// max, so a settling deployment is polled often at first and gently later.
type backoff struct {
	next, max time.Duration
}

func newBackoff(first, max time.Duration) *backoff {
	if first <= 0 {
		first = time.Second
	}
	return &backoff{next: first, max: max}
}

func (b *backoff) step() time.Duration {
	d := b.next
	b.next = min(b.next*3/2, b.max)
	return d
}
