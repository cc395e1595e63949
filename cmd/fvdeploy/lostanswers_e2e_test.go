package main

import (
	"fmt"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// lossyYAML turns on every part of the network, secrets, cluster, edge and observability
// phases that the emulator carries, so that every kind of create meets a lost answer.
const lossyYAML = `
edge:
  domain: lossy.example.com
alarms:
  email: [ops@example.com]
observability:
  cloudtrail: true
`

func lossyUpArgs() []string {
	return []string{"up", "--env", "prod", "--phases", "network,secrets,cluster,edge,observability", "--image", stackImage}
}

// TestLostAnswersLeaveNoDuplicateAndNoOrphan: with 15 % of the answers to writes lost after
// the emulator carried them out, the first up succeeds and leaves exactly what an up
// without faults leaves, and destroy then leaves nothing of the environment.
func TestLostAnswersLeaveNoDuplicateAndNoOrphan(t *testing.T) {
	c := newCLI(t)
	writeConfig(t, c, lossyYAML)
	mustRun(t, c, lossyUpArgs()...)
	want := takeInventory(t, "fastapi-vars", "prod")

	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			c := newCLI(t)
			writeConfig(t, c, lossyYAML)
			proxy := testenv.StartLossyProxy(t, moto.Endpoint, seed, 0.15, func(op string) bool { return awsclients.Call{Operation: op}.Mutating() })
			c.Env["AWS_ENDPOINT_URL"] = proxy.URL
			res := c.Run(t, append(lossyUpArgs(), "--timeout", "3m")...)
			t.Logf("answers lost: %v", proxy.Lost())
			if res.Code != 0 {
				t.Fatalf("up with lost answers: exit %d\n%s", res.Code, res.Stderr)
			}
			if got := takeInventory(t, "fastapi-vars", "prod"); got != want {
				t.Errorf("after up with lost answers:\n got %+v\nwant %+v", got, want)
			}
			res = c.Run(t, "destroy", "--env", "prod", "--yes")
			if res.Code != 0 {
				t.Fatalf("destroy with lost answers: exit %d\n%s", res.Code, res.Stderr)
			}
			if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
				t.Errorf("left behind after destroy: %+v", got)
			}
		})
	}
}
