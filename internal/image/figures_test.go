package image

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// TestImageFigures measures the repository's image, for the deployment model's task-start
// term: its compressed size as the registry stores it (the sum of the manifest's layer
// sizes, what a task pulls) and the time from ContainerStart to the first 200 on /health.
// It asserts nothing about speed: it prints. `make image-figures` runs it.
//
// The base is the offline Debian Python image of the tests (no registry can be reached
// here), not the Dockerfile's default python:3.11-slim: the figures compare Dockerfile
// changes on one base, they are not a Fargate measurement (no ENI, no pull over a NAT).
func TestImageFigures(t *testing.T) {
	if os.Getenv("FVDEPLOY_IMAGE_FIGURES") == "" {
		t.Skip("a measurement, not a test: FVDEPLOY_IMAGE_FIGURES=1 (make image-figures) runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	base, err := testenv.PythonBaseImage(ctx, docker.Host)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t)
	bc, err := LoadContext(testenv.RepoRoot(), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ref := goodRegistry.Host + "/figures/app:1"
	if _, err := e.Build(ctx, bc, BuildOptions{Tags: []string{ref}, Platform: "linux/amd64",
		BuildArgs: map[string]string{"BASE_IMAGE": base, "INSTALL_REQUIREMENTS": "false"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Push(ctx, ref, ecrLikeUser); err != nil {
		t.Fatal(err)
	}
	data, _, err := NewRegistry(goodRegistry.Host, ecrLikeUser).Manifest(ctx, "figures/app", "1")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Config struct{ Size int64 }
		Layers []struct{ Size int64 }
	}
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest %s: %v", data, err)
	}
	var size int64
	for _, l := range m.Layers {
		size += l.Size
	}
	t.Logf("compressed image: %.1f MB in %d layers (config %d B)", float64(size)/1e6, len(m.Layers), m.Config.Size)

	api, err := client.New(client.WithHost(docker.Host))
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	netw, err := api.NetworkCreate(ctx, "fvd-figures", client.NetworkCreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = api.NetworkRemove(context.Background(), netw.ID, client.NetworkRemoveOptions{}) })
	var runs []time.Duration
	for range 5 {
		runs = append(runs, startToHealthy(ctx, t, api, ref))
	}
	slices.Sort(runs)
	t.Logf("container start to first 200 on /health: median %s (runs %v)", runs[len(runs)/2].Round(time.Millisecond), runs)
}

// startToHealthy starts one container of ref as the task definition runs it (read-only
// root) and times ContainerStart to the first 200 on /health at its bridge address.
func startToHealthy(ctx context.Context, t *testing.T, api *client.Client, ref string) time.Duration {
	t.Helper()
	created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: ref, Env: []string{"ADMIN_USER=admin", "ADMIN_PASS=figures-pass"}},
		HostConfig: &container.HostConfig{ReadonlyRootfs: true, NetworkMode: container.NetworkMode("fvd-figures")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = api.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	start := time.Now()
	if _, err := api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := api.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := info.Container.NetworkSettings.Networks["fvd-figures"]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("no address on fvd-figures: %+v", info.Container.NetworkSettings.Networks)
	}
	url := "http://" + ep.IPAddress.String() + ":8000/health"
	hc := &http.Client{Timeout: time.Second}
	for time.Since(start) < time.Minute {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200 on /health", ref)
	return 0
}
