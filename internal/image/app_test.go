package image

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The repository's own Dockerfile, built through the Engine API on an offline Debian
// Python base (no base image can be pulled here), run with the two variables on a
// bridge network with a random loopback port: 401 without credentials, 200 with them,
// /health open.
func TestAppImageServesWithBasicAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	base, err := testenv.PythonBaseImage(ctx, docker.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base image %s ready in %s", base, time.Since(start).Round(time.Second))
	e := newEngine(t)
	bc, err := LoadContext(testenv.RepoRoot(), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Build(ctx, bc, BuildOptions{
		Tags:      []string{"fvdeploy-test/app:1"},
		BuildArgs: map[string]string{"BASE_IMAGE": base, "INSTALL_REQUIREMENTS": "false"},
		Platform:  "linux/amd64",
	}); err != nil {
		t.Fatal(err)
	}

	api, err := client.New(client.WithHost(docker.Host))
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	// -p on the default network is ignored without a bridge; a network of its own works.
	net, err := api.NetworkCreate(ctx, "fvd-app-test", client.NetworkCreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = api.NetworkRemove(context.Background(), net.ID, client.NetworkRemoveOptions{}) })
	port := network.MustParsePort("8000/tcp")
	created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:        "fvdeploy-test/app:1",
			Env:          []string{"ADMIN_USER=admin", "ADMIN_PASS=app-image-pass"},
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			// As the task definition runs it (readonlyRootFilesystem): the app and its
			// two workers must not need to write anywhere but /dev/shm.
			ReadonlyRootfs: true,
			NetworkMode:    container.NetworkMode("fvd-app-test"),
			PortBindings:   network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = api.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		res, err := api.ContainerLogs(context.Background(), created.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return err.Error()
		}
		defer res.Close()
		data, _ := io.ReadAll(res)
		return string(data)
	}
	info, err := api.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bindings := info.Container.NetworkSettings.Ports[port]
	if len(bindings) == 0 {
		t.Fatalf("port 8000 is not published: %+v", info.Container.NetworkSettings.Ports)
	}
	url := "http://127.0.0.1:" + bindings[0].HostPort
	get := func(path, user, pass string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := get("/health", "", "")
		if code == http.StatusOK {
			break
		}
		if state, err := api.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{}); err != nil || !state.Container.State.Running || time.Now().After(deadline) {
			t.Fatalf("never healthy (%v); container log:\n%s", err, logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code, body := get("/", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET / without credentials: %d %s", code, body)
	}
	if code, body := get("/", "admin", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong password: %d %s", code, body)
	}
	code, body := get("/", "admin", "app-image-pass")
	var greeting map[string]string
	if code != http.StatusOK || json.Unmarshal([]byte(body), &greeting) != nil || greeting["username"] != "admin" || greeting["message"] != "Olá candidato, seja bem vindo ao Vars!" {
		t.Errorf("GET / with the credentials: %d %s", code, body)
	}
	if strings.Contains(logs(), "app-image-pass") {
		t.Error("the password appears in the container's log")
	}
}
