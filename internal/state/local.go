package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// localBackend keeps <dir>/<env>.json, guarded by an OS lock on <dir>/<env>.json.lock.
type localBackend struct {
	dir, env string
	path     string
}

func newLocalBackend(dir, env string) *localBackend {
	return &localBackend{dir: dir, env: env, path: filepath.Join(dir, env+".json")}
}

func (b *localBackend) Where() string { return b.path }

func (b *localBackend) lockPath() string   { return b.path + ".lock" }
func (b *localBackend) backupPath() string { return b.path + ".backup" }

func (b *localBackend) Read(context.Context) (*Document, error) {
	data, err := os.ReadFile(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", b.path, err)
	}
	return decode(b.path, data)
}

func (b *localBackend) Lock(_ context.Context, op string) (Locked, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	// The lock file is never deleted: a process that opened it before the deletion would
	// lock the old inode while the next one locks a new file, and both would proceed.
	f, err := os.OpenFile(b.lockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening state lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking state %s: %w", b.path, err)
	}
	if held {
		f.Close()
		return nil, &LockHeldError{Where: b.path, Env: b.env, Holder: b.readHolder()}
	}
	data, err := json.Marshal(newLockInfo(op))
	if err == nil {
		err = writeAll(f, data)
	}
	if err != nil {
		f.Close() // closing releases the lock
		return nil, fmt.Errorf("recording the state lock holder in %s: %w", b.lockPath(), err)
	}
	return &localLocked{b: b, f: f}, nil
}

// writeAll replaces f's content with data and flushes it, so another process reading the
// holder never sees a mix of an old and a new record.
func writeAll(f *os.File, data []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Sync()
}

// readHolder reads the record of the process holding the lock. The holder writes it just
// after taking the lock, so an empty file is retried briefly before giving up.
func (b *localBackend) readHolder() LockInfo {
	var info LockInfo
	for range 20 {
		data, err := os.ReadFile(b.lockPath())
		if err == nil && json.Unmarshal(data, &info) == nil {
			return info
		}
		time.Sleep(10 * time.Millisecond)
	}
	return LockInfo{}
}

func (b *localBackend) ForceUnlock(context.Context) (*LockInfo, error) {
	f, err := os.OpenFile(b.lockPath(), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening state lock: %w", err)
	}
	defer f.Close()
	held, err := tryLock(f)
	if err != nil {
		return nil, fmt.Errorf("locking state %s: %w", b.path, err)
	}
	if held {
		return nil, &liveLockError{&LockHeldError{Where: b.path, Env: b.env, Holder: b.readHolder()}}
	}
	// The OS released the lock when its holder exited; what is left is only its record.
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading state lock: %w", err)
	}
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("clearing state lock: %w", err)
	}
	var info LockInfo
	if len(data) == 0 || json.Unmarshal(data, &info) != nil {
		return nil, nil
	}
	return &info, nil
}

type localLocked struct {
	b    *localBackend
	f    *os.File // nil once unlocked
	last mark
}

func (l *localLocked) Read(ctx context.Context) (*Document, error) {
	doc, err := l.b.Read(ctx)
	if err != nil {
		return nil, err
	}
	l.last = markOf(doc)
	return doc, nil
}

func (l *localLocked) Save(ctx context.Context, doc *Document) error {
	if doc == nil {
		return errNoDocument(l.b.path)
	}
	if l.f == nil {
		return fmt.Errorf("saving state %s: the lock was already released", l.b.path)
	}
	// The lock keeps fvdeploy runs apart; this check also catches an edit or restore made
	// outside fvdeploy, or a run started after someone cleared a live lock.
	cur, err := l.b.Read(ctx)
	if err != nil {
		return err
	}
	if cur != nil && cur.Lineage != doc.Lineage {
		return lineageError(l.b.path, cur.Lineage, doc.Lineage)
	}
	if markOf(cur) != l.last {
		return &ConflictError{Where: l.b.path, Serial: l.last.serial}
	}
	data, undo, err := prepareSave(l.b.path, doc)
	if err != nil {
		return err
	}
	if err := l.b.write(data, cur != nil); err != nil {
		undo()
		return fmt.Errorf("saving state %s: %w", l.b.path, err)
	}
	l.last = markOf(doc)
	return nil
}

// write replaces the state file atomically: a crash leaves either the old or the new
// document, never a torn one. The previous document is kept as <env>.json.backup.
func (b *localBackend) write(data []byte, hasPrevious bool) (err error) {
	tmp := b.path + ".tmp-" + randomHex(8)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if hasPrevious {
		if err := b.backup(); err != nil {
			return fmt.Errorf("keeping the previous state as %s: %w", b.backupPath(), err)
		}
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return err
	}
	return syncDir(b.dir)
}

// backup makes <env>.json.backup the current document. A hard link costs nothing and
// survives the rename that follows, which only repoints the state name; file systems
// without hard links get a copy.
func (b *localBackend) backup() error {
	if err := os.Remove(b.backupPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if os.Link(b.path, b.backupPath()) == nil {
		return nil
	}
	data, err := os.ReadFile(b.path)
	if err != nil {
		return err
	}
	return os.WriteFile(b.backupPath(), data, 0o600)
}

// syncDir makes the rename itself durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (l *localLocked) Unlock(context.Context) error {
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Truncating first means a reader never sees a record of a lock nobody holds.
	terr := f.Truncate(0)
	uerr := unlockFile(f)
	cerr := f.Close()
	if err := errors.Join(terr, uerr, cerr); err != nil {
		return fmt.Errorf("releasing state lock %s: %w", l.b.lockPath(), err)
	}
	return nil
}
