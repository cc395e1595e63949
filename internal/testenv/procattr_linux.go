package testenv

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the emulator if the test process dies
// without cleaning up (a panic, a timeout, SIGKILL), so no server outlives its tests.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
