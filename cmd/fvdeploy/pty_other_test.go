//go:build !linux

package main

import (
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// confirmedDestroy needs a pseudo-terminal, which the tests open the Linux way only.
func confirmedDestroy(t *testing.T, _ *testenv.CLI, _ string) string {
	t.Skip("destroy's confirmation at a terminal is tested on Linux")
	return ""
}
