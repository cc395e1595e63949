package kit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWaitForReportsEachPollAndHonoursTheDeadline(t *testing.T) {
	var seen []string
	in := &Inputs{PollInterval: time.Millisecond, Progress: t.Logf,
		Wait: func(what, status string) { seen = append(seen, what+": "+status) }}
	polls := 0
	err := in.WaitFor(context.Background(), "NAT gateway nat-1", func(context.Context) (bool, string, error) {
		polls++
		return polls == 3, fmt.Sprintf("pending (%d)", polls), nil
	})
	if err != nil || !slices.Equal(seen, []string{"NAT gateway nat-1: pending (1)", "NAT gateway nat-1: pending (2)"}) {
		t.Errorf("err %v, waits shown %q", err, seen)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = in.WaitFor(ctx, "load balancer lb-1", func(context.Context) (bool, string, error) { return false, "provisioning", nil })
	if err == nil || !strings.Contains(err.Error(), "waiting for load balancer lb-1 (last seen: provisioning): context deadline exceeded") {
		t.Errorf("err = %v, want the deadline with what was awaited and its last status", err)
	}
}
