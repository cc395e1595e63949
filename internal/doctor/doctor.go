// Package doctor is the preflight: everything a deployment needs from this machine and
// this account, checked read-only before anything is created, each with what to do
// when it is not there. `fvdeploy doctor` prints it; `up` runs it first and stops on a
// failure.
package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/hostedzone"
	"github.com/fvdeploy/fvdeploy/internal/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/workspace"
)

// Status is how one check came out.
type Status string

// A failed check stops up; a warning is worth reading but does not.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do when the status is not ok.
	Fix string `json:"fix,omitempty"`
	// Err is the error behind a failure, when one is known (awsclients.ErrNoRegion, say),
	// so that a command stopping on the report can tell bad input from a failure.
	Err error `json:"-"`
}

// Report is every check, in the order they ran.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed lists the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(name string, status Status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: detail, Fix: fix})
}

// Options say what is checked.
type Options struct {
	// Config is the loaded configuration; nil when loading it failed with ConfigErr.
	Config    *config.Config
	ConfigErr error
	Workspace workspace.Options
	// Build says the run builds the image, so it needs the Docker engine, a git work tree
	// and a Dockerfile; without it those are reported as not needed.
	Build bool
	// Source is a directory of the work tree the image is built from; "" is the current one.
	Source string
}

// Run checks everything and returns the report, and the workspace when the config, the
// credentials and the state are all good, for the caller to go on with.
func Run(ctx context.Context, opts Options) (*Report, *workspace.Workspace) {
	r := &Report{}
	cfg := opts.Config
	checkConfig(r, opts)
	ws := checkAWS(ctx, r, opts)
	if ws != nil {
		doc := checkDeployment(ctx, r, ws)
		if doc != nil && cfg.Edge.Domain != "" {
			checkZone(ctx, r, ws, doc)
		}
		checkOptions(ctx, r, ws)
	}
	checkDocker(ctx, r, opts.Build)
	checkSource(ctx, r, opts)
	return r, ws
}

func checkConfig(r *Report, opts Options) {
	if opts.ConfigErr != nil {
		r.add("config", Fail, opts.ConfigErr.Error(), "correct the value at the line shown (see the README's configuration section)")
		return
	}
	file := opts.Workspace.ConfigPath
	if file == "" {
		file = config.DefaultFile
		if _, err := os.Stat(file); err != nil {
			r.add("config", OK, fmt.Sprintf("no %s: built-in defaults for %s (app %s)", file, opts.Config.Env, opts.Config.App), "")
			return
		}
	}
	r.add("config", OK, fmt.Sprintf("%s is valid (app %s, env %s)", file, opts.Config.App, opts.Config.Env), "")
}

// checkAWS resolves the region and the credentials' identity, then reads the state.
func checkAWS(ctx context.Context, r *Report, opts Options) *workspace.Workspace {
	clients, err := workspace.Clients(ctx, opts.Config, opts.Workspace)
	switch {
	case errors.Is(err, awsclients.ErrNoRegion):
		r.add("region", Fail, "none configured", "pass --region, set AWS_REGION, or set region in fvdeploy.yaml or your AWS profile")
		r.Checks[len(r.Checks)-1].Err = err
		r.add("credentials", Fail, "not checked without a region", "set a region first")
		return nil
	case err != nil:
		r.add("region", Warn, "not known: the AWS configuration could not be loaded", "")
		r.add("credentials", Fail, err.Error(), "check AWS_PROFILE and ~/.aws/config")
		return nil
	}
	r.add("region", OK, clients.Config.Region, "")
	id, err := clients.Identity(ctx)
	if err != nil {
		r.add("credentials", Fail, err.Error(),
			"set AWS_PROFILE (and run `aws sso login` for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions, configure OIDC credentials first")
		r.Checks[len(r.Checks)-1].Err = err
		return nil
	}
	r.add("credentials", OK, fmt.Sprintf("account %s as %s", id.Account, id.ARN), "")
	if opts.Config == nil {
		r.add("state", Warn, "not checked: the config is invalid", "correct the config first")
		return nil
	}
	ws, err := workspace.New(opts.Config, clients, id, opts.Workspace)
	if err != nil {
		r.add("state", Fail, err.Error(), "check --state")
		return nil
	}
	return ws
}

