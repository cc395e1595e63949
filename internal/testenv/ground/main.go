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

func main() {
	envFile := flag.String("env-file", "", "write the ground's environment here (KEY=VALUE lines) once it is up")
	service := flag.String("service", "fastapi-vars-dev/fastapi-vars-dev", "the ECS cluster/service that fvdeploy will scale, stood in for in moto")
	flag.Parse()
	cluster, svc, ok := strings.Cut(*service, "/")
	if *envFile == "" || !ok {
		fmt.Fprintln(os.Stderr, "usage: ground -env-file FILE [-service CLUSTER/SERVICE]")
		os.Exit(2)
	}
	if err := run(*envFile, cluster, svc); err != nil {
		fmt.Fprintln(os.Stderr, "ground:", err)
		os.Exit(1)
	}
}

func run(envFile, cluster, service string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say("starting the runtime ground: a bridge, a Docker engine on it, ministack, moto")
	start := time.Now()
	rt, err := testenv.StartRuntime()
	if err != nil {
		return err
	}
	defer rt.Stop()
	say(fmt.Sprintf("runtime ground up in %s: ministack on %s (log %s), tasks on %s %s", since(start), rt.Endpoint, rt.LogPath, rt.Bridge.Name, rt.Bridge.Gateway))
	if err := rt.StandInService(ctx, cluster, service); err != nil {
		return err
	}
	if testenv.PythonBaseCached() {
		say("importing the cached offline Python base image")
	} else {
		say("building the offline Python base image with debootstrap (about 2 minutes, once; then cached)")
	}
	start = time.Now()
	base, err := testenv.PythonBaseImage(ctx, rt.Docker.Host)
	if err != nil {
		return err
	}
	say(fmt.Sprintf("base image %s ready in %s", base, since(start)))
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

func say(msg string) { fmt.Fprintln(os.Stderr, "== "+msg) }

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
