package phases

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/image"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// labelInputs is the image label that holds the hash of what the image was built from;
// it lets a run without a state record (another environment, lost state) adopt the
// image a commit already has instead of building and pushing it again.
const labelInputs = "dev.fvdeploy.inputs"

// imageBuild is the service image: built from the Dockerfile and context folder of the
// git work tree that image.dockerfile and image.context name,
// pushed to the repository under the commit's tag, latest, and the release tag when one
// is given. It is not an AWS object but what was pushed; its record holds the digest
// that task definitions pin.
//
// It is rebuilt only when what goes into it changed: the build context's files (after
// .dockerignore), the platform or the build arguments. A commit that changes nothing in
// the context only adds its tag to the image already pushed.
type imageBuild struct {
	in  *Inputs
	api ecrAPI
}

func (r *imageBuild) Key() string         { return keyImageBuild }
func (r *imageBuild) Type() string        { return "image:build" }
func (r *imageBuild) DependsOn() []string { return []string{keyImageRepo} }

// buildPlan is what one run builds and where it pushes it, worked out once.
type buildPlan struct {
	context   *image.Context
	rev       image.Revision
	inputs    string // hash of everything that goes into the image
	buildArgs map[string]string
	host      string // registry host[:port]
	repo      string
	creds     image.Credentials
	tags      []string
}

func (p *buildPlan) ref(tag string) string { return p.host + "/" + p.repo + ":" + tag }
func (p *buildPlan) uri(digest string) string {
	return p.host + "/" + p.repo + "@" + digest
}

func (r *imageBuild) plan(ctx context.Context) (*buildPlan, error) {
	return remember(r.in, "image-plan", func() (*buildPlan, error) {
		p, err := sourcePlan(ctx, r.in)
		if err != nil {
			return nil, err
		}
		if p.host, p.creds, err = r.login(ctx); err != nil {
			return nil, err
		}
		return p, nil
	})
}

// sourcePlan is what the image is built from and its tags, worked out without AWS: the
// context folder and Dockerfile of the git work tree (image.context, image.dockerfile), the
// commit, the platform and build args.
func sourcePlan(ctx context.Context, in *Inputs) (*buildPlan, error) {
	src := in.Source
	if src == "" {
		var err error
		if src, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	root, err := image.GitRoot(ctx, src)
	if err != nil {
		return nil, err
	}
	cfg := in.Config.Image
	dir, err := image.ContextDir(root, cfg.Context, cfg.Dockerfile)
	if err != nil {
		return nil, err
	}
	bc, err := image.LoadContext(dir, cfg.Dockerfile)
	if err != nil {
		return nil, err
	}
	rev, err := image.GitRevision(ctx, bc)
	if err != nil {
		return nil, err
	}
	p := &buildPlan{context: bc, rev: rev, repo: in.Config.ImageRepository(), buildArgs: map[string]string{}}
	h := sha256.New()
	fmt.Fprintf(h, "context=%s\ndockerfile=%s\nplatform=%s\n", bc.Digest, bc.Dockerfile, cfg.Platform)
	args := slices.Sorted(slices.Values(cfg.BuildArgs))
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		p.buildArgs[k] = v
		fmt.Fprintf(h, "arg %s\n", a)
	}
	p.inputs = hex.EncodeToString(h.Sum(nil))
	p.tags = []string{rev.Tag(), "latest"}
	if in.Release != "" {
		p.tags = append(p.tags, in.Release)
	}
	return p, nil
}

// login asks ECR for a registry token. It is used in memory only: handed to the engine
// in the push request and to the registry client, never written to disk or to Docker's
// config.
func (r *imageBuild) login(ctx context.Context) (string, image.Credentials, error) {
	out, err := r.api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", image.Credentials{}, fmt.Errorf("getting an ECR registry token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", image.Credentials{}, errors.New("getting an ECR registry token: ECR returned none")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	user, pass, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return "", image.Credentials{}, errors.New("getting an ECR registry token: it is not base64 user:password")
	}
	host := r.in.Config.Image.Registry
	if host == "" {
		u, err := url.Parse(aws.ToString(d.ProxyEndpoint))
		if err != nil || u.Host == "" {
			return "", image.Credentials{}, fmt.Errorf("getting an ECR registry token: proxy endpoint %q is not a URL", aws.ToString(d.ProxyEndpoint))
		}
		host = u.Host
	}
	return host, image.Credentials{Username: user, Password: pass}, nil
}