// checkDeployment compares what state records with what the account holds under this
// app's and environment's tags: a mismatch is lost or misplaced state, or objects deleted
// by hand. It returns the state, nil when it cannot be read.
func checkDeployment(ctx context.Context, r *Report, ws *workspace.Workspace) *state.Document {
	doc, err := ws.Read(ctx)
	if err != nil {
		fix := "check --state, --env, --region and --profile"
		if !errors.Is(err, workspace.ErrWrongTarget) {
			fix = "check that the state location is readable with these credentials"
		}
		r.add("state", Fail, err.Error(), fix)
		return nil
	}
	recorded := len(doc.Resources)
	r.add("state", OK, fmt.Sprintf("%s: %s", ws.Backend.Where(), describeState(doc)), "")

	tagged, err := taggedResources(ctx, ws.Clients.Tagging(), ws.Config.App, ws.Config.Env)
	name := ws.Config.App + "-" + ws.Config.Env
	switch {
	case err != nil:
		r.add("deployment", Warn, fmt.Sprintf("could not list the resources tagged for %s: %v", name, err),
			"allow tag:GetResources to see whether the account already holds this environment")
	case recorded == 0 && tagged == 0:
		r.add("deployment", OK, fmt.Sprintf("the account holds nothing of %s yet", name), "")
	case recorded == 0:
		r.add("deployment", Warn, fmt.Sprintf("the account holds %d resources tagged for %s, but the state at %s records none", tagged, name, ws.Backend.Where()),
			"if the state lives elsewhere, pass that --state; otherwise up adopts these resources by their tags")
	case tagged == 0:
		r.add("deployment", Warn, fmt.Sprintf("the state records %d resources, but none tagged for %s was found in %s", recorded, name, ws.Region()),
			"they may have been deleted outside fvdeploy: up recreates them, destroy forgets them")
	default:
		r.add("deployment", OK, fmt.Sprintf("%d resources tagged for %s in the account; the state records %d", tagged, name, recorded), "")
	}
	return doc
}

func describeState(doc *state.Document) string {
	if len(doc.Resources) == 0 {
		return "nothing deployed yet"
	}
	return fmt.Sprintf("%d resources recorded (serial %d)", len(doc.Resources), doc.Serial)
}

type taggingAPI interface {
	GetResources(ctx context.Context, in *resourcegroupstaggingapi.GetResourcesInput, opts ...func(*resourcegroupstaggingapi.Options)) (*resourcegroupstaggingapi.GetResourcesOutput, error)
}

// taggedResources counts the resources carrying the app's and environment's tags that the
// tagging API knows (not IAM, Route 53 or ECR: enough to tell an empty account).
func taggedResources(ctx context.Context, api taggingAPI, app, env string) (int, error) {
	in := &resourcegroupstaggingapi.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{
		{Key: aws.String(engine.TagApp), Values: []string{app}},
		{Key: aws.String(engine.TagEnv), Values: []string{env}},
	}}
	n := 0
	for p := resourcegroupstaggingapi.NewGetResourcesPaginator(api, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		n += len(out.ResourceTagMappingList)
	}
	return n, nil
}

func checkZone(ctx context.Context, r *Report, ws *workspace.Workspace, doc *state.Document) {
	domain := ws.Config.Edge.Domain
	z, err := hostedzone.Find(ctx, ws.Clients.Route53(), edge.ZoneQuery(ws.Config, doc))
	switch {
	case err != nil:
		r.add("domain", Fail, err.Error(), "set edge.zone_id to the public hosted zone that serves "+domain)
	case z == nil:
		r.add("domain", Warn, "no public hosted zone serves "+domain+": the edge phase creates one for it",
			"after up, delegate the new zone's name servers (fvdeploy status shows them) at your registrar, or the certificate never validates")
	default:
		r.add("domain", OK, fmt.Sprintf("%s is served by hosted zone %s (%s)", domain, z.Name, z.ID), "")
	}
}

