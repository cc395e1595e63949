// Package workspace opens what every command acts on: the validated config, the AWS
// identity behind the credentials, and the environment's state, in that order, so that
// nothing reaches AWS before the input is known to be good.
package workspace

import (
	"context"
	"errors"
	"fmt"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Options are the global flags.
type Options struct {
	Env           string
	ConfigPath    string
	Region        string
	Registry      string
	Profile       string
	StateLocation string
	Version       string
	Recorder      *awsclients.Recorder
	// Log receives the AWS SDK's own log lines (see awsclients.Options).
	Log func(level, msg string)
	// Outputs derives a document's outputs from its resources; every save under Locked
	// refreshes them with it, so that state never keeps the URL or image of what is gone.
	Outputs func(doc *state.Document) map[string]string
}

// LoadConfig reads and validates the configuration, applying the --region flag.
func LoadConfig(opts Options) (*config.Config, error) {
	cfg, err := config.Load(opts.ConfigPath, opts.Env)
	if err != nil {
		return nil, err
	}
	if opts.Region != "" && opts.Region != cfg.Region {
		cfg.Region = opts.Region
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--region: %w", err)
		}
	}
	if opts.Registry != "" && opts.Registry != cfg.Image.Registry {
		cfg.Image.Registry = opts.Registry
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--registry: %w", err)
		}
	}
	return cfg, nil
}

// Workspace is one environment, ready to act on.
type Workspace struct {
	Config   *config.Config
	Clients  *awsclients.Clients
	Identity awsclients.Identity
	Backend  state.Backend
	outputs  func(doc *state.Document) map[string]string
}

// Region is where the environment lives.
func (w *Workspace) Region() string { return w.Clients.Config.Region }

// Open resolves credentials for a validated config and checks them with STS, then opens
// the state backend.
func Open(ctx context.Context, cfg *config.Config, opts Options) (*Workspace, error) {
	clients, err := Clients(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	id, err := clients.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return New(cfg, clients, id, opts)
}

// New opens the state backend for clients whose identity is already known.
func New(cfg *config.Config, clients *awsclients.Clients, id awsclients.Identity, opts Options) (*Workspace, error) {
	backend, err := state.Open(opts.StateLocation, cfg.Env, func() (state.S3API, error) { return clients.S3(), nil })
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", err)
	}
	return &Workspace{Config: cfg, Clients: clients, Identity: id, Backend: backend, outputs: opts.Outputs}, nil
}

// Clients resolves credentials and region for a config (nil: none could be read).
func Clients(ctx context.Context, cfg *config.Config, opts Options) (*awsclients.Clients, error) {
	region := opts.Region
	if cfg != nil {
		region = cfg.Region
	}
	return awsclients.Load(ctx, awsclients.Options{Region: region, Profile: opts.Profile, Version: opts.Version, Recorder: opts.Recorder, Log: opts.Log})
}

// Read returns the environment's state without locking (for status and logs); an
// environment never deployed gets an empty document.
func (w *Workspace) Read(ctx context.Context) (*state.Document, error) {
	doc, err := w.Backend.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	return w.adopt(doc)
}

// ErrWrongTarget means the state belongs to another app, environment, account or region
// than the one the config and credentials point at.
var ErrWrongTarget = errors.New("state does not match the target")

func (w *Workspace) adopt(doc *state.Document) (*state.Document, error) {
	if doc == nil {
		return state.New(w.Config.App, w.Config.Env, w.Region(), w.Identity.Account), nil
	}
	for _, c := range []struct{ what, stored, now string }{
		{"app", doc.App, w.Config.App},
		{"environment", doc.Env, w.Config.Env},
		{"AWS account", doc.Account, w.Identity.Account},
		{"region", doc.Region, w.Region()},
	} {
		if c.stored != "" && c.stored != c.now {
			return nil, fmt.Errorf("%w: %s records %s %q, but this run targets %q; refusing to act on another deployment (check --env, --region, --profile and --state)",
				ErrWrongTarget, w.Backend.Where(), c.what, c.stored, c.now)
		}
	}
	return doc, nil
}

// Locked runs fn holding the environment's lock, with the current document and the
// Saver that writes it: the one way state is written, by the engine and by commands
// alike, and each write carries outputs derived afresh. The lock is released however fn
// ends.
func (w *Workspace) Locked(ctx context.Context, op string, fn func(doc *state.Document, save engine.Saver) error) (err error) {
	lock, err := w.Backend.Lock(ctx, op)
	if err != nil {
		return err
	}
	defer func() {
		// Released even after Ctrl-C: a lock left behind blocks the next run.
		if uerr := lock.Unlock(context.WithoutCancel(ctx)); uerr != nil && err == nil {
			err = fmt.Errorf("releasing the state lock: %w", uerr)
		}
	}()
	doc, err := lock.Read(ctx)
	if err != nil {
		return fmt.Errorf("reading state: %w", err)
	}
	if doc, err = w.adopt(doc); err != nil {
		return err
	}
	return fn(doc, func(ctx context.Context, doc *state.Document) error {
		if w.outputs != nil {
			doc.Outputs = w.outputs(doc)
		}
		return lock.Save(ctx, doc)
	})
}

// OpenBackend opens only the state backend, for commands that need no AWS identity
// (unlock): AWS is reached only when the state lives in S3.
func OpenBackend(ctx context.Context, cfg *config.Config, opts Options) (state.Backend, error) {
	backend, err := state.Open(opts.StateLocation, cfg.Env, func() (state.S3API, error) {
		clients, err := Clients(ctx, cfg, opts)
		if err != nil {
			return nil, err
		}
		return clients.S3(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", err)
	}
	return backend, nil
}
