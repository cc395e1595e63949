package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Ministack is a ministack server on loopback. Alone (no DOCKER_HOST) it serves what it
// models and moto does not, e.g. its IAM policy evaluator (AUTH=true), which applies
// identity and resource policies to every request; the runtime ground starts one with an
// engine to run ECS tasks.
type Ministack struct {
	// Endpoint is its gateway, http://127.0.0.1:PORT.
	Endpoint string
	// LogPath is its log, kept in its folder until Stop.
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
	dir    string
}

// StartMinistack starts ministack for runtimeAccount with the extra settings given as
// KEY=VALUE (e.g. AUTH=true, DOCKER_HOST=...). Requests signed with the key "test" act as
// the account's root. On failure nothing is left running.
func StartMinistack(settings ...string) (m *Ministack, err error) {
	bin, err := ministackBinary()
	if err != nil {
		return nil, err
	}
	m = &Ministack{exited: make(chan struct{})}
	defer func() {
		if err != nil {
			m.Stop()
			m = nil
		}
	}()
	if m.dir, err = os.MkdirTemp("", "fvd-ministack-"); err != nil {
		return m, err
	}
	port, err := freePort()
	if err != nil {
		return m, fmt.Errorf("finding a free port for ministack: %w", err)
	}
	m.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	m.LogPath = filepath.Join(m.dir, "ministack.log")
	logFile, err := os.Create(m.LogPath)
	if err != nil {
		return m, err
	}
	defer logFile.Close()
	m.cmd = exec.Command(bin)
	m.cmd.Dir = m.dir
	m.cmd.Env = append(append(serverEnv(),
		"GATEWAY_PORT="+strconv.Itoa(port),
		"BIND_HOST=127.0.0.1",
		"MINISTACK_ACCOUNT_ID="+runtimeAccount,
		"MINISTACK_REGION=us-east-1",
		// Its PID file, S3 data and scratch files stay in its own folder.
		"TMPDIR="+m.dir,
		"S3_DATA_DIR="+filepath.Join(m.dir, "s3"),
		// It looks itself up as a container by HOSTNAME to pick the tasks' network;
		// on the host it must find nothing, so tasks join the engine's default bridge.
		"HOSTNAME=",
	), settings...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	setParentDeathSignal(m.cmd)
	if err := m.cmd.Start(); err != nil {
		return m, fmt.Errorf("starting ministack (%s): %w", bin, err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	if err := waitUntilAnswers(m.Endpoint+"/_ministack/health", http.StatusOK, m.exited, 60*time.Second); err != nil {
		// Its folder goes with the failed start: the end of its log goes into the error.
		log, _ := os.ReadFile(m.LogPath)
		return m, fmt.Errorf("ministack on %s: %w: %s", m.Endpoint, err, tail(log))
	}
	return m, nil
}

// Stop stops ministack and removes its folder.
func (m *Ministack) Stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	if m.dir != "" {
		_ = os.RemoveAll(m.dir)
	}
}
