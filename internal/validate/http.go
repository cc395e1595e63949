package validate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPTarget is the service as a client sees it.
type HTTPTarget struct {
	// BaseURL is the service URL (https://domain, http://ALB-DNS, or --url).
	BaseURL string
	// User and Pass are the admin credentials; they go only into Authorization headers.
	User, Pass string
	// UserAgent marks validate's own requests, so that the logs check can find their
	// access log lines.
	UserAgent string
	// Settle bounds how long a request is retried while DNS and targets settle.
	Settle time.Duration
	// Poll is the first wait between retries; it backs off from there.
	Poll   time.Duration
	Client *http.Client
}

type probe struct {
	name, path string
	auth       func(*http.Request)
	want       int
	fix        string
}

// HTTP proves the service answers as it should: 200 to the admin credentials, 401 to
// none and to wrong ones, 200 on /health; over TLS also a certificate valid for the
// name, and plain HTTP redirected to HTTPS.
//
// A request is retried only while the answer says "not ready yet" (no connection, DNS
// not resolving, or the 502/503/504 an ALB gives with no healthy target); any other
// answer is the service's, and final.
func HTTP(ctx context.Context, t HTTPTarget) []Check {
	base, err := url.Parse(strings.TrimSuffix(t.BaseURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return []Check{fail("service URL", "pass --url http(s)://HOST[:PORT], or run `fvdeploy up` so that state records the ALB",
			"%q is not an http(s) URL", t.BaseURL)}
	}
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// validate judges each answer itself, so redirects are not followed.
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	deadline := time.Now().Add(t.Settle)
	probes := []probe{
		{name: "GET / with the admin credentials answers 200", path: "/", want: http.StatusOK,
			auth: func(r *http.Request) { r.SetBasicAuth(t.User, t.Pass) },
			fix:  "the service does not accept the credentials stored in Secrets Manager: its tasks read the secret when they start, so roll them onto its current value (`fvdeploy secrets rotate`, or a new deployment), and check the task definition's secrets"},
		{name: "GET / without credentials answers 401", path: "/", want: http.StatusUnauthorized, auth: func(*http.Request) {},
			fix: "the service must refuse anonymous requests: deploy the image built from api/, which requires Basic Auth on /"},
		{name: "GET / with wrong credentials answers 401", path: "/", want: http.StatusUnauthorized,
			auth: func(r *http.Request) { r.SetBasicAuth(t.User, "fvdeploy-validate-wrong-password") },
			fix:  "the service must refuse wrong credentials: deploy the image built from api/"},
		{name: "GET /health answers 200", path: "/health", want: http.StatusOK, auth: func(*http.Request) {},
			fix: "the health check the target group uses must be open and answer 200: check the app's /health and the container's logs (`fvdeploy logs`)"},
	}
	var checks []Check
	var tlsState *tls.ConnectionState
	for _, p := range probes {
		c, state := t.run(ctx, &noFollow, base, p, deadline)
		if state != nil {
			tlsState = state
		}
		checks = append(checks, c)
	}
	if base.Scheme == "https" {
		checks = append(checks, certificateCheck(base.Hostname(), tlsState), t.redirectCheck(ctx, &noFollow, base, deadline))
	}
	return checks
}

func (t HTTPTarget) run(ctx context.Context, client *http.Client, base *url.URL, p probe, deadline time.Time) (Check, *tls.ConnectionState) {
	start := time.Now()
	b := newBackoff(t.Poll, 10*time.Second)
	attempts := 0
	for {
		attempts++
		status, state, err := t.get(ctx, client, base.String()+p.path, p.auth)
		settling := err != nil || status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
		if !settling || time.Now().After(deadline) || ctx.Err() != nil {
			took := time.Since(start).Round(time.Millisecond)
			switch {
			case err != nil:
				return fail(p.name, "nothing answered at "+base.String()+": check that the service runs and that the URL is right (--url), then run validate again",
					"no answer after %d attempt(s) over %s: %v", attempts, took, err), state
			case status != p.want:
				return fail(p.name, p.fix, "HTTP %d (want %d) after %d attempt(s) over %s", status, p.want, attempts, took), state
			}
			return pass(p.name, "HTTP %d after %d attempt(s) in %s", status, attempts, took), state
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(b.step(), time.Until(deadline)+time.Millisecond)):
		}
	}
}

func (t HTTPTarget) get(ctx context.Context, client *http.Client, u string, auth func(*http.Request)) (int, *tls.ConnectionState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", t.UserAgent)
	auth(req)
	resp, err := client.Do(req)
	if err != nil {
		// The URL error quotes the request, never its headers: no credential leaks here.
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.TLS, nil
}

// certificateCheck reads the certificate the HTTPS requests were answered with. Go's
// client has already refused an untrusted chain or a wrong name; this says so plainly
// and reports the expiry.
func certificateCheck(host string, state *tls.ConnectionState) Check {
	const name = "TLS certificate valid for the name"
	if state == nil || len(state.PeerCertificates) == 0 {
		return fail(name, "check the edge phase's ACM certificate and the HTTPS listener (`fvdeploy status`)",
			"no TLS handshake completed with %s", host)
	}
	cert := state.PeerCertificates[0]
	if err := cert.VerifyHostname(host); err != nil {
		return fail(name, "the certificate must cover "+host+": add it to edge.domain or edge.sans and run `fvdeploy up`", "%v", err)
	}
	left := time.Until(cert.NotAfter)
	if left < 0 {
		return fail(name, "renew the certificate (ACM renews DNS-validated ones while the validation record exists)", "expired %s", cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return pass(name, "%s, issued by %s, valid until %s", host, cert.Issuer.CommonName, cert.NotAfter.UTC().Format(time.DateOnly))
}

func (t HTTPTarget) redirectCheck(ctx context.Context, client *http.Client, base *url.URL, deadline time.Time) Check {
	const name = "HTTP redirects to HTTPS"
	plain := *base
	plain.Scheme = "http"
	plain.Host = base.Hostname()
	start := time.Now()
	b := newBackoff(t.Poll, 10*time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, plain.String()+"/", nil)
		if err != nil {
			return fail(name, "", "%v", err)
		}
		req.Header.Set("User-Agent", t.UserAgent)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if (resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusFound) && strings.HasPrefix(loc, "https://") {
				return pass(name, "HTTP %d to %s", resp.StatusCode, loc)
			}
			return fail(name, "the port 80 listener must redirect to HTTPS: run `fvdeploy up` (the edge phase sets it)",
				"HTTP %d, Location %q", resp.StatusCode, loc)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail(name, "nothing answered on port 80: check SG-ALB and the port 80 listener",
				"no answer over %s: %v", time.Since(start).Round(time.Millisecond), errors.Unwrap(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(b.step()):
		}
	}
}

// RunID marks one validate run's requests in the service's access log.
func RunID(now time.Time) string {
	return fmt.Sprintf("fvdeploy-validate/%d", now.UnixNano())
}