// checkOptions looks at what the optional features need before up creates them.
func checkOptions(ctx context.Context, r *Report, ws *workspace.Workspace) {
	cfg := ws.Config
	if cfg.Alarms.ChatRelay {
		if where, err := chatWebhook(ctx, ws.Clients.SecretsManager(), cfg, os.Getenv); err != nil {
			r.add("chat relay", Fail, err.Error(), "export "+observability.EnvChatWebhookURL+" with the channel's incoming webhook URL (https://...) for up")
		} else {
			r.add("chat relay", OK, "webhook "+where, "")
		}
	}
	if cfg.Observability.Guardrails {
		r.add("guardrails", OK, fmt.Sprintf("account-wide: up sets up IAM Access Analyzer and an AWS Config recorder for all of account %s in %s (reusing ones already there; Config bills per recorded item)",
			ws.Identity.Account, ws.Region()), "")
	}
}

func checkDocker(ctx context.Context, r *Report, build bool) {
	if !build {
		r.add("docker", OK, "not needed: no image is built (--image, or the image phase is not run)", "")
		return
	}
	eng, err := image.NewEngine(nil)
	if err == nil {
		defer eng.Close()
		var v image.EngineVersion
		if v, err = eng.Version(ctx); err == nil {
			r.add("docker", OK, fmt.Sprintf("Docker Engine %s (API %s) at %s", v.Version, v.APIVersion, v.Host), "")
			return
		}
	}
	r.add("docker", Fail, err.Error(), "start the Docker engine (or point DOCKER_HOST at one), or deploy an existing image with --image")
}

// checkSource looks at the git work tree and the Dockerfile the image is built from.
func checkSource(ctx context.Context, r *Report, opts Options) {
	if !opts.Build {
		r.add("source", OK, "not needed: no image is built", "")
		return
	}
	dir := opts.Source
	if dir == "" {
		dir = "."
	}
	root, err := image.GitRoot(ctx, dir)
	if err != nil {
		r.add("git", Fail, err.Error(), "run fvdeploy inside the service's git repository, or pass --image")
		return
	}
	// The defaults when the config did not load, which is reported already.
	im := config.Image{Context: ".", Dockerfile: "Dockerfile"}
	if opts.Config != nil {
		im = opts.Config.Image
	}
	dir, err = image.ContextDir(root, im.Context, im.Dockerfile)
	if err != nil {
		r.add("dockerfile", Fail, err.Error(), "set image.context to a folder of the repository and image.dockerfile to a file inside it")
		return
	}
	dockerfile := filepath.Join(dir, im.Dockerfile)
	if err := checkDockerfile(dockerfile); err != nil {
		r.add("dockerfile", Fail, err.Error(), fmt.Sprintf("add a Dockerfile at %s, or point image.context / image.dockerfile at yours (the context folder is what the build sees)", dockerfile))
		return
	}
	r.add("dockerfile", OK, dockerfile, "")
	bc, err := image.LoadContext(dir, im.Dockerfile)
	if err != nil {
		r.add("git", Fail, err.Error(), "fix the .dockerignore file")
		return
	}
	rev, err := image.GitRevision(ctx, bc)
	switch {
	case err != nil:
		r.add("git", Fail, err.Error(), "commit the code: images are tagged with the commit")
	case rev.Dirty:
		shown := rev.Changed
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("%d more", len(rev.Changed)-3))
		}
		r.add("git", Warn, fmt.Sprintf("commit %s with uncommitted changes in the build context (%s): the image will be tagged %s", rev.SHA[:12], strings.Join(shown, ", "), rev.Tag()),
			"commit or stash them to deploy exactly what the commit holds")
	default:
		r.add("git", OK, fmt.Sprintf("commit %s, clean", rev.SHA[:12]), "")
	}
}

// checkDockerfile reads the Dockerfile far enough to see that it starts a build stage:
// its first instruction, after comments, parser directives and ARGs, is FROM.
func checkDockerfile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no Dockerfile at %s", path)
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		instruction, _, _ := strings.Cut(strings.ToUpper(text), " ")
		switch instruction {
		case "ARG":
			continue
		case "FROM":
			return nil
		}
		return fmt.Errorf("%s:%d: %s before any FROM: not a Dockerfile that builds an image", path, line, instruction)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return fmt.Errorf("%s has no FROM instruction", path)
}
