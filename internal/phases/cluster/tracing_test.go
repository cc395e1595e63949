package cluster_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

// Tracing on: the collector sidecar joins the task, the app is told to export to it, and
// the task role may send segments to X-Ray and nothing else; off again, all of it goes.
func TestClusterTracing(t *testing.T) {
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	taskRole := doc.Resources[kit.KeyTaskRole].ID
	if p := taskRolePolicy(t, in, taskRole); p != "" {
		t.Fatalf("task role has a policy without tracing: %s", p)
	}

	in.Config.Observability.Tracing = true
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	td := describeTaskDef(t, in, kit.TaskFamily(in))
	if len(td.ContainerDefinitions) != 2 {
		t.Fatalf("containers %+v, want the app and the collector", td.ContainerDefinitions)
	}
	app, col := clusterphase.AppContainer(td.ContainerDefinitions), clusterphase.FindContainer(td.ContainerDefinitions, clusterphase.CollectorName)
	var env []string
	for _, kv := range app.Environment {
		env = append(env, aws.ToString(kv.Name)+"="+aws.ToString(kv.Value))
	}
	slices.Sort(env)
	if !slices.Equal(env, []string{"FVDEPLOY_TRACING=true", "OTEL_SERVICE_NAME=fastapi-vars-prod"}) {
		t.Errorf("app environment %v", env)
	}
	if col == nil || aws.ToString(col.Image) != clusterphase.CollectorImage || !slices.Equal(col.Command, []string{"--config=/etc/ecs/ecs-xray.yaml"}) ||
		aws.ToBool(col.Essential) || col.LogConfiguration.Options["awslogs-stream-prefix"] != clusterphase.CollectorName {
		t.Errorf("collector %+v", col)
	}
	// Both fit the task: the app's hard limit plus the collector's reservation.
	if got := aws.ToInt32(app.Memory) + aws.ToInt32(col.MemoryReservation); got != int32(in.Config.Service.Memory) {
		t.Errorf("app limit + collector reservation = %d MiB, task has %d", got, in.Config.Service.Memory)
	}
	policy := taskRolePolicy(t, in, taskRole)
	stmts := phasetest.PolicyStatements(t, policy)
	if len(stmts) != 1 || !slices.Equal(kit.SortedList(stmts[0]["Action"]), []any{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}) {
		t.Errorf("task role policy %s, want X-Ray segment and telemetry writes only", policy)
	}

	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("second apply with tracing made %v", m)
	}

	in.Config.Observability.Tracing = false
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if td := describeTaskDef(t, in, kit.TaskFamily(in)); len(td.ContainerDefinitions) != 1 || len(td.ContainerDefinitions[0].Environment) != 0 {
		t.Errorf("tracing off: containers %+v", td.ContainerDefinitions)
	}
	if p := taskRolePolicy(t, in, taskRole); p != "" {
		t.Errorf("tracing off: task role keeps %s", p)
	}
}

// taskRolePolicy is the task role's fvdeploy policy, "" when it has none.
func taskRolePolicy(t *testing.T, in *kit.Inputs, roleName string) string {
	t.Helper()
	out, err := in.AWS.IAM().GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(kinds.InlinePolicyName)})
	if kit.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	doc, err := kit.DecodePolicy(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(doc)
}
