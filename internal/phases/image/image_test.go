package image_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// applyRepository reconciles the repository alone (the build needs Docker: the CLI's
// end-to-end tests cover it).
func applyRepository(t *testing.T, in *kit.Inputs, doc *state.Document) *engine.Result {
	t.Helper()
	res, err := (&engine.Engine{}).Apply(context.Background(), []engine.Resource{&image.Repository{In: in, API: in.AWS.ECR()}}, doc,
		func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestImageRepositoryConvergesAndIsSharedByEnvironments(t *testing.T) {
	ctx := context.Background()
	dev, rec := phasetest.NewTestInputs(t, "dev", nil)
	devDoc := phasetest.NewDoc(dev)
	applyRepository(t, dev, devDoc)

	api := dev.AWS.ECR()
	out, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"fastapi-vars"}})
	if err != nil {
		t.Fatal(err)
	}
	repo := out.Repositories[0]
	if !repo.ImageScanningConfiguration.ScanOnPush || repo.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutableWithExclusion {
		t.Errorf("repository: scan on push %v, mutability %s", repo.ImageScanningConfiguration.ScanOnPush, repo.ImageTagMutability)
	}
	if got := image.MutabilityText(repo.ImageTagMutability, repo.ImageTagMutabilityExclusionFilters); got != "IMMUTABLE_WITH_EXCLUSION except *-dirty,latest" {
		t.Errorf("tag mutability %s", got)
	}
	policy, err := api.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("fastapi-vars")})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus   string
				CountType   string
				CountNumber int
			}
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(policy.LifecyclePolicyText)), &doc); err != nil || len(doc.Rules) != 2 ||
		doc.Rules[0].Selection.TagStatus != "untagged" || doc.Rules[1].Selection.TagStatus != "any" ||
		doc.Rules[1].Selection.CountType != "imageCountMoreThan" || doc.Rules[1].Selection.CountNumber != 30 {
		t.Errorf("lifecycle policy %s (%v)", aws.ToString(policy.LifecyclePolicyText), err)
	}

	// Converged: no mutating call.
	from := len(rec.Calls())
	if res := applyRepository(t, dev, devDoc); res.Changed() {
		t.Errorf("second apply: %+v", res.Items)
	}
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("second apply made %v", m)
	}

	// prod adopts the same repository and adds itself to the environments using it.
	prod, _ := phasetest.NewTestInputs(t, "prod", nil)
	prod.AWS = dev.AWS
	phasetest.Moto.Reset(t)
	applyRepository(t, dev, devDoc)
	prodDoc := phasetest.NewDoc(prod)
	applyRepository(t, prod, prodDoc)
	tags := repoTags(t, dev)
	if tags[engine.TagEnvs] != "dev prod" || tags["fvdeploy:env"] != "" {
		t.Fatalf("tags of the shared repository: %v", tags)
	}
	if res := applyRepository(t, dev, devDoc); res.Changed() {
		t.Errorf("dev after prod joined: %+v", res.Items)
	}

	// A config change reaches the repository in place.
	dev.Config.Image.Keep = 10
	dev.Config.Image.ImmutableTags = false
	res := applyRepository(t, dev, devDoc)
	if it := res.Items[0]; it.Action != engine.Update || len(it.Changes) != 2 {
		t.Errorf("after changing keep and mutability: %+v", it)
	}
	out, _ = api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"fastapi-vars"}})
	if out.Repositories[0].ImageTagMutability != ecrtypes.ImageTagMutabilityMutable {
		t.Errorf("mutability after the change: %s", out.Repositories[0].ImageTagMutability)
	}

	// Destroying dev keeps the repository for prod; destroying prod then deletes it.
	r := &image.Repository{In: dev, API: api}
	if err := r.Delete(ctx, devDoc.Resources[kit.KeyImageRepo]); err != nil {
		t.Fatal(err)
	}
	if tags := repoTags(t, dev); tags[engine.TagEnvs] != "prod" {
		t.Fatalf("after destroying dev: %v", tags)
	}
	if err := (&image.Repository{In: prod, API: api}).Delete(ctx, prodDoc.Resources[kit.KeyImageRepo]); err != nil {
		t.Fatal(err)
	}
	if _, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"fastapi-vars"}}); !kit.IsNotFound(err) {
		t.Fatalf("the repository outlived its last environment: %v", err)
	}
	// Already gone: a second delete is fine.
	if err := r.Delete(ctx, devDoc.Resources[kit.KeyImageRepo]); err != nil {
		t.Fatal(err)
	}
}

func repoTags(t *testing.T, in *kit.Inputs) map[string]string {
	t.Helper()
	out, err := in.AWS.ECR().ListTagsForResource(context.Background(), &ecr.ListTagsForResourceInput{
		ResourceArn: aws.String("arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars")})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range out.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// What runs the image waits for the build only when the image phase is in the walk, so
// that the cluster phase alone, or with --image, is unchanged.
func TestImageDependencyOnlyWhenBuilding(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	for _, tc := range []struct {
		image imagechoice.Decision
		want  bool
	}{{imagechoice.BuildNow(), true}, {imagechoice.Keep(), false}, {imagechoice.Use(phasetest.TestImage), false}} {
		in.Image = tc.image
		td := &clusterphase.TaskDef{In: in}
		var exec engine.Resource
		for _, r := range phasetest.Declared(t, in, "cluster") {
			if r.Key() == kit.KeyExecRole {
				exec = r
			}
		}
		if got := slices.Contains(td.DependsOn(), kit.KeyImageBuild); got != tc.want || slices.Contains(exec.DependsOn(), kit.KeyImageBuild) != tc.want {
			t.Errorf("image %+v: task definition deps %v, execution role deps %v", tc.image, td.DependsOn(), exec.DependsOn())
		}
	}
}

// The task definition's runtime platform follows image.platform; none given is x86-64.
func TestTaskDefinitionRuntimePlatform(t *testing.T) {
	if got := clusterphase.RuntimePlatformText(clusterphase.RuntimePlatform("linux/arm64")); got != "LINUX/ARM64" {
		t.Errorf("arm64: %s", got)
	}
	if got := clusterphase.RuntimePlatformText(nil); got != clusterphase.RuntimePlatformText(clusterphase.RuntimePlatform("linux/amd64")) || !strings.HasSuffix(got, "X86_64") {
		t.Errorf("default: %s", got)
	}
}
