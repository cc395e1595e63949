package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/image"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

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
	in  *kit.Inputs
	api ecrAPI
}

func (r *imageBuild) Key() string         { return kit.KeyImageBuild }
func (r *imageBuild) Type() string        { return "image:build" }
func (r *imageBuild) DependsOn() []string { return []string{kit.KeyImageRepo} }

// BuildPlan is what one run builds and where it pushes it, worked out once.
type BuildPlan struct {
	*image.Source
	host  string // registry host[:port]
	creds image.Credentials
}

func (p *BuildPlan) ref(tag string) string { return p.host + "/" + p.Repo + ":" + tag }
func (p *BuildPlan) uri(digest string) string {
	return p.host + "/" + p.Repo + "@" + digest
}

func (r *imageBuild) plan(ctx context.Context) (*BuildPlan, error) {
	return kit.Remember(r.in, "image-plan", func() (*BuildPlan, error) {
		p, err := SourcePlan(ctx, r.in)
		if err != nil {
			return nil, err
		}
		if p.host, p.creds, err = r.login(ctx); err != nil {
			return nil, err
		}
		return p, nil
	})
}

// SourcePlan is what the image is built from and its tags, worked out without AWS
// (image.LoadSource).
func SourcePlan(ctx context.Context, in *kit.Inputs) (*BuildPlan, error) {
	cfg := in.Config.Image
	src, err := image.LoadSource(ctx, image.SourceConfig{Dir: in.Source, Context: cfg.Context, Dockerfile: cfg.Dockerfile, Platform: cfg.Platform,
		BuildArgs: cfg.BuildArgs, Repository: in.Config.ImageRepository(), Release: in.Release})
	if err != nil {
		return nil, err
	}
	return &BuildPlan{Source: src}, nil
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

func (r *imageBuild) Record(p *BuildPlan, digest string) *state.Resource {
	revision := p.Rev.SHA
	if p.Rev.Dirty {
		revision += "-dirty"
	}
	return &state.Resource{ID: digest, Attrs: map[string]string{
		"digest": digest, "uri": p.uri(digest), "tags": strings.Join(p.Tags, ","),
		"inputs": p.Inputs, "revision": revision, "platform": r.in.Config.Image.Platform,
	}}
}

func (r *imageBuild) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	if deps.Get(kit.KeyImageRepo) == nil {
		return nil, nil
	}
	p, err := r.plan(ctx)
	if err != nil {
		return nil, err
	}
	reg := image.NewRegistry(p.host, p.creds)
	if rec != nil && rec.Attrs["inputs"] == p.Inputs && rec.Attrs["digest"] != "" {
		digest := rec.Attrs["digest"]
		_, err := reg.Digest(ctx, p.Repo, digest)
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
	if !p.Rev.Dirty {
		digest, err := reg.Digest(ctx, p.Repo, p.Rev.Tag())
		if err != nil && !errors.Is(err, image.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			labels, err := reg.Labels(ctx, p.Repo, digest)
			if err != nil {
				return nil, err
			}
			if labels[image.LabelInputs] == p.Inputs {
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
func rebuild(rec *state.Resource, from string, p *BuildPlan) *engine.Found {
	f := &engine.Found{Record: *rec, Changes: []engine.Change{{Field: "image", From: from, To: "a build of " + p.Rev.Tag()}}}
	f.Record.Attrs = maps.Clone(rec.Attrs)
	delete(f.Record.Attrs, "uri")
	return f
}

// found is the pushed image with the given digest, and the tags still to point at it.
func (r *imageBuild) found(ctx context.Context, reg *image.Registry, p *BuildPlan, digest string) (*engine.Found, error) {
	f := &engine.Found{Record: *r.Record(p, digest)}
	var missing []string
	for _, tag := range p.Tags {
		d, err := reg.Digest(ctx, p.Repo, tag)
		switch {
		case errors.Is(err, image.ErrNotFound):
			missing = append(missing, tag)
		case err != nil:
			return nil, err
		case d != digest && tag == r.in.Release:
			return nil, fmt.Errorf("release tag %s already names %s@%s: a release is never moved to another image", tag, p.Repo, d)
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
			r.in.Progress("tagging %s@%s as %s", p.Repo, digest, tag)
			if err := reg.Retag(ctx, p.Repo, digest, tag); err != nil {
				return nil, err
			}
		}
	}
	return r.Record(p, digest), nil
}

func (r *imageBuild) buildAndPush(ctx context.Context, p *BuildPlan) (*state.Resource, error) {
	eng, err := image.Connect(ctx, r.in.Progress)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	refs := make([]string, len(p.Tags))
	for i, t := range p.Tags {
		refs[i] = p.ref(t)
	}
	if err := p.Build(ctx, eng, refs, r.in.Progress); err != nil {
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
	return r.Record(p, digest), nil
}

// Delete forgets the build: its images go with the repository, or expire under its
// lifecycle policy while other environments keep the repository.
func (r *imageBuild) Delete(context.Context, *state.Resource) error { return nil }

// PendingBuild reports whether a plan's item only stands for the image a run without
// --image would build from the work tree: the build itself (a first one, or a rebuild
// for changed sources), or what would run the image once built. That is what such a
// run does, not drift.
func PendingBuild(it engine.Item) bool {
	if it.Err != nil {
		return false
	}
	if it.Key == kit.KeyImageBuild {
		return it.Action == engine.Create ||
			it.Action == engine.Update && slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return c.Field == "image" })
	}
	return it.Action == engine.Update && it.Reason == "" && len(it.Changes) > 0 &&
		!slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return !imagechoice.Pending(c.To) })
}
