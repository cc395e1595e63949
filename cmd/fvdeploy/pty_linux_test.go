package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// confirmedDestroy runs destroy at a terminal (a pseudo-terminal), where it asks to
// type the environment's name, types it, and returns what destroy said on stderr.
func confirmedDestroy(t *testing.T, c *testenv.CLI, env string) string {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlocking the pseudo-terminal: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("naming the pseudo-terminal: %v", errno)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pseudo-terminal: %v", err)
	}
	defer tty.Close()
	// The line waits in the terminal until destroy reads its answer; what the terminal
	// echoes back is drained so that it never blocks.
	if _, err := ptmx.WriteString(env + "\n"); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, ptmx) }()
	cmd := c.Command("destroy", "--env", env)
	var stderr strings.Builder
	cmd.Stdin, cmd.Stderr = tty, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fvdeploy destroy --env %s at a terminal: %v\n%s", env, err, stderr.String())
	}
	return stderr.String()
}
