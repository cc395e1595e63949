package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// natAllocationHider stands between fvdeploy and the emulator for EC2 only
// (AWS_ENDPOINT_URL_EC2) and drops the allocation IDs from DescribeNatGateways, as an
// emulator that models EC2 thinly does: the NAT gateway then looks attached to another
// address, and plan replaces it. Everything else reaches the emulator as it is.
func natAllocationHider(t *testing.T) string {
	allocation := regexp.MustCompile(`<allocationId>[^<]*</allocationId>`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, moto.Endpoint+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "DescribeNatGateways" {
			answer = allocation.ReplaceAll(answer, nil)
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// scalingDenied stands in for Application Auto Scaling
// (AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING) for a caller whose policy does not allow
// it: every call is AccessDenied.
func scalingDenied(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"AccessDeniedException","Message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: application-autoscaling:DescribeScalableTargets"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// status tells what will happen to the dependents of a resource that plan replaces, and
// one resource that cannot be read does not hide the rest of the report.
func TestStatusFollowsReplacesAndSurvivesAFailedLookup(t *testing.T) {
	c := newCLI(t)
	mustRun(t, c, upArgs("dev")...)
	c.Env["AWS_ENDPOINT_URL_EC2"] = natAllocationHider(t)
	ids := map[string]string{}
	for key, raw := range stateResources(t, c, "dev") {
		var rec struct{ ID string }
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		ids[key] = rec.ID
	}

	// The NAT gateway is replaced; the private route tables exist and follow it.
	var st statusJSON
	if err := json.Unmarshal([]byte(mustRun(t, c, "status", "--env", "dev", "--output", "json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	if r := st.Resources["network/nat-a"]; r.Status != "drifted" || len(r.Changes) != 1 || r.Changes[0].Field != "allocation_id" {
		t.Errorf("nat-a: %+v, want drifted on allocation_id", r)
	}
	for _, key := range []string{"network/rt-private-a", "network/rt-private-b"} {
		if r := st.Resources[key]; r.Status != "will be updated" || r.Reason != "network/nat-a will be replaced" || r.ID != ids[key] {
			t.Errorf("%s: %+v, want will be updated because network/nat-a will be replaced, ID %s", key, r, ids[key])
		}
	}
	for key, r := range st.Resources {
		if r.Status == "missing" {
			t.Errorf("%s is reported missing, but it exists", key)
		}
	}
	res := mustRun(t, c, "plan", "--env", "dev", "--phases", "network,secrets,cluster")
	for _, want := range []string{"-/+ network/nat-a", "~   network/rt-private-a                     update\n        because network/nat-a will be replaced",
		"Plan: 0 to create, 2 to update, 1 to replace, 0 to delete;"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("plan does not show %q:\n%s", want, res.Stdout)
		}
	}

	// Application Auto Scaling refuses: those resources are unknown, the rest is reported,
	// and the exit code says the report is incomplete.
	c.Env["AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING"] = scalingDenied(t)
	res = c.Run(t, "status", "--env", "dev")
	if res.Code != exitFailed {
		t.Errorf("status exit %d, want %d\n%s", res.Code, exitFailed, res.Stderr)
	}
	for _, want := range []string{
		"cluster/scalable-target                  unknown", "error: finding cluster/scalable-target: describing the scalable target",
		"AccessDeniedException", "cluster/scaling-policy                   unknown",
		"error: skipped: waits for cluster/scalable-target, which failed",
		"cluster/service                          in sync", "network/rt-private-a                     will be updated",
		"outputs:\n  admin_secret = fastapi-vars-dev-admin",
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, res.Stdout)
		}
	}
	if !strings.Contains(res.Stderr, "Error: status: not every resource could be checked: finding cluster/scalable-target") {
		t.Errorf("status stderr:\n%s", res.Stderr)
	}
	res = c.Run(t, "status", "--env", "dev", "--output", "json")
	st = statusJSON{}
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil || res.Code != exitFailed {
		t.Fatalf("status --output json: exit %d, %v\n%s", res.Code, err, res.Stdout)
	}
	for key, r := range st.Resources {
		switch key {
		case "cluster/scalable-target", "cluster/scaling-policy":
			if r.Status != "unknown" || r.Error == "" || r.ID != ids[key] {
				t.Errorf("%s: %+v, want unknown with the error and its ID", key, r)
			}
		default:
			if r.Status == "unknown" || r.Status == "missing" || r.Error != "" {
				t.Errorf("%s: %+v", key, r)
			}
		}
	}

	// plan shows what it could work out, then fails.
	res = c.Run(t, "plan", "--env", "dev", "--phases", "network,secrets,cluster")
	if res.Code != exitFailed || !strings.Contains(res.Stdout, "!   cluster/scalable-target                  failed") ||
		!strings.Contains(res.Stdout, "; 1 could not be checked, 1 skipped.") || !strings.Contains(res.Stdout, "because network/nat-a will be replaced") {
		t.Errorf("plan: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
}
