package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
)

// LabelInputs is the image label that holds the hash of what the image was built from;
// it lets a run without a state record (another environment, lost state) adopt the
// image a commit already has instead of building and pushing it again.
const LabelInputs = "dev.fvdeploy.inputs"

// SourceConfig says where the service image is built from and how it is named.
type SourceConfig struct {
	// Dir is a folder of the git work tree; "" is the working directory.
	Dir string
	// Context and Dockerfile are the context folder, relative to the work tree's root,
	// and the Dockerfile within it (image.context, image.dockerfile).
	Context, Dockerfile string
	Platform            string
	BuildArgs           []string // KEY=VALUE
	Repository          string
	// Release is a tag to add to the commit's and latest; "" for none.
	Release string
}

// Source is what the service image is built from and its tags, worked out without AWS:
// the context folder and Dockerfile of the git work tree, the commit, the platform and
// the build args.
type Source struct {
	Context   *Context
	Rev       Revision
	Inputs    string // hash of everything that goes into the image
	BuildArgs map[string]string
	Platform  string
	Repo      string
	Tags      []string
}

// LoadSource reads the work tree that c names.
func LoadSource(ctx context.Context, c SourceConfig) (*Source, error) {
	src := c.Dir
	if src == "" {
		var err error
		if src, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	root, err := GitRoot(ctx, src)
	if err != nil {
		return nil, err
	}
	dir, err := ContextDir(root, c.Context, c.Dockerfile)
	if err != nil {
		return nil, err
	}
	bc, err := LoadContext(dir, c.Dockerfile)
	if err != nil {
		return nil, err
	}
	rev, err := GitRevision(ctx, bc)
	if err != nil {
		return nil, err
	}
	s := &Source{Context: bc, Rev: rev, Platform: c.Platform, Repo: c.Repository, BuildArgs: map[string]string{}}
	h := sha256.New()
	fmt.Fprintf(h, "context=%s\ndockerfile=%s\nplatform=%s\n", bc.Digest, bc.Dockerfile, c.Platform)
	for _, a := range slices.Sorted(slices.Values(c.BuildArgs)) {
		k, v, _ := strings.Cut(a, "=")
		s.BuildArgs[k] = v
		fmt.Fprintf(h, "arg %s\n", a)
	}
	s.Inputs = hex.EncodeToString(h.Sum(nil))
	s.Tags = []string{rev.Tag(), "latest"}
	if c.Release != "" {
		s.Tags = append(s.Tags, c.Release)
	}
	return s, nil
}

// Connect reaches the Docker engine, failing early with what to do when it does not
// answer.
func Connect(ctx context.Context, progress func(format string, args ...any)) (*Engine, error) {
	eng, err := NewEngine(progress)
	if err != nil {
		return nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// Build builds the source as refs, saying so when the image will not be what the commit
// holds.
func (s *Source) Build(ctx context.Context, eng *Engine, refs []string, progress func(format string, args ...any)) error {
	if s.Rev.Dirty {
		shown := s.Rev.Changed
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(s.Rev.Changed)-5))
		}
		progress("the work tree has uncommitted changes in the build context (%s): the image is tagged %s, not as commit %s",
			strings.Join(shown, ", "), s.Rev.Tag(), strings.TrimSuffix(s.Rev.Tag(), "-dirty"))
	}
	progress("building %s for %s from %s", refs[0], s.Platform, s.Context.Dir)
	_, err := eng.Build(ctx, s.Context, BuildOptions{
		Tags: refs, BuildArgs: s.BuildArgs, Labels: map[string]string{LabelInputs: s.Inputs}, Platform: s.Platform,
	})
	return err
}

// BuildLocal builds the service image with the local Docker engine and tags it
// <repository>:<commit> and <repository>:latest there, without AWS and without a push
// (`fvdeploy build`). It returns the tags.
func BuildLocal(ctx context.Context, c SourceConfig, progress func(format string, args ...any)) ([]string, error) {
	s, err := LoadSource(ctx, c)
	if err != nil {
		return nil, err
	}
	eng, err := Connect(ctx, progress)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	refs := make([]string, len(s.Tags))
	for i, t := range s.Tags {
		refs[i] = s.Repo + ":" + t
	}
	if err := s.Build(ctx, eng, refs, progress); err != nil {
		return nil, err
	}
	return refs, nil
}
