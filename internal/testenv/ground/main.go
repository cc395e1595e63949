// Command ground starts the runtime test ground (internal/testenv.Runtime) for a script
// such as `make demo`: it writes the environment that points fvdeploy at it to a file,
// then holds it up until interrupted, and tears it all down.
//
//	ground -env-file FILE [-service CLUSTER/SERVICE]
//
// FILE gets KEY=VALUE lines: the AWS and Docker settings, FVDEPLOY_REGISTRY (ministack's
// registry), FVDEPLOY_ALB_BASE (the load balancers' URL prefix) and FVDEPLOY_BASE_IMAGE
// (the offline Python base image, built once with debootstrap and cached).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// exitNoEngine tells the calling script that no Docker engine can be had here.
const exitNoEngine = 3

func main() {
	envFile := flag.String("env-file", "", "write the ground's environment here (KEY=VALUE lines) once it is up")
	service := flag.String("service", "fastapi-vars-dev/fastapi-vars-dev", "the ECS cluster/service that fvdeploy will scale, stood in for in moto")
	engine := flag.String("engine", "", "run the tasks on this running Docker engine (default: one of the ground's own when root, else DOCKER_HOST or the default socket)")
	flag.Parse()
	cluster, svc, ok := strings.Cut(*service, "/")
	if *envFile == "" || !ok {
		fmt.Fprintln(os.Stderr, "usage: ground -env-file FILE [-service CLUSTER/SERVICE] [-engine DOCKER_HOST]")
		os.Exit(2)
	}
	err := run(*envFile, *engine, cluster, svc)
	if errors.Is(err, errNoEngine) {
		fmt.Fprintln(os.Stderr, "ground:", err)
		os.Exit(exitNoEngine)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ground:", err)
		os.Exit(1)
	}
}

var errNoEngine = errors.New("no Docker engine can be had")

func run(envFile, engine, cluster, service string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rt, err := startGround(ctx, engine)
	if err != nil {
		return err
	}
	defer rt.Stop()
	say(fmt.Sprintf("runtime ground up in %s: ministack on %s (log %s)", since(start), rt.Endpoint, rt.LogPath))
	if err := rt.StandInService(ctx, cluster, service); err != nil {
		return err
	}
	base, err := baseImage(ctx, rt)
	if err != nil {
		return err
	}
	env := rt.Env()
	env["FVDEPLOY_REGISTRY"] = rt.Registry
	env["FVDEPLOY_ALB_BASE"] = rt.ALBURL("")
	env["FVDEPLOY_BASE_IMAGE"] = base
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	if err := os.WriteFile(envFile, []byte(b.String()), 0o600); err != nil {
		return err
	}
	<-ctx.Done()
	say("stopping the runtime ground")
	return nil
}

// startGround starts the ground on the engine asked for, else on one of its own when
// root, else on the engine at DOCKER_HOST or the default socket if one answers.
func startGround(ctx context.Context, engine string) (*testenv.Runtime, error) {
	if engine == "" && os.Geteuid() == 0 {
		say("starting the runtime ground: a bridge, a Docker engine on it, ministack, moto")
		return testenv.StartRuntime()
	}
	if engine == "" {
		engine = os.Getenv("DOCKER_HOST")
	}
	if engine == "" {
		engine = "unix:///var/run/docker.sock"
	}
	if !testenv.EngineAnswers(ctx, engine) {
		return nil, fmt.Errorf("%w: none answers at %s, and only root can start one of the ground's own", errNoEngine, engine)
	}
	say("starting the runtime ground on the Docker engine at " + engine + " (tasks on its default network): ministack, moto")
	return testenv.StartRuntimeOn(engine)
}

// baseImage is the offline Python base image, built with debootstrap once (root only)
// and cached; "" when it cannot be had, and the Dockerfile's own base is pulled instead.
func baseImage(ctx context.Context, rt *testenv.Runtime) (string, error) {
	switch {
	case testenv.PythonBaseCached():
		say("importing the cached offline Python base image")
	case os.Geteuid() == 0:
		say("building the offline Python base image with debootstrap (1 to 2 minutes, once; then cached)")
	default:
		say("no cached offline base image, and debootstrap needs root: the build pulls the Dockerfile's base image")
		return "", nil
	}
	start := time.Now()
	base, err := testenv.PythonBaseImage(ctx, rt.DockerHost)
	if err != nil {
		return "", err
	}
	say(fmt.Sprintf("base image %s ready in %s", base, since(start)))
	return base, nil
}

func say(msg string) { fmt.Fprintln(os.Stderr, "== "+msg) }

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
