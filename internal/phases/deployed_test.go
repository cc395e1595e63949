package phases_test

import (
	"reflect"
	"testing"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// DeployedObjects gathers what validate --security audits by resource type, so a
// resource another phase adds (a flow-log role, a rotation function's role) is audited
// without being named; secrets fvdeploy only references are not its to audit.
func TestDeployedObjectsSets(t *testing.T) {
	doc := state.New("app", "prod", "us-east-1", "123456789012")
	add := func(key, typ, id, arn string) { doc.Resources[key] = &state.Resource{Type: typ, ID: id, ARN: arn} }
	add(kit.KeyExecRole, "iam:role", "app-prod-exec", "arn:aws:iam::123456789012:role/app-prod-exec")
	add(kit.KeyTaskRole, "iam:role", "app-prod-task", "")
	add("network/flow-logs-role", "iam:role", "app-prod-flow-logs", "")
	add(kit.KeySubnet(true, 1), "ec2:subnet", "subnet-pub-b", "")
	add(kit.KeySubnet(true, 0), "ec2:subnet", "subnet-pub-a", "")
	add(kit.KeySubnet(false, 0), "ec2:subnet", "subnet-priv-a", "")
	add(kit.KeySecretAdmin, "secretsmanager:secret", "app-prod-admin", "arn:admin")
	add(observability.KeyChatWebhook, "secretsmanager:webhook-secret", "app-prod-chat-webhook", "arn:webhook")
	add("secrets/ref-db", "secretsmanager:secret-ref", "team-db", "arn:team-db")
	add(observability.KeyTrailBucket, "s3:bucket", "app-prod-trail", "")
	add(clusterphase.KeyLogGroup, "logs:log-group", "/ecs/app-prod", "")
	add(kit.KeyTopicKey, "kms:key", "key-id", "arn:key")
	add(observability.KeyTrail, "cloudtrail:trail", "app-prod", "arn:trail")

	d := phases.DeployedObjects(doc)
	got := phases.Deployed{Account: d.Account, ExecutionRoleARN: d.ExecutionRoleARN, Roles: d.Roles, PublicSubnets: d.PublicSubnets,
		PrivateSubnets: d.PrivateSubnets, Secrets: d.Secrets, Buckets: d.Buckets, LogGroups: d.LogGroups, KMSKey: d.KMSKey, Trail: d.Trail}
	want := phases.Deployed{Account: "123456789012", ExecutionRoleARN: "arn:aws:iam::123456789012:role/app-prod-exec",
		Roles:         []string{"app-prod-exec", "app-prod-task", "app-prod-flow-logs"},
		PublicSubnets: []string{"subnet-pub-a", "subnet-pub-b"}, PrivateSubnets: []string{"subnet-priv-a"},
		Secrets: []string{"arn:webhook", "arn:admin"}, Buckets: []string{"app-prod-trail"}, LogGroups: []string{"/ecs/app-prod"},
		KMSKey: "arn:key", Trail: "arn:trail"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}
