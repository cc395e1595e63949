package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalSaveIsAtomicAndKeepsBackup(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	b := opener(dir)(t)
	l := lock(t, b)
	doc := sampleDoc()
	doc.Serial = 0
	var saved [][]byte
	for i := range 3 {
		doc.Outputs["url"] = fmt.Sprintf("https://v%d.example.com", i+1)
		if err := l.Save(ctx, doc); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(b.Where())
		if err != nil {
			t.Fatal(err)
		}
		saved = append(saved, data)
	}
	unlock(t, l)

	backup, err := os.ReadFile(b.Where() + ".backup")
	if err != nil {
		t.Fatal(err)
	}
	if string(backup) != string(saved[1]) {
		t.Errorf("backup holds\n%s\nwant the previous save\n%s", backup, saved[1])
	}
	prev, err := decode("backup", backup)
	if err != nil || prev.Serial != 2 {
		t.Errorf("backup serial = %v (%v), want 2", prev, err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// No temporary file is left behind, and the lock file stays (emptied) so that every
	// run locks the same inode.
	if got := strings.Join(names, " "); got != "prod.json prod.json.backup prod.json.lock" {
		t.Errorf("state directory holds %q", got)
	}
	if lockData, _ := os.ReadFile(b.Where() + ".lock"); len(lockData) != 0 {
		t.Errorf("lock record left after Unlock: %s", lockData)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, b.Where(): 0o600, b.Where() + ".backup": 0o600, b.Where() + ".lock": 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
		}
	}
}

func TestLocalSaveRefusesFileChangedOnDisk(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(d *Document)
		want   string
	}{
		{"serial", func(d *Document) { d.Serial = 9 }, "was changed by another writer since it was read (serial 1); re-run"},
		{"lineage", func(d *Document) { d.Lineage = "another" }, "belongs to lineage another, not "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := opener(filepath.Join(t.TempDir(), "state"))(t)
			saveNew(t, b)
			l := lock(t, b)
			defer unlock(t, l)
			doc, err := l.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Someone restores or edits the file behind fvdeploy's back.
			edited := *doc
			tc.change(&edited)
			data, _ := encode(&edited)
			if err := os.WriteFile(b.Where(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := l.Save(ctx, doc); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// startLockHolder runs this test binary as another process that takes the lock on dir and
// keeps it until killed.
func startLockHolder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperLockDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder said %q (%v)", line, err)
	}
	return cmd
}

func TestLocalLockOfKilledProcessIsFree(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		forceFirst bool
	}{
		{"lock directly", false},
		{"force unlock first", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			b := opener(dir)(t)
			child := startLockHolder(t, dir)
			pid := child.Process.Pid

			var held *LockHeldError
			if _, err := b.Lock(ctx, "up"); !errors.As(err, &held) || held.Holder.PID != pid {
				t.Fatalf("Lock while pid %d holds it = %v, want *LockHeldError naming it", pid, err)
			}
			// Clearing a live lock would let two writers run: refused, and still a
			// *LockHeldError for the CLI's exit code.
			info, err := b.ForceUnlock(ctx)
			if !errors.As(err, &held) || info != nil ||
				!strings.Contains(err.Error(), fmt.Sprintf("is held by a running fvdeploy (pid %d) on this machine; stop it first", pid)) {
				t.Fatalf("ForceUnlock of a live lock = %v, %v; want a refusal naming pid %d", info, err, pid)
			}

			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()

			if tc.forceFirst {
				info, err := b.ForceUnlock(ctx)
				if err != nil || info == nil || info.PID != pid || info.Operation != "up" {
					t.Fatalf("ForceUnlock after the holder died = %+v, %v; want its record (pid %d)", info, err, pid)
				}
				if info, err := b.ForceUnlock(ctx); info != nil || err != nil {
					t.Fatalf("second ForceUnlock = %+v, %v; want nil, nil", info, err)
				}
			}
			unlock(t, lock(t, b))
		})
	}
}
