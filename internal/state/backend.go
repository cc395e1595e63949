package state

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// Backend is where one environment's state lives.
type Backend interface {
	// Where names the document for messages: ".fvdeploy/prod.json" or
	// "s3://bucket/prefix/prod.json".
	Where() string
	// Read returns the document without locking; (nil, nil) when none exists.
	Read(ctx context.Context) (*Document, error)
	// Lock takes the environment's lock for operation op ("up", "destroy", …). When
	// another run holds it the error is a *LockHeldError.
	Lock(ctx context.Context, op string) (Locked, error)
	// ForceUnlock clears a stale lock and returns who held it (nil when nobody did).
	ForceUnlock(ctx context.Context) (*LockInfo, error)
}

// Locked is a held lock, through which the document is read and saved.
type Locked interface {
	// Read returns the document, (nil, nil) when none exists, and remembers which
	// version was read.
	Read(ctx context.Context) (*Document, error)
	// Save increments doc.Serial and writes doc, only if the stored document is still
	// the one last read or saved through this Locked (none, if nothing was; otherwise a
	// *ConflictError) and doc has its lineage.
	Save(ctx context.Context, doc *Document) error
	// Unlock releases the lock.
	Unlock(ctx context.Context) error
}

// LockInfo says who holds a lock.
type LockInfo struct {
	ID        string    `json:"id"`
	Who       string    `json:"who"` // user@host
	PID       int       `json:"pid"`
	Operation string    `json:"operation"` // e.g. "up"
	Version   string    `json:"version"`   // of the fvdeploy holding it
	Created   time.Time `json:"created"`
}

func newLockInfo(op string) LockInfo {
	return LockInfo{
		ID:        randomHex(16),
		Who:       currentUser() + "@" + hostname(),
		PID:       os.Getpid(),
		Operation: op,
		Version:   toolVersion(),
		Created:   time.Now().UTC().Truncate(time.Second),
	}
}

func currentUser() string {
	// user.Current fails in containers whose UID has no passwd entry; the lock still
	// needs a name.
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return fmt.Sprintf("uid%d", os.Getuid())
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown-host"
}

// toolVersion is the module version stamped into the binary by the go command.
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// LockHeldError means another run holds the lock.
type LockHeldError struct {
	Where  string
	Env    string // for the unlock command in the message
	Holder LockInfo
}

func (e *LockHeldError) Error() string {
	h := e.Holder
	msg := "state " + e.Where + " is locked by "
	if h.Who == "" {
		// Only a damaged lock record has no holder; it is still a taken lock.
		msg += "an unknown holder"
	} else {
		msg += fmt.Sprintf("%s (pid %d, fvdeploy %s)", h.Who, h.PID, h.Operation)
	}
	if !h.Created.IsZero() {
		msg += " since " + h.Created.UTC().Format(time.RFC3339)
	}
	return msg + fmt.Sprintf("; if that run is dead, clear it with `fvdeploy unlock --env %s`", e.Env)
}

// liveLockError refuses to clear a lock that a running process holds: that would let two
// writers run. It unwraps to the *LockHeldError, which the CLI maps to its exit code.
type liveLockError struct{ held *LockHeldError }

func (e *liveLockError) Error() string {
	return fmt.Sprintf("state %s is held by a running fvdeploy (pid %d) on this machine; stop it first", e.held.Where, e.held.Holder.PID)
}

func (e *liveLockError) Unwrap() error { return e.held }

// bucketName is S3's rule for bucket names, loosely: enough to catch a mistyped URL here
// rather than as an odd API error later.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Open returns the backend for env's state at location: "" means the local directory
// ".fvdeploy", "s3://bucket[/prefix]" an S3 prefix, anything else a local directory. The
// document is "<env>.json" there. s3client is called only for an S3 location.
func Open(location, env string, s3client func() (S3API, error)) (Backend, error) {
	if env == "" || env == "." || env == ".." || strings.ContainsAny(env, `/\`) {
		return nil, fmt.Errorf("invalid environment name %q for a state file", env)
	}
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if !bucketName.MatchString(bucket) {
			return nil, fmt.Errorf("invalid state location %q: want s3://bucket[/prefix] with a valid bucket name", location)
		}
		client, err := s3client()
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", location, err)
		}
		return newS3Backend(client, bucket, strings.Trim(prefix, "/"), env), nil
	}
	if strings.Contains(location, "://") {
		return nil, fmt.Errorf("unsupported state location %q: want a directory or s3://bucket[/prefix]", location)
	}
	if location == "" {
		location = ".fvdeploy"
	}
	return newLocalBackend(location, env), nil
}
