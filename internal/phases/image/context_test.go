package image_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The build follows image.context and image.dockerfile: the context is that folder (its
// files only, named from it), and only changes inside it make the build dirty.
func TestSourcePlanFollowsImageContext(t *testing.T) {
	ctx := context.Background()
	repo := testenv.GitRepo(t, map[string]string{
		"Dockerfile":                     "FROM scratch\n",
		"README.md":                      "root\n",
		"services/api/docker/Dockerfile": "FROM scratch\nCOPY main.py /\n",
		"services/api/main.py":           "print(1)\n",
		"services/other/Dockerfile":      "FROM scratch\n",
	})
	if err := os.Symlink(t.TempDir(), filepath.Join(repo, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "Dockerfile"), filepath.Join(repo, "services/other/Outside")); err != nil {
		t.Fatal(err)
	}
	plan := func(contextDir, dockerfile string) (*image.BuildPlan, error) {
		cfg, err := config.Defaults("dev")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Image.Context, cfg.Image.Dockerfile = contextDir, dockerfile
		return image.SourcePlan(ctx, &kit.Inputs{Config: cfg, Source: filepath.Join(repo, "services")})
	}

	root, err := plan(".", "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(root.Context.Files(), "services/api/main.py") || root.Context.Dockerfile != "Dockerfile" {
		t.Errorf("default context: files %v, dockerfile %s", root.Context.Files(), root.Context.Dockerfile)
	}

	api, err := plan("services/api", "docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	realRepo, _ := filepath.EvalSymlinks(repo)
	if want := filepath.Join(realRepo, "services/api"); api.Context.Dir != want || api.Context.Dockerfile != "docker/Dockerfile" {
		t.Errorf("context %s, dockerfile %s; want %s, docker/Dockerfile", api.Context.Dir, api.Context.Dockerfile, want)
	}
	if got := api.Context.Files(); !slices.Contains(got, "main.py") || slices.Contains(got, "README.md") || slices.ContainsFunc(got, func(f string) bool { return strings.Contains(f, "other") }) {
		t.Errorf("context files = %v, want the folder's own", got)
	}
	if api.Rev.Dirty || api.Inputs == root.Inputs {
		t.Errorf("clean subfolder build: dirty %v, same inputs as the root's %v", api.Rev.Dirty, api.Inputs == root.Inputs)
	}

	// A change outside the context leaves it clean; one inside makes it dirty.
	testenv.WriteFiles(t, repo, map[string]string{"README.md": "changed\n", "services/other/new.txt": "x"})
	if p, err := plan("services/api", "docker/Dockerfile"); err != nil || p.Rev.Dirty {
		t.Fatalf("changes outside the context: dirty %v, err %v", p != nil && p.Rev.Dirty, err)
	}
	testenv.WriteFiles(t, repo, map[string]string{"services/api/main.py": "print(2)\n"})
	p, err := plan("services/api", "docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Rev.Dirty || !slices.Equal(p.Rev.Changed, []string{"main.py"}) || !strings.HasSuffix(p.Tags[0], "-dirty") {
		t.Errorf("a changed context file: dirty %v, changed %v, tags %v", p.Rev.Dirty, p.Rev.Changed, p.Tags)
	}

	for name, tt := range map[string]struct{ context, dockerfile, want string }{
		"symlink out of the repository": {"escape", "Dockerfile", "build context escape (image.context) is outside the git repository"},
		"dockerfile out of the context": {"services/other", "Outside", "dockerfile Outside (image.dockerfile) is outside the build context"},
		"no such folder":                {"services/none", "Dockerfile", "build context services/none (image.context): lstat"},
		"no dockerfile":                 {"services/api", "Dockerfile", "no Dockerfile"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := plan(tt.context, tt.dockerfile); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sourcePlan = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
