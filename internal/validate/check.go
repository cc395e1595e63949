// Package validate holds the checks behind `fvdeploy validate`: each proves one thing
// about a deployment and says, when it fails, what was seen and what to change. Checks
// take narrow interfaces over the SDK clients, so tests can stub the SDK.
package validate

import (
	"encoding/json"
	"fmt"
	"time"
)

// Check is one proof: what was checked, whether it held, what was seen, and, when it
// did not hold, what to do about it. A check that does not apply to this deployment is
// Skipped, with why in Evidence: it proved nothing, so it is neither a pass nor a
// failure, and OK is false.
type Check struct {
	Name     string
	OK       bool
	Skipped  bool
	Evidence string
	Fix      string
	// Seconds is the measured time, for checks that time something (chaos recovery).
	Seconds float64
}

// Status is how a check ended: "passed", "failed" or "skipped".
func (c Check) Status() string {
	switch {
	case c.Skipped:
		return "skipped"
	case c.OK:
		return "passed"
	}
	return "failed"
}

// checkJSON is a check in --output json: status always, ok only for a check that ran,
// so a reader testing ok never takes a skipped check for a pass or a failure.
type checkJSON struct {
	Name     string  `json:"name"`
	Status   string  `json:"status"`
	OK       *bool   `json:"ok,omitempty"`
	Evidence string  `json:"evidence"`
	Fix      string  `json:"fix,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
}

func (c Check) MarshalJSON() ([]byte, error) {
	v := checkJSON{Name: c.Name, Status: c.Status(), Evidence: c.Evidence, Fix: c.Fix, Seconds: c.Seconds}
	if !c.Skipped {
		v.OK = &c.OK
	}
	return json.Marshal(v)
}

func (c *Check) UnmarshalJSON(data []byte) error {
	var v checkJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*c = Check{Name: v.Name, OK: v.OK != nil && *v.OK, Skipped: v.Status == "skipped", Evidence: v.Evidence, Fix: v.Fix, Seconds: v.Seconds}
	return nil
}

func pass(name, format string, args ...any) Check {
	return Check{Name: name, OK: true, Evidence: fmt.Sprintf(format, args...)}
}

func fail(name, fix, format string, args ...any) Check {
	return Check{Name: name, Evidence: fmt.Sprintf(format, args...), Fix: fix}
}

// skip is a check that does not apply here; why says what would make it apply.
func skip(name, format string, args ...any) Check {
	return Check{Name: name, Skipped: true, Evidence: fmt.Sprintf(format, args...)}
}

// Failed counts the checks that ran and did not hold.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			n++
		}
	}
	return n
}

// Skipped counts the checks that did not apply.
func Skipped(checks []Check) int {
	n := 0
	for _, c := range checks {
		if c.Skipped {
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
