// Package kit is what every phase uses: the Inputs resources are declared from, the keys
// and names one phase depends on of another, ownership tags and the "is it ours"
// check, tag converters, AWS error helpers, the lookups by recorded ID, tags or name,
// and IAM policy documents.
package kit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
)

// Inputs is what every phase declares its resources from.
type Inputs struct {
	Config  *config.Config
	Account string
	Region  string
	// Caller is the ARN of the principal fvdeploy runs as (sts:GetCallerIdentity): the
	// secrets' resource policies keep it able to read and manage them.
	Caller string
	AWS    *awsclients.Clients
	// Image is which image the run deploys, as the command decided it. With a build,
	// what runs the image (the task definition, the execution role's pull grant) waits
	// for the image phase's push in the same walk and uses it; the zero value keeps what
	// runs.
	Image imagechoice.Decision
	// Release is a vX.Y.Z tag for the image, given with --release.
	Release string
	// Source is a directory in the git work tree the image is built from; "" means the
	// working directory.
	Source string
	// Getenv reads the process environment (ADMIN_USER / ADMIN_PASS); a func so tests
	// can give values without touching the real environment.
	Getenv func(string) string
	// Progress tells the person watching what happens; never nil.
	Progress func(format string, args ...any)
	// Wait, when set, is told at every poll of a slow operation what is awaited and its
	// status (a progress display redraws it in place); else waits are reported through
	// Progress every 10 s.
	Wait func(what, status string)
	// PollInterval is the first wait between polls of a slow operation; it backs off from
	// there. Zero means the default.
	PollInterval time.Duration
	// PurgeData lets destroy empty and delete buckets that hold logs (destroy
	// --purge-data); without it they are kept, and destroy says so.
	PurgeData bool

	memoMu sync.Mutex
	memo   map[string]any
}

// Remember runs fetch once per Inputs for key and keeps its result, so that facts every
// resource needs (the AZs, say) cost one API call per run, not one per resource.
func Remember[T any](in *Inputs, key string, fetch func() (T, error)) (T, error) {
	in.memoMu.Lock()
	defer in.memoMu.Unlock()
	if v, ok := in.memo[key]; ok {
		return v.(T), nil
	}
	v, err := fetch()
	if err != nil {
		return v, err
	}
	if in.memo == nil {
		in.memo = map[string]any{}
	}
	in.memo[key] = v
	return v, nil
}

// ClientToken is the idempotency token of the create of key in this run: the same for
// the SDK's retries and the engine's repeats, so that AWS answers a repeat with the
// object a lost answer hid; new in the next run, because AWS remembers a token after its
// object is gone (Route 53 for ever). 32 hex characters fit every API's limits.
func (in *Inputs) ClientToken(key string) string {
	nonce, _ := Remember(in, "client token nonce", func() (string, error) {
		b := make([]byte, 6)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	sum := sha256.Sum256([]byte(in.Config.App + "/" + in.Config.Env + "/" + key))
	return hex.EncodeToString(sum[:10]) + nonce
}

// Prefix is what names of this app's objects in this environment start with.
func (in *Inputs) Prefix() string { return in.Config.App + "-" + in.Config.Env }

// Tags are the tags of the resource with the given key.
func (in *Inputs) Tags(key string) map[string]string {
	return engine.Tags(in.Config.App, in.Config.Env, key)
}

// WaitFor polls check until it reports done, backing off from the poll interval to 15 s,
// and tells the person what is being waited for every so often. It gives up when ctx
// ends (--timeout or Ctrl-C).
func (in *Inputs) WaitFor(ctx context.Context, what string, check func(ctx context.Context) (done bool, status string, err error)) error {
	start := time.Now()
	delay := in.PollInterval
	if delay == 0 {
		delay = 2 * time.Second
	}
	lastSaid := time.Time{}
	for {
		done, status, err := check(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		switch {
		case in.Wait != nil:
			in.Wait(what, status)
		case time.Since(lastSaid) >= 10*time.Second:
			in.Progress("waiting for %s: %s (%s so far)", what, status, time.Since(start).Round(time.Second))
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (last seen: %s): %w", what, status, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 15*time.Second)
	}
}
