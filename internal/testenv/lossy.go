package testenv

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// LossyProxy stands between a client and an AWS emulator and, for a fixed share of the
// calls that may change something, lets the call take effect and then drops the
// connection without an answer: the failure after which a client cannot know whether its
// write happened. Which calls lose their answer depends only on the seed, the operation
// and how many times that operation was called before, so a seed replays the same faults.
type LossyProxy struct {
	URL string

	seed     uint64
	share    float64
	mutating func(op string) bool
	mu       sync.Mutex
	calls    map[string]int
	writes   []Write
}

// Write is one call that may change something, as the proxy saw it.
type Write struct {
	Op   string
	Body string
	Lost bool
}

// StartLossyProxy forwards to target (an emulator's endpoint) until the test ends.
// mutating tells writes from reads by operation name (awsclients.Call.Mutating, which
// this package cannot import: awsclients' tests use it).
func StartLossyProxy(t testing.TB, target string, seed uint64, share float64, mutating func(op string) bool) *LossyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &LossyProxy{seed: seed, share: share, mutating: mutating, calls: map[string]int{}}
	forward := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		op, mutating := p.operation(r, body)
		if !mutating || !p.loses(op, body) {
			forward.ServeHTTP(w, r)
			return
		}
		// The emulator carries the write out; its answer never leaves this proxy.
		forward.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("lossy proxy: hijacking the connection of %s: %v", op, err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// loses decides, once per call, whether this call's answer is dropped.
func (p *LossyProxy) loses(op string, body []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.calls[op]
	p.calls[op]++
	h := fnv.New64a()
	_ = binary.Write(h, binary.LittleEndian, p.seed)
	h.Write([]byte(op))
	_ = binary.Write(h, binary.LittleEndian, uint64(n))
	lose := float64(h.Sum64()>>11)/float64(1<<53) < p.share
	p.writes = append(p.writes, Write{Op: op, Body: string(body), Lost: lose})
	return lose
}

// Writes lists the calls that may change something, in order.
func (p *LossyProxy) Writes() []Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Write(nil), p.writes...)
}

// Lost lists the operations whose answer was dropped, in order.
func (p *LossyProxy) Lost() []string {
	var ops []string
	for _, w := range p.Writes() {
		if w.Lost {
			ops = append(ops, w.Op)
		}
	}
	return ops
}

// operation names the AWS operation of a request in each of the wire protocols the SDK
// speaks, and says whether it may change something. REST calls (Route 53, S3, Lambda)
// are named by method and path; only GET and HEAD read.
func (p *LossyProxy) operation(r *http.Request, body []byte) (string, bool) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op := target[strings.LastIndex(target, ".")+1:]
		return op, p.mutating(op)
	}
	if i := strings.LastIndex(r.URL.Path, "/operation/"); i >= 0 {
		op := r.URL.Path[i+len("/operation/"):]
		return op, p.mutating(op)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			op := form.Get("Action")
			return op, p.mutating(op)
		}
	}
	return r.Method + " " + r.URL.Path, r.Method != http.MethodGet && r.Method != http.MethodHead
}
