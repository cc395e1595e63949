package image

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Revision is the commit a build context comes from.
type Revision struct {
	SHA string
	// Dirty means a file of the build context differs from the commit (changed, added or
	// deleted); what is outside the context (state files, notes) does not count.
	Dirty bool
	// Changed lists those files, for the message that says the tree is dirty.
	Changed []string
}

// Tag is the image tag for the revision: the short SHA, with -dirty when the image is
// not what the commit holds.
func (r Revision) Tag() string {
	short := r.SHA
	if len(short) > 12 {
		short = short[:12]
	}
	if r.Dirty {
		return short + "-dirty"
	}
	return short
}

// GitRoot is the top of the git work tree that holds dir.
func GitRoot(ctx context.Context, dir string) (string, error) {
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("finding the build context: %s is not in a git work tree (fvdeploy tags images with the commit; commit the code, or deploy an existing image with --image): %w", dir, err)
	}
	return strings.TrimSpace(out), nil
}

// GitRevision reads the commit checked out in the context's directory and whether the
// context's files differ from it.
func GitRevision(ctx context.Context, c *Context) (Revision, error) {
	sha, err := git(ctx, c.Dir, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return Revision{}, fmt.Errorf("reading the commit of %s (is anything committed yet?): %w", c.Dir, err)
	}
	rev := Revision{SHA: strings.TrimSpace(sha)}
	// The context may be a folder of the work tree: only changes below it count, and git
	// names them from the work tree's root.
	prefix, err := git(ctx, c.Dir, "rev-parse", "--show-prefix")
	if err != nil {
		return Revision{}, fmt.Errorf("locating %s in its git work tree: %w", c.Dir, err)
	}
	prefix = strings.TrimSpace(prefix)
	status, err := git(ctx, c.Dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", ".")
	if err != nil {
		return Revision{}, fmt.Errorf("reading the git status of %s: %w", c.Dir, err)
	}
	for entry := range strings.SplitSeq(status, "\x00") {
		// "XY path"
		if len(entry) < 4 {
			continue
		}
		path, ok := strings.CutPrefix(entry[3:], prefix)
		if ok && c.Includes(path) {
			rev.Changed = append(rev.Changed, path)
		}
	}
	rev.Dirty = len(rev.Changed) > 0
	return rev, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return stdout.String(), nil
}
