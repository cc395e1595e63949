package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Engine is a Docker engine, reached through its API (DOCKER_HOST, or the default
// socket). The API version is negotiated on the first call, so engines as old as API
// 1.41 (Debian's docker.io) work.
type Engine struct {
	api *client.Client
	// Progress receives the build's and the push's output, one line at a time.
	Progress func(format string, args ...any)
}

// NewEngine connects to the engine that the environment names (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), or the local socket.
func NewEngine(progress func(format string, args ...any)) (*Engine, error) {
	api, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("connecting to the Docker engine: %w", err)
	}
	return &Engine{api: api, Progress: progress}, nil
}

// Close releases the connection.
func (e *Engine) Close() error { return e.api.Close() }

// Ping checks that the engine answers, so that a missing daemon is reported before any
// work starts, with what to do about it.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("the Docker engine does not answer (is dockerd running? DOCKER_HOST=%q): %w", e.api.DaemonHost(), err)
	}
	return nil
}

// EngineVersion is what the engine says of itself.
type EngineVersion struct {
	Host       string // where it was reached (DOCKER_HOST or the default socket)
	Version    string
	APIVersion string // the highest API version it speaks
}

// Version reports the engine's version, or the Ping error when it does not answer.
func (e *Engine) Version(ctx context.Context) (EngineVersion, error) {
	if err := e.Ping(ctx); err != nil {
		return EngineVersion{}, err
	}
	v, err := e.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return EngineVersion{}, fmt.Errorf("asking the Docker engine at %s for its version: %w", e.api.DaemonHost(), err)
	}
	return EngineVersion{Host: e.api.DaemonHost(), Version: v.Version, APIVersion: v.APIVersion}, nil
}

// BuildOptions say what to build from a context.
type BuildOptions struct {
	Tags      []string
	BuildArgs map[string]string
	Labels    map[string]string
	// Platform is os/arch, e.g. linux/amd64.
	Platform string
}

// Build builds the context's Dockerfile and returns the image ID. The classic builder is
// asked for explicitly: it needs no session, and every engine has it.
func (e *Engine) Build(ctx context.Context, bc *Context, opts BuildOptions) (string, error) {
	args := make(map[string]*string, len(opts.BuildArgs))
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	os, arch, _ := strings.Cut(opts.Platform, "/")
	body := bc.Tar()
	defer body.Close()
	res, err := e.api.ImageBuild(ctx, body, client.ImageBuildOptions{
		Tags:       opts.Tags,
		Dockerfile: bc.Dockerfile,
		BuildArgs:  args,
		Labels:     opts.Labels,
		Platforms:  []ocispec.Platform{{OS: os, Architecture: arch}},
		Remove:     true,
		Version:    build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("building %s: %w", bc.Dir, err)
	}
	defer res.Body.Close()
	var id string
	err = e.follow(res.Body, func(m message) {
		if m.Stream != "" {
			for line := range strings.Lines(m.Stream) {
				if line = ansiColor.ReplaceAllString(strings.TrimRight(line, "\r\n"), ""); strings.TrimSpace(line) != "" {
					e.Progress("  build | %s", line)
				}
			}
		}
		var aux struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	if err != nil {
		return "", fmt.Errorf("building %s: %w", bc.Dir, err)
	}
	if id == "" {
		return "", fmt.Errorf("building %s: the engine reported no image ID", bc.Dir)
	}
	return id, nil
}

// ansiColor is the colouring the classic builder puts around a step's stderr.
var ansiColor = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Credentials log in to a registry. They travel to the engine in the request only:
// never in a file, never in Docker's config.
type Credentials struct {
	Username, Password string
}

// Push pushes ref (registry/repository:tag) and returns the manifest digest the registry
// stored. Failures arrive inside the JSON stream with HTTP 200; they fail the push with
// the registry's own message.
func (e *Engine) Push(ctx context.Context, ref string, creds Credentials) (string, error) {
	host, _, _ := strings.Cut(ref, "/")
	auth, err := json.Marshal(registry.AuthConfig{Username: creds.Username, Password: creds.Password, ServerAddress: host})
	if err != nil {
		return "", err
	}
	res, err := e.api.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: base64.URLEncoding.EncodeToString(auth)})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	defer res.Close()
	var digest string
	last := map[string]string{}
	err = e.follow(res, func(m message) {
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			digest = aux.Digest
		}
		// Layer states change often; say each once, and skip the byte counters.
		if m.Status == "" || m.Progress != nil || last[m.ID] == m.Status {
			return
		}
		last[m.ID] = m.Status
		if m.ID != "" {
			e.Progress("  push  | %s: %s", m.ID, m.Status)
		} else {
			e.Progress("  push  | %s", m.Status)
		}
	})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	if digest == "" {
		return "", fmt.Errorf("pushing %s: the engine reported no digest", ref)
	}
	return digest, nil
}

// Tag adds target (repository:tag) to the image source.
func (e *Engine) Tag(ctx context.Context, source, target string) error {
	if _, err := e.api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", source, target, err)
	}
	return nil
}

// message is one object of the engine's JSON stream. Engines report a failure in
// errorDetail, older ones also (or only) in error.
type message struct {
	Stream      string           `json:"stream"`
	Status      string           `json:"status"`
	ID          string           `json:"id"`
	Progress    *json.RawMessage `json:"progressDetail"`
	Aux         *json.RawMessage `json:"aux"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

// StreamError is a failure the engine reported inside its JSON stream.
type StreamError struct{ Message string }

func (e *StreamError) Error() string { return e.Message }

// follow reads the stream to its end, handing each message to fn, and fails with the
// first error message in it.
func (e *Engine) follow(r io.Reader, fn func(message)) error {
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the engine's answer: %w", err)
		}
		// An empty progressDetail ({}) carries nothing.
		if m.Progress != nil && string(*m.Progress) == "{}" {
			m.Progress = nil
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return &StreamError{Message: m.ErrorDetail.Message}
		}
		if m.Error != "" {
			return &StreamError{Message: m.Error}
		}
		fn(m)
	}
}
