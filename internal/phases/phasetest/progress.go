package phasetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// ProgressLog collects what the phases tell the person watching.
type ProgressLog struct {
	T     *testing.T
	mu    sync.Mutex
	lines []string
}

func (p *ProgressLog) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	p.lines = append(p.lines, line)
	p.T.Log(line)
}

func (p *ProgressLog) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}
