package state

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

var moto *testenv.Moto

// helperLockDir, when set, turns the test binary into a process that takes the local lock
// on that directory, says so on stdout and waits to be killed.
const helperLockDir = "FVDEPLOY_STATE_TEST_LOCK_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperLockDir); dir != "" {
		os.Exit(holdLock(dir))
	}
	os.Exit(testenv.RunWithMoto(m, &moto))
}

func holdLock(dir string) int {
	b, err := Open(dir, "prod", nil)
	if err == nil {
		_, err = b.Lock(context.Background(), "up")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	time.Sleep(time.Hour) // until the test kills it
	return 0
}
