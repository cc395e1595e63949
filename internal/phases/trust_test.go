package phases_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

// trustConditions reads a trust policy: for each service principal, the conditions of
// the statement that trusts it, rendered as "Operator key=value".
func trustConditions(t *testing.T, doc string) map[string][]string {
	t.Helper()
	doc, err := kit.DecodePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	doc, err = kit.ConditionsAsLists(doc)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Principal map[string]any
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range p.Statement {
		for _, svc := range kit.AsList(s.Principal["Service"]) {
			conds := []string{}
			for op, kv := range s.Condition {
				for k, v := range kv {
					conds = append(conds, fmt.Sprintf("%s %s=%v", op, k, v))
				}
			}
			slices.Sort(conds)
			out[fmt.Sprint(svc)] = conds
		}
	}
	return out
}

// Every role an AWS service assumes, in any phase, under a config with every such role
// on: the service may assume it only for this account, and only for this account's ECS
// resources in the region (tasks, the service) or the relay function.
func TestTrustEveryServiceRoleIsConfusedDeputySafe(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "prod", map[string]string{observability.EnvChatWebhookURL: "https://hooks.example.com/x"})
	in.Config.Alarms.ChatRelay = true
	in.Config.CICD.GitHubRepo = "acme/shop"
	want := map[string][]string{
		"ecs-tasks.amazonaws.com":     {"ArnLike aws:SourceArn=[arn:aws:ecs:us-east-1:123456789012:*]", "StringEquals aws:SourceAccount=[123456789012]"},
		"ecs.amazonaws.com":           {"StringEquals aws:SourceAccount=[123456789012]"},
		"lambda.amazonaws.com":        {"StringEquals aws:SourceAccount=[123456789012]"},
		"vpc-flow-logs.amazonaws.com": {"ArnLike aws:SourceArn=[arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*]", "StringEquals aws:SourceAccount=[123456789012]"},
	}
	seen := map[string]bool{}
	for _, p := range phases.All() {
		rs, err := p.Declare(in)
		if err != nil {
			t.Fatal(err)
		}
		if p.EveryKind != nil {
			rs = append(rs, p.EveryKind(in)...)
		}
		for _, r := range rs {
			ro, ok := r.(*kinds.Role)
			if !ok || ro.Trust == "" { // a deleter: it builds no trust policy
				continue
			}
			for svc, conds := range trustConditions(t, ro.Trust) {
				seen[svc] = true
				w, known := want[svc]
				if ro.ResourceKey == clusterphase.KeyRotationRole {
					// An execution role Lambda assumes for no documented source ARN: the
					// account alone (trust.go; the relay's pins the ARN for validate's sake).
					w, known = []string{"StringEquals aws:SourceAccount=[123456789012]"}, svc == "lambda.amazonaws.com"
				}
				if !known || !slices.Equal(conds, w) {
					t.Errorf("%s (%s) trusts %s with %v, want %v", ro.ResourceKey, ro.Name, svc, conds, w)
				}
			}
		}
	}
	for svc := range want {
		if !seen[svc] {
			t.Errorf("no role trusts %s: the test no longer covers it", svc)
		}
	}
}

// A deployment made before the trust conditions existed: its roles' bare trust policies
// are drift, repaired by up with one UpdateAssumeRolePolicy each, and then in sync.
func TestTrustOldPolicyIsRepaired(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")

	old := map[string]string{
		kit.KeyExecRole:        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		kit.KeyTaskRole:        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		clusterphase.KeyLBRole: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
	}
	for key, trust := range old {
		if _, err := in.AWS.IAM().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(doc.Resources[key].ID), PolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
	}

	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	for key := range old {
		it := phasetest.Item(plan, key)
		if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0].Field != kinds.FieldTrustPolicy {
			t.Errorf("%s with the old trust policy: %s %v, want an update of %s", key, it.Action, it.Changes, kinds.FieldTrustPolicy)
		}
	}

	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if n := phasetest.CountCalls(rec, from, "IAM.UpdateAssumeRolePolicy"); n != len(old) {
		t.Errorf("UpdateAssumeRolePolicy calls: %d, want %d; mutations %v", n, len(old), phasetest.Mutations(rec, from))
	}
	for key := range old {
		out, err := in.AWS.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(doc.Resources[key].ID)})
		if err != nil {
			t.Fatal(err)
		}
		for svc, conds := range trustConditions(t, aws.ToString(out.Role.AssumeRolePolicyDocument)) {
			if !slices.Contains(conds, "StringEquals aws:SourceAccount=[123456789012]") {
				t.Errorf("%s trusts %s with %v after up, want aws:SourceAccount", key, svc, conds)
			}
		}
	}

	from = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Errorf("a second up changed %v", m)
	}
}
