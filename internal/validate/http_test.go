package validate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// app answers like the service: Basic Auth on /, open /health; the first unready
// requests get the 503 an ALB gives while no target is healthy.
func app(user, pass string, unready int32) (*httptest.Server, *atomic.Int32) {
	var seen atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= unready {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/health" {
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})), &seen
}

func TestHTTPRetriesWhileSettlingThenPasses(t *testing.T) {
	srv, seen := app("admin", "right", 2)
	defer srv.Close()
	checks := HTTP(context.Background(), HTTPTarget{BaseURL: srv.URL, User: "admin", Pass: "right", UserAgent: "fvdeploy-validate/1", Settle: 10 * time.Second, Poll: time.Millisecond})
	if Failed(checks) != 0 || len(checks) != 4 {
		t.Fatalf("checks: %+v", checks)
	}
	if !strings.Contains(checks[0].Evidence, "after 3 attempt(s)") || seen.Load() != 6 {
		t.Errorf("want the first probe retried through two 503s: %s, %d requests", checks[0].Evidence, seen.Load())
	}
}

func TestHTTPWrongPasswordIsFinalAndSaysWhatToDo(t *testing.T) {
	srv, seen := app("admin", "rotated", 0)
	defer srv.Close()
	checks := HTTP(context.Background(), HTTPTarget{BaseURL: srv.URL, User: "admin", Pass: "old", Settle: time.Minute, Poll: time.Millisecond})
	c := checks[0]
	if c.OK || !strings.Contains(c.Evidence, "HTTP 401 (want 200) after 1 attempt(s)") || !strings.Contains(c.Fix, "Secrets Manager") || seen.Load() != 4 {
		t.Errorf("got %+v after %d requests; want one final 401 and a fix", c, seen.Load())
	}
	if Failed(checks) != 1 {
		t.Errorf("only the 200 check should fail: %+v", checks)
	}
}

func TestHTTPGivesUpAfterSettle(t *testing.T) {
	srv, _ := app("admin", "right", 1<<30)
	defer srv.Close()
	start := time.Now()
	checks := HTTP(context.Background(), HTTPTarget{BaseURL: srv.URL, User: "admin", Pass: "right", Settle: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
	if Failed(checks) != 4 || !strings.Contains(checks[0].Evidence, "HTTP 503 (want 200)") {
		t.Errorf("checks: %+v", checks)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s; the settle time bounds the retries", took)
	}
}

func TestHTTPRejectsABadURL(t *testing.T) {
	if c := HTTP(context.Background(), HTTPTarget{BaseURL: "ftp://x"}); len(c) != 1 || c[0].OK || c[0].Fix == "" {
		t.Errorf("got %+v", c)
	}
}
