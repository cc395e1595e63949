package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Runtime is the test ground on which the service really runs: ministack, which runs ECS
// tasks as containers of a Docker engine of the tests' own (on a bridge made for it)
// and forwards its ALB to them, with moto beside it for Application Auto Scaling, which
// ministack lacks. Traffic goes only to 127.0.0.1 and to the containers on that bridge.
type Runtime struct {
	// Endpoint is ministack's gateway, http://127.0.0.1:PORT: every AWS service but
	// Application Auto Scaling.
	Endpoint string
	// Registry is ministack's ECR registry, 127.0.0.1:PORT, for fvdeploy's --registry.
	Registry string
	// DockerHost is the engine that runs the tasks: Docker's, when the ground started
	// its own on Bridge, or one it was given (StartRuntimeOn).
	DockerHost string
	Docker     *Docker
	Bridge     *Bridge
	// Moto answers Application Auto Scaling and EC2 (AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING,
	// AWS_ENDPOINT_URL_EC2).
	Moto *Moto

	// LogPath is ministack's log.
	LogPath string

	ministack *Ministack
}

// runtimeAccount is the account both emulators answer for (moto's, and ministack's
// MINISTACK_ACCOUNT_ID), so that ARNs agree between them.
const runtimeAccount = "123456789012"

func ministackBinary() (string, error) {
	p := filepath.Join(RepoRoot(), ".venv-runtime", "bin", "ministack")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("ministack not installed at %s (run `make test-deps`, which installs it): %w", p, err)
	}
	return p, nil
}

// StartRuntime makes the bridge, starts dockerd on it, ministack on a free loopback
// port driving that engine, and moto. It needs root (the bridge and dockerd). On any
// failure what was started is stopped again.
func StartRuntime() (*Runtime, error) {
	return startRuntime(func(rt *Runtime) (err error) {
		if rt.Bridge, err = CreateBridge(); err != nil {
			return err
		}
		if rt.Docker, err = StartDockerOnBridge(rt.Bridge.Name); err != nil {
			return err
		}
		rt.DockerHost = rt.Docker.Host
		return nil
	})
}

// StartRuntimeOn is StartRuntime with an engine that already runs (dockerHost, e.g. a
// developer's own): ministack runs the tasks on that engine's default network, which
// must be reachable from this machine.
func StartRuntimeOn(dockerHost string) (*Runtime, error) {
	return startRuntime(func(rt *Runtime) error {
		rt.DockerHost = dockerHost
		return nil
	})
}

func startRuntime(engine func(*Runtime) error) (rt *Runtime, err error) {
	rt = &Runtime{}
	defer func() {
		if err != nil {
			rt.Stop()
			rt = nil
		}
	}()
	if err := engine(rt); err != nil {
		return rt, err
	}
	if rt.Moto, err = StartMoto(1); err != nil {
		return rt, err
	}
	if rt.ministack, err = StartMinistack("DOCKER_HOST=" + rt.DockerHost); err != nil {
		return rt, err
	}
	rt.Endpoint, rt.LogPath = rt.ministack.Endpoint, rt.ministack.LogPath
	rt.Registry = strings.TrimPrefix(rt.Endpoint, "http://")
	return rt, nil
}

// waitUntilAnswers polls url until it answers with status, the process behind it exits,
// or timeout passes.
func waitUntilAnswers(url string, status int, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before answering")
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
		}
	}
	return fmt.Errorf("did not answer %s with HTTP %d within %s", url, status, timeout)
}

// Env points the AWS SDK (in fvdeploy or a test) at the ground, and Docker at its engine.
func (rt *Runtime) Env() map[string]string {
	env := emulatorEnv(rt.Endpoint)
	env["AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING"] = rt.Moto.Endpoint
	// ministack puts a new subnet on no network ACL and records no subnet when one moves
	// (ReplaceNetworkAclAssociation), which AWS never does: EC2 is moto's, which models
	// both. ministack's ALB and ECS never look EC2 up, so the tasks still run there.
	env["AWS_ENDPOINT_URL_EC2"] = rt.Moto.Endpoint
	env["DOCKER_HOST"] = rt.DockerHost
	return env
}

// ALBURL is where ministack serves the load balancer named lbName: its DNS name does not
// resolve, and must never be dialled.
func (rt *Runtime) ALBURL(lbName string) string { return rt.Endpoint + "/_alb/" + lbName }

// AWSConfig is an SDK configuration for the ground's account; clients made from it reach
// ministack when given BaseEndpoint = Endpoint.
func (rt *Runtime) AWSConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

// StandInService creates, in moto, the ECS cluster and service that Application Auto
// Scaling checks for when fvdeploy registers the service as a scalable target: the real
// ones live in ministack, which has no Application Auto Scaling.
func (rt *Runtime) StandInService(ctx context.Context, cluster, service string) error {
	client := ecs.NewFromConfig(rt.AWSConfig(), func(o *ecs.Options) { o.BaseEndpoint = aws.String(rt.Moto.Endpoint) })
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		return fmt.Errorf("creating the stand-in cluster %s in moto: %w", cluster, err)
	}
	td, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("stand-in"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("stand-in"), Image: aws.String("stand-in"), Memory: aws.Int32(128),
		}},
	})
	if err != nil {
		return fmt.Errorf("registering the stand-in task definition in moto: %w", err)
	}
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(service),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1),
	}); err != nil {
		return fmt.Errorf("creating the stand-in service %s in moto: %w", service, err)
	}
	return nil
}

// Stop stops ministack, then its own dockerd (which stops the task containers), moto, and
// removes the bridge and ministack's folder.
func (rt *Runtime) Stop() {
	if rt.ministack != nil {
		rt.ministack.Stop()
	}
	if rt.Docker != nil {
		rt.Docker.Stop()
	}
	if rt.Moto != nil {
		rt.Moto.Stop()
	}
	if rt.Bridge != nil {
		rt.Bridge.Remove()
	}
}
