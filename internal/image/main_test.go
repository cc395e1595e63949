package image

import (
	"fmt"
	"os"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The real parts: a Docker engine of the tests' own, a registry that admits the ECR-style
// credentials, and one that admits someone else only.
var (
	docker       *testenv.Docker
	goodRegistry *testenv.Registry
	strangers    *testenv.Registry
	ecrLikeUser  = Credentials{Username: testenv.ECRUser, Password: testenv.ECRPassword}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if docker, err = testenv.StartDocker(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer docker.Stop()
	if goodRegistry, err = testenv.StartRegistry(testenv.ECRUser, testenv.ECRPassword); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer goodRegistry.Stop()
	if strangers, err = testenv.StartRegistry(testenv.ECRUser, "someone-elses-password"); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer strangers.Stop()
	if err := os.Setenv("DOCKER_HOST", docker.Host); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	return m.Run()
}