func (r *imageBuild) record(p *buildPlan, digest string) *state.Resource {
	revision := p.rev.SHA
	if p.rev.Dirty {
		revision += "-dirty"
	}
	return &state.Resource{ID: digest, Attrs: map[string]string{
		"digest": digest, "uri": p.uri(digest), "tags": strings.Join(p.tags, ","),
		"inputs": p.inputs, "revision": revision, "platform": r.in.Config.Image.Platform,
	}}
}

func (r *imageBuild) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	if deps.Get(keyImageRepo) == nil {
		return nil, nil
	}
	p, err := r.plan(ctx)
	if err != nil {
		return nil, err
	}
	reg := image.NewRegistry(p.host, p.creds)
	if rec != nil && rec.Attrs["inputs"] == p.inputs && rec.Attrs["digest"] != "" {
		digest := rec.Attrs["digest"]
		_, err := reg.Digest(ctx, p.repo, digest)
		switch {
		case errors.Is(err, image.ErrNotFound):
			// Expired by the lifecycle policy, or deleted by hand: build it again.
			return rebuild(rec, rec.Attrs["uri"]+" (gone from the registry)", p), nil
		case err != nil:
			return nil, err
		}
		return r.found(ctx, reg, p, digest)
	}
	// No record of this build: the registry may already hold it for this commit.
	if !p.rev.Dirty {
		digest, err := reg.Digest(ctx, p.repo, p.rev.Tag())
		if err != nil && !errors.Is(err, image.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			labels, err := reg.Labels(ctx, p.repo, digest)
			if err != nil {
				return nil, err
			}
			if labels[labelInputs] == p.inputs {
				return r.found(ctx, reg, p, digest)
			}
		}
	}
	if rec == nil {
		return nil, nil
	}
	return rebuild(rec, rec.Attrs["uri"], p), nil
}

// rebuild is a found build that must be built again. Its record has no URI: in a plan,
// what runs the image then shows that it will change (Update never reads it).
func rebuild(rec *state.Resource, from string, p *buildPlan) *engine.Found {
	f := &engine.Found{Record: *rec, Changes: []engine.Change{{Field: "image", From: from, To: "a build of " + p.rev.Tag()}}}
	f.Record.Attrs = maps.Clone(rec.Attrs)
	delete(f.Record.Attrs, "uri")
	return f
}

// found is the pushed image with the given digest, and the tags still to point at it.
func (r *imageBuild) found(ctx context.Context, reg *image.Registry, p *buildPlan, digest string) (*engine.Found, error) {
	f := &engine.Found{Record: *r.record(p, digest)}
	var missing []string
	for _, tag := range p.tags {
		d, err := reg.Digest(ctx, p.repo, tag)
		switch {
		case errors.Is(err, image.ErrNotFound):
			missing = append(missing, tag)
		case err != nil:
			return nil, err
		case d != digest && tag == r.in.Release:
			return nil, fmt.Errorf("release tag %s already names %s@%s: a release is never moved to another image", tag, p.repo, d)
		case d != digest:
			missing = append(missing, tag)
		}
	}
	if len(missing) > 0 {
		f.Changes = append(f.Changes, engine.Change{Field: "tags", From: "", To: strings.Join(missing, ",")})
	}
	return f, nil
}

func (r *imageBuild) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	p, err := r.plan(ctx)
	if err != nil {
		return nil, err
	}
	return r.buildAndPush(ctx, p)
}

func (r *imageBuild) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	p, err := r.plan(ctx)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(found.Changes, func(c engine.Change) bool { return c.Field != "tags" }) {
		return r.buildAndPush(ctx, p)
	}
	// The image is there: only tags move, through the registry, without a build.
	reg := image.NewRegistry(p.host, p.creds)
	digest := found.Record.Attrs["digest"]
	for _, c := range found.Changes {
		for tag := range strings.SplitSeq(c.To, ",") {
			r.in.Progress("tagging %s@%s as %s", p.repo, digest, tag)
			if err := reg.Retag(ctx, p.repo, digest, tag); err != nil {
				return nil, err
			}
		}
	}
	return r.record(p, digest), nil
}

