// Package image builds the service image through the Docker Engine API, tags it and
// pushes it to a registry (ECR, or any registry speaking the distribution API), and reads
// the registry back to learn what is already there.
package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Context is a build context: the files of a directory that its .dockerignore lets
// through, plus the Dockerfile and the .dockerignore themselves (the daemon needs the
// first, and Docker's CLI always sends both).
type Context struct {
	Dir        string
	Dockerfile string // relative to Dir, slash-separated
	files      []string
	matcher    *patternmatcher.PatternMatcher
	// Digest is a hash of every file's path, mode and content: two contexts with the same
	// Digest build the same image (given the same base image and build arguments).
	Digest string
}

// ContextDir is the build context folder rel of the git work tree at root, with its
// symlinks resolved. It refuses a folder outside the work tree, and a dockerfile (relative
// to the folder) outside the folder: the daemon only sees the context.
func ContextDir(root, rel, dockerfile string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolving the git work tree %s: %w", root, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(realRoot, rel))
	if err != nil {
		return "", fmt.Errorf("build context %s (image.context): %w", rel, err)
	}
	if !within(realRoot, dir) {
		return "", fmt.Errorf("build context %s (image.context) is outside the git repository %s", rel, realRoot)
	}
	// A missing Dockerfile is LoadContext's to report; one reached through a symlink must
	// stay inside.
	if df, err := filepath.EvalSymlinks(filepath.Join(dir, dockerfile)); err == nil && !within(dir, df) {
		return "", fmt.Errorf("dockerfile %s (image.dockerfile) is outside the build context %s", dockerfile, dir)
	}
	return dir, nil
}

// within reports whether path is dir or below it; both are cleaned absolute paths.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// LoadContext reads dir's .dockerignore and lists what the context holds.
func LoadContext(dir, dockerfile string) (*Context, error) {
	patterns, err := readIgnore(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	c := &Context{Dir: dir, Dockerfile: filepath.ToSlash(dockerfile), matcher: pm}
	if _, err := os.Stat(filepath.Join(dir, dockerfile)); err != nil {
		return nil, fmt.Errorf("build context %s: no %s: %w", dir, dockerfile, err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if c.excluded(rel) && !c.mayReinclude(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			if c.Includes(rel) {
				c.files = append(c.files, rel)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the build context %s: %w", dir, err)
	}
	slices.Sort(c.files)
	if c.Digest, err = c.digest(); err != nil {
		return nil, err
	}
	return c, nil
}

func readIgnore(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return patterns, nil
}

func (c *Context) excluded(rel string) bool {
	m, err := c.matcher.MatchesOrParentMatches(rel)
	return err == nil && m
}

// mayReinclude reports whether a "!" pattern could bring back something under an
// excluded directory, which then has to be walked (the logic of Docker's own archiver).
func (c *Context) mayReinclude(dir string) bool {
	if !c.matcher.Exclusions() {
		return false
	}
	for _, p := range c.matcher.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// Includes reports whether the file at rel (slash-separated, relative to Dir) is part of
// the context.
func (c *Context) Includes(rel string) bool {
	return rel == c.Dockerfile || rel == ".dockerignore" || !c.excluded(rel)
}

// Files lists the context's files, sorted.
func (c *Context) Files() []string { return slices.Clone(c.files) }

func (c *Context) digest() (string, error) {
	h := sha256.New()
	for _, rel := range c.files {
		path := filepath.Join(c.Dir, filepath.FromSlash(rel))
		info, err := os.Lstat(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode())
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "->%s\x00", target)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Tar streams the context as the tar archive the Engine API's build takes. Owner and
// group are 0 so that the image does not depend on who checked the code out.
func (c *Context) Tar() io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.writeTar(pw)) }()
	return pr
}

func (c *Context) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, rel := range c.files {
		path := filepath.Join(c.Dir, filepath.FromSlash(rel))
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = rel, 0, 0, "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if link != "" {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
