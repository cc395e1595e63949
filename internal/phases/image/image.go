// Package image declares the image phase: the ECR repository, and the service image
// built, tagged and pushed to it.
package image

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The image phase's keys.
const ()

// Phase says what the image phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "image", Summary: "ECR repository; build, tag and push the service image", Resources: Declare}
}

// Declare is the image phase: the ECR repository, and the image built from this
// work tree and pushed to it.
func Declare(in *kit.Inputs) ([]engine.Resource, error) {
	api := in.AWS.ECR()
	return []engine.Resource{
		&Repository{In: in, API: api},
		&imageBuild{in: in, api: api},
	}, nil
}

type ecrAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, opts ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	DeleteRepository(ctx context.Context, in *ecr.DeleteRepositoryInput, opts ...func(*ecr.Options)) (*ecr.DeleteRepositoryOutput, error)
	PutImageScanningConfiguration(ctx context.Context, in *ecr.PutImageScanningConfigurationInput, opts ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error)
	PutImageTagMutability(ctx context.Context, in *ecr.PutImageTagMutabilityInput, opts ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error)
	GetLifecyclePolicy(ctx context.Context, in *ecr.GetLifecyclePolicyInput, opts ...func(*ecr.Options)) (*ecr.GetLifecyclePolicyOutput, error)
	PutLifecyclePolicy(ctx context.Context, in *ecr.PutLifecyclePolicyInput, opts ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error)
	ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, opts ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
	TagResource(ctx context.Context, in *ecr.TagResourceInput, opts ...func(*ecr.Options)) (*ecr.TagResourceOutput, error)
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// Repository is the ECR repository the service image is pushed to. It belongs to the
// app, not to one environment: every environment deploys images from it, an image built
// for a commit once. So it carries no fvdeploy:env tag but fvdeploy:envs, the
// environments using it, and destroying one environment deletes it only when no other
// is left.
//
// Tags: commit and release tags are immutable by default (image.immutable_tags), so
// that what a commit or a release names never changes under a running service; latest
// and the -dirty tags of uncommitted builds are excluded from that and move.
type Repository struct {
	In  *kit.Inputs
	API ecrAPI
}

func (r *Repository) Key() string         { return kit.KeyImageRepo }
func (r *Repository) Type() string        { return "ecr:repository" }
func (r *Repository) DependsOn() []string { return nil }

// movableTags are the tags excluded from immutability.
var movableTags = []string{"latest", "*-dirty"}

func (r *Repository) name() string { return r.In.Config.ImageRepository() }

func (r *Repository) mutability() (ecrtypes.ImageTagMutability, []ecrtypes.ImageTagMutabilityExclusionFilter) {
	if !r.In.Config.Image.ImmutableTags {
		return ecrtypes.ImageTagMutabilityMutable, nil
	}
	var filters []ecrtypes.ImageTagMutabilityExclusionFilter
	for _, t := range movableTags {
		filters = append(filters, ecrtypes.ImageTagMutabilityExclusionFilter{Filter: aws.String(t), FilterType: ecrtypes.ImageTagMutabilityExclusionFilterTypeWildcard})
	}
	return ecrtypes.ImageTagMutabilityImmutableWithExclusion, filters
}

func MutabilityText(m ecrtypes.ImageTagMutability, filters []ecrtypes.ImageTagMutabilityExclusionFilter) string {
	var fs []string
	for _, f := range filters {
		fs = append(fs, aws.ToString(f.Filter))
	}
	slices.Sort(fs)
	if len(fs) == 0 {
		return string(m)
	}
	return string(m) + " except " + strings.Join(fs, ",")
}

// lifecyclePolicy keeps the last keep images and expires untagged ones (what a moved
// latest or -dirty tag leaves behind) after a day. The "any" rule must come last.
func lifecyclePolicy(keep int) string {
	type selection struct {
		TagStatus   string `json:"tagStatus"`
		CountType   string `json:"countType"`
		CountUnit   string `json:"countUnit,omitempty"`
		CountNumber int    `json:"countNumber"`
	}
	type rule struct {
		RulePriority int               `json:"rulePriority"`
		Description  string            `json:"description"`
		Selection    selection         `json:"selection"`
		Action       map[string]string `json:"action"`
	}
	doc := map[string][]rule{"rules": {
		{1, "expire untagged images after a day", selection{"untagged", "sinceImagePushed", "days", 1}, map[string]string{"type": "expire"}},
		{2, "keep the last " + strconv.Itoa(keep) + " images", selection{"any", "imageCountMoreThan", "", keep}, map[string]string{"type": "expire"}},
	}}
	data, _ := json.Marshal(doc)
	return string(data)
}

// sameJSON compares two JSON documents by meaning, not by spelling.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// WantTags are the repository's tags, with this environment added to those using it.
func (r *Repository) WantTags(have map[string]string) map[string]string {
	envs := strings.Fields(have[engine.TagEnvs])
	if !slices.Contains(envs, r.In.Config.Env) {
		envs = append(envs, r.In.Config.Env)
	}
	slices.Sort(envs)
	return map[string]string{
		engine.TagApp:  r.In.Config.App,
		engine.TagKey:  kit.KeyImageRepo,
		"Name":         r.name(),
		engine.TagEnvs: strings.Join(envs, " "),
	}
}

