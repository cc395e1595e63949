package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// manifestTypes are the manifest formats fvdeploy reads back: what Docker engines push
// (Docker schema 2, OCI) and the lists a multi-platform push makes.
var manifestTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.index.v1+json",
}

// Registry speaks the distribution API (what ECR and Docker's registry serve) with
// basic auth: what is already pushed, and tags moved without pulling.
type Registry struct {
	// Host is host[:port].
	Host  string
	creds Credentials
	http  *http.Client
}

// NewRegistry returns a client for host. Loopback registries are spoken to over plain
// HTTP, as Docker engines do by default; every other one over HTTPS.
func NewRegistry(host string, creds Credentials) *Registry {
	return &Registry{Host: host, creds: creds, http: &http.Client{Timeout: 60 * time.Second}}
}

func (r *Registry) scheme() string {
	if IsLoopback(r.Host) {
		return "http"
	}
	return "https"
}

// IsLoopback reports whether a registry host[:port] is on this machine.
func IsLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// RegistryError is the registry's own answer to a failed request.
type RegistryError struct {
	Status  int
	Message string
}

func (e *RegistryError) Error() string { return e.Message }

// ErrNotFound is a manifest or tag the registry does not have.
var ErrNotFound = errors.New("not found in the registry")

func (r *Registry) do(ctx context.Context, method, path, contentType string, body []byte, accept ...string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.scheme()+"://"+r.Host+"/v2/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(r.creds.Username, r.creds.Password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.Host, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, ErrNotFound
	}
	if resp.StatusCode >= 300 && method == http.MethodHead {
		resp.Body.Close()
		// A HEAD answer has no body to say why: ask again for the message.
		again, err := r.do(ctx, http.MethodGet, path, contentType, body, accept...)
		if err != nil {
			return nil, err
		}
		again.Body.Close()
		return nil, &RegistryError{Status: resp.StatusCode, Message: fmt.Sprintf("registry %s: HTTP %d on HEAD %s", r.Host, resp.StatusCode, path)}
	}
	if resp.StatusCode >= 300 {
		return nil, registryError(r.Host, resp)
	}
	return resp, nil
}

// registryError turns the distribution API's error document into its message.
func registryError(host string, resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	var msgs []string
	if json.Unmarshal(data, &doc) == nil {
		for _, e := range doc.Errors {
			msgs = append(msgs, strings.ToLower(e.Code)+": "+e.Message)
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, strings.TrimSpace(string(data)))
	}
	return &RegistryError{Status: resp.StatusCode, Message: fmt.Sprintf("registry %s: HTTP %d: %s", host, resp.StatusCode, strings.Join(msgs, "; "))}
}

// Digest is the digest of the manifest that ref (a tag or a digest) names in repo;
// ErrNotFound when there is none.
func (r *Registry) Digest(ctx context.Context, repo, ref string) (string, error) {
	resp, err := r.do(ctx, http.MethodHead, repo+"/manifests/"+ref, "", nil, manifestTypes...)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if d == "" {
		return "", fmt.Errorf("registry %s: no Docker-Content-Digest for %s:%s", r.Host, repo, ref)
	}
	return d, nil
}

// Manifest is the raw manifest ref names in repo, with its media type.
func (r *Registry) Manifest(ctx context.Context, repo, ref string) ([]byte, string, error) {
	resp, err := r.do(ctx, http.MethodGet, repo+"/manifests/"+ref, "", nil, manifestTypes...)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: reading manifest %s:%s: %w", r.Host, repo, ref, err)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// Labels are the labels in the image config that ref names, nil when it is a list of
// platforms rather than one image.
func (r *Registry) Labels(ctx context.Context, repo, ref string) (map[string]string, error) {
	data, _, err := r.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Config.Digest == "" {
		return nil, err
	}
	resp, err := r.do(ctx, http.MethodGet, repo+"/blobs/"+m.Config.Digest, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var cfg struct {
		Config struct{ Labels map[string]string } `json:"config"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&cfg); err != nil {
		return nil, fmt.Errorf("registry %s: reading the config of %s:%s: %w", r.Host, repo, ref, err)
	}
	return cfg.Config.Labels, nil
}

// Retag points tag at the manifest with the given digest, without pulling or pushing a
// layer: the manifest is put again under the new name.
func (r *Registry) Retag(ctx context.Context, repo, digest, tag string) error {
	data, mediaType, err := r.Manifest(ctx, repo, digest)
	if err != nil {
		return fmt.Errorf("tagging %s@%s as %s: %w", repo, digest, tag, err)
	}
	resp, err := r.do(ctx, http.MethodPut, repo+"/manifests/"+tag, mediaType, data)
	if err != nil {
		return fmt.Errorf("tagging %s@%s as %s: %w", repo, digest, tag, err)
	}
	resp.Body.Close()
	return nil
}