func (r *imageBuild) buildAndPush(ctx context.Context, p *buildPlan) (*state.Resource, error) {
	eng, err := connectEngine(ctx, r.in)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	refs := make([]string, len(p.tags))
	for i, t := range p.tags {
		refs[i] = p.ref(t)
	}
	if err := build(ctx, r.in, eng, p, refs); err != nil {
		return nil, err
	}
	var digest string
	for _, ref := range refs {
		r.in.Progress("pushing %s", ref)
		d, err := eng.Push(ctx, ref, p.creds)
		if err != nil {
			return nil, err
		}
		if digest != "" && d != digest {
			return nil, fmt.Errorf("pushing %s: the registry stored %s, but %s got %s", ref, d, refs[0], digest)
		}
		digest = d
	}
	r.in.Progress("pushed %s", p.uri(digest))
	return r.record(p, digest), nil
}

// BuildLocal builds the service image with the local Docker engine and tags it
// <repository>:<commit> and <repository>:latest there, without AWS and without a push
// (`fvdeploy build`). It returns the tags.
func BuildLocal(ctx context.Context, in *Inputs) ([]string, error) {
	p, err := sourcePlan(ctx, in)
	if err != nil {
		return nil, err
	}
	eng, err := connectEngine(ctx, in)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	refs := make([]string, len(p.tags))
	for i, t := range p.tags {
		refs[i] = p.repo + ":" + t
	}
	if err := build(ctx, in, eng, p, refs); err != nil {
		return nil, err
	}
	return refs, nil
}

// connectEngine reaches the Docker engine, failing early with what to do when it does
// not answer.
func connectEngine(ctx context.Context, in *Inputs) (*image.Engine, error) {
	eng, err := image.NewEngine(in.Progress)
	if err != nil {
		return nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// build builds the plan's context as refs, saying so when the image will not be what
// the commit holds.
func build(ctx context.Context, in *Inputs, eng *image.Engine, p *buildPlan, refs []string) error {
	if p.rev.Dirty {
		shown := p.rev.Changed
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(p.rev.Changed)-5))
		}
		in.Progress("the work tree has uncommitted changes in the build context (%s): the image is tagged %s, not as commit %s",
			strings.Join(shown, ", "), p.rev.Tag(), strings.TrimSuffix(p.rev.Tag(), "-dirty"))
	}
	in.Progress("building %s for %s from %s", refs[0], in.Config.Image.Platform, p.context.Dir)
	_, err := eng.Build(ctx, p.context, image.BuildOptions{
		Tags: refs, BuildArgs: p.buildArgs, Labels: map[string]string{labelInputs: p.inputs}, Platform: in.Config.Image.Platform,
	})
	return err
}

// Delete forgets the build: its images go with the repository, or expire under its
// lifecycle policy while other environments keep the repository.
func (r *imageBuild) Delete(context.Context, *state.Resource) error { return nil }

// image is the run's image decision with, for a build, the URI the image phase pushed
// once it has run in this walk (none yet in a plan before it).
func (in *Inputs) image(deps engine.Deps) imagechoice.Decision {
	d := in.Image
	if b := deps.Get(keyImageBuild); d.Builds() && b != nil {
		d.URI = b.Attrs["uri"]
	}
	return d
}

// PendingBuild reports whether a plan's item only stands for the image a run without
// --image would build from the work tree: the build itself (a first one, or a rebuild
// for changed sources), or what would run the image once built. That is what such a
// run does, not drift.
func PendingBuild(it engine.Item) bool {
	if it.Err != nil {
		return false
	}
	if it.Key == keyImageBuild {
		return it.Action == engine.Create ||
			it.Action == engine.Update && slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return c.Field == "image" })
	}
	return it.Action == engine.Update && it.Reason == "" && len(it.Changes) > 0 &&
		!slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return !imagechoice.Pending(c.To) })
}

// imageDeps are the dependencies of what runs the image: the image phase's push, when
// that phase runs in the same walk.
func imageDeps(in *Inputs) []string {
	if in.Image.Builds() {
		return []string{keyImageBuild}
	}
	return nil
}