func (r *Repository) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := r.name()
	out, err := r.API.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing ECR repository %s: %w", name, err)
	}
	if len(out.Repositories) == 0 {
		return nil, nil
	}
	repo := out.Repositories[0]
	found := &engine.Found{Record: RepoRecord(repo)}
	add := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	scan := repo.ImageScanningConfiguration != nil && repo.ImageScanningConfiguration.ScanOnPush
	add("scan_on_push", strconv.FormatBool(scan), "true")
	add("tag_mutability", MutabilityText(repo.ImageTagMutability, repo.ImageTagMutabilityExclusionFilters), MutabilityText(r.mutability()))
	policy, err := r.API.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(name)})
	if err != nil && !kit.IsNotFound(err) {
		return nil, fmt.Errorf("reading the lifecycle policy of ECR repository %s: %w", name, err)
	}
	live := ""
	if err == nil {
		live = aws.ToString(policy.LifecyclePolicyText)
	}
	if want := lifecyclePolicy(r.In.Config.Image.Keep); !sameJSON(live, want) {
		add("lifecycle_policy", live, want)
	}
	have, err := r.Tags(ctx, aws.ToString(repo.RepositoryArn))
	if err != nil {
		return nil, err
	}
	if from, to, drift := kit.TagDrift(r.WantTags(have), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func RepoRecord(repo ecrtypes.Repository) state.Resource {
	return state.Resource{ID: aws.ToString(repo.RepositoryName), ARN: aws.ToString(repo.RepositoryArn),
		Attrs: map[string]string{"uri": aws.ToString(repo.RepositoryUri)}}
}

func (r *Repository) Tags(ctx context.Context, arn string) (map[string]string, error) {
	out, err := r.API.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of ECR repository %s: %w", arn, err)
	}
	have := kit.TagMap(out.Tags, func(t ecrtypes.Tag) (*string, *string) { return t.Key, t.Value })
	return have, nil
}

func ECRTags(tags map[string]string) []ecrtypes.Tag {
	return kit.TagList(tags, func(k, v *string) ecrtypes.Tag { return ecrtypes.Tag{Key: k, Value: v} })
}

func (r *Repository) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	name := r.name()
	mut, filters := r.mutability()
	out, err := r.API.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:                     aws.String(name),
		ImageScanningConfiguration:         &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
		ImageTagMutability:                 mut,
		ImageTagMutabilityExclusionFilters: filters,
		Tags:                               ECRTags(r.WantTags(nil)),
	})
	if kit.ErrorCode(err) == "RepositoryAlreadyExistsException" {
		// Another environment's, or created by a run that crashed before saving: adopt it.
		found, ferr := r.Find(ctx, deps, nil)
		if ferr != nil || found == nil {
			return nil, fmt.Errorf("creating ECR repository %s: %w", name, err)
		}
		return r.Update(ctx, deps, found)
	}
	if err != nil {
		return nil, fmt.Errorf("creating ECR repository %s: %w", name, err)
	}
	if err := r.putLifecyclePolicy(ctx, name); err != nil {
		return nil, err
	}
	rec := RepoRecord(*out.Repository)
	return &rec, nil
}

func (r *Repository) putLifecyclePolicy(ctx context.Context, name string) error {
	_, err := r.API.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(lifecyclePolicy(r.In.Config.Image.Keep))})
	if err != nil {
		return fmt.Errorf("setting the lifecycle policy of ECR repository %s: %w", name, err)
	}
	return nil
}

func (r *Repository) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "scan_on_push":
			_, err = r.API.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{
				RepositoryName: aws.String(name), ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}})
		case "tag_mutability":
			mut, filters := r.mutability()
			_, err = r.API.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{
				RepositoryName: aws.String(name), ImageTagMutability: mut, ImageTagMutabilityExclusionFilters: filters})
		case "lifecycle_policy":
			err = r.putLifecyclePolicy(ctx, name)
		case "tags":
			var have map[string]string
			if have, err = r.Tags(ctx, found.Record.ARN); err == nil {
				_, err = r.API.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: ECRTags(r.WantTags(have))})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("updating %s of ECR repository %s: %w", c.Field, name, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete takes this environment off the repository; the repository itself, with its
// images, goes only when no other environment uses it.
func (r *Repository) Delete(ctx context.Context, rec *state.Resource) error {
	have, err := r.Tags(ctx, rec.ARN)
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	others := slices.DeleteFunc(strings.Fields(have[engine.TagEnvs]), func(e string) bool { return e == r.In.Config.Env })
	if len(others) > 0 {
		r.In.Progress("ECR repository %s is kept: environments %s still use it", rec.ID, strings.Join(others, ", "))
		_, err := r.API.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String(rec.ARN),
			Tags: []ecrtypes.Tag{{Key: aws.String(engine.TagEnvs), Value: aws.String(strings.Join(others, " "))}}})
		if err != nil {
			return fmt.Errorf("taking %s off ECR repository %s: %w", r.In.Config.Env, rec.ID, err)
		}
		return nil
	}
	_, err = r.API.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String(rec.ID), Force: true})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting ECR repository %s: %w", rec.ID, err)
	}
	return nil
}
