package secrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

func TestSecretPolicyPrincipalARNs(t *testing.T) {
	for name, tc := range map[string]struct {
		caller string
		want   []string
	}{
		"assumed role": {"arn:aws:sts::123456789012:assumed-role/deployer/ci-run-7",
			[]string{"arn:aws:iam::123456789012:role/deployer", "arn:aws:iam::123456789012:role/*/deployer"}},
		"assumed role in China": {"arn:aws-cn:sts::123456789012:assumed-role/deployer/s",
			[]string{"arn:aws-cn:iam::123456789012:role/deployer", "arn:aws-cn:iam::123456789012:role/*/deployer"}},
		"user":           {"arn:aws:iam::123456789012:user/ops/alice", []string{"arn:aws:iam::123456789012:user/ops/alice"}},
		"root":           {"arn:aws:iam::123456789012:root", []string{"arn:aws:iam::123456789012:root"}},
		"federated user": {"arn:aws:sts::123456789012:federated-user/bob", []string{"arn:aws:sts::123456789012:federated-user/bob"}},
		"unknown":        {"", nil},
	} {
		t.Run(name, func(t *testing.T) {
			if got := kinds.PrincipalARNs(tc.caller); !slices.Equal(got, tc.want) {
				t.Errorf("principalARNs(%q) = %v, want %v", tc.caller, got, tc.want)
			}
		})
	}
}

// denied evaluates the Deny statements of a secret policy as IAM does for a request by
// principal (its aws:PrincipalArn; "" for a request without one, e.g. anonymous) for
// action: a statement whose action matches denies unless the principal is ArnLike one of
// its exceptions (ArnNotLike, the only condition these policies use).
func denied(t *testing.T, policy, principal, action string) bool {
	t.Helper()
	var doc struct {
		Statement []struct {
			Effect, Principal string
			Action, Resource  []string
			Condition         map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Statement {
		if s.Effect != "Deny" || s.Principal != "*" || !slices.Equal(s.Resource, []string{"*"}) || len(s.Condition) != 1 {
			t.Fatalf("unexpected statement %+v", s)
		}
		if !slices.ContainsFunc(s.Action, func(a string) bool { return kinds.ARNLike(a, action) }) {
			continue
		}
		except, ok := s.Condition["ArnNotLike"]["aws:PrincipalArn"]
		if !ok {
			t.Fatalf("statement without ArnNotLike on aws:PrincipalArn: %+v", s)
		}
		if principal == "" || !slices.ContainsFunc(except, func(p string) bool { return kinds.ARNLike(p, principal) }) {
			return true
		}
	}
	return false
}

// Who may do what with the admin secret: the execution role reads and nothing more; the
// deployer (a role with a path, run as a session) and the account root do everything;
// anyone else, an administrator of the account among them, is denied whatever their
// identity policies grant, unless secrets.managers names them.
func TestSecretPolicyDeniesAllButReadersAndManagers(t *testing.T) {
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	in.Caller = "arn:aws:sts::123456789012:assumed-role/deployer/alice"
	exec := "arn:aws:iam::123456789012:role/fastapi-vars-prod-exec"
	deployer := "arn:aws:iam::123456789012:role/teams/platform/deployer"
	root := "arn:aws:iam::123456789012:root"
	admin := "arn:aws:iam::123456789012:role/Admin"
	read, write, manage := "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:PutResourcePolicy"

	for name, tc := range map[string]struct {
		managers  []string
		principal string
		denied    map[string]bool
	}{
		"execution role reads only":  {nil, exec, map[string]bool{read: false, write: true, manage: true}},
		"deployer does everything":   {nil, deployer, map[string]bool{read: false, write: false, manage: false}},
		"root does everything":       {nil, root, map[string]bool{read: false, write: false, manage: false}},
		"an administrator is denied": {nil, admin, map[string]bool{read: true, write: true, manage: true}},
		"a listed manager does everything": {[]string{"arn:aws:iam::123456789012:role/Adm*"}, admin,
			map[string]bool{read: false, write: false, manage: false}},
		"a role named like the exec role in another account": {nil, "arn:aws:iam::999999999999:role/fastapi-vars-prod-exec",
			map[string]bool{read: true, write: true, manage: true}},
		"another role's session name is no way in": {nil, "arn:aws:iam::123456789012:role/deployer-not",
			map[string]bool{read: true, write: true, manage: true}},
		"no principal (anonymous)": {nil, "", map[string]bool{read: true, write: true, manage: true}},
	} {
		t.Run(name, func(t *testing.T) {
			in.Config.Secrets.Managers = tc.managers
			policy := kinds.SecretPolicy(in, kinds.AdminSecretAccess(in))
			for action, want := range tc.denied {
				if got := denied(t, policy, tc.principal, action); got != want {
					t.Errorf("%s by %q: denied %v, want %v\n%s", action, tc.principal, got, want, policy)
				}
			}
		})
	}
}

// A teammate's run does not rewrite the policy to their own name when secrets.managers
// covers them: one policy whoever deploys.
func TestSecretPolicyStableAcrossListedDeployers(t *testing.T) {
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	in.Config.Secrets.Managers = []string{"arn:aws:iam::123456789012:role/*deployer"}
	in.Caller = "arn:aws:sts::123456789012:assumed-role/deployer/alice"
	first := kinds.SecretPolicy(in, kinds.AdminSecretAccess(in))
	in.Caller = "arn:aws:sts::123456789012:assumed-role/ci-deployer/run-1"
	if second := kinds.SecretPolicy(in, kinds.AdminSecretAccess(in)); second != first {
		t.Errorf("the policy depends on which listed deployer ran up:\n%s\n%s", first, second)
	}
	in.Caller = "arn:aws:sts::123456789012:assumed-role/someone-else/s"
	if third := kinds.SecretPolicy(in, kinds.AdminSecretAccess(in)); third == first {
		t.Error("a deployer secrets.managers does not cover was not added to the policy")
	}
}

// The role names the policies grant are the ones the phases declare.
func TestSecretPolicyRoleNamesAreTheDeclaredOnes(t *testing.T) {
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	in.Config.Alarms.ChatRelay = true
	names := map[string]string{}
	for _, r := range slices.Concat(phasetest.Declared(t, in, "cluster"), observability.ChatRelayResources(in)) {
		if ro, ok := r.(*kinds.Role); ok {
			names[ro.ResourceKey] = ro.Name
		}
	}
	if names[kit.KeyExecRole] != kinds.ExecRoleName(in) || names[observability.KeyChatRelayRole] != kinds.ChatRelayRoleName(in) {
		t.Errorf("declared roles %v; the policies name %s and %s", names, kinds.ExecRoleName(in), kinds.ChatRelayRoleName(in))
	}
}

type policyRecorder struct {
	kinds.SecretPolicyAPI
	put []*secretsmanager.PutResourcePolicyInput
}

func (p *policyRecorder) PutResourcePolicy(_ context.Context, in *secretsmanager.PutResourcePolicyInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error) {
	p.put = append(p.put, in)
	return &secretsmanager.PutResourcePolicyOutput{}, nil
}

func TestSecretPolicyIsPutWithPublicPoliciesBlocked(t *testing.T) {
	p := &policyRecorder{}
	if err := kinds.PutSecretPolicy(context.Background(), p, "arn:s", `{"Statement":[]}`); err != nil {
		t.Fatal(err)
	}
	if len(p.put) != 1 || !aws.ToBool(p.put[0].BlockPublicPolicy) || aws.ToString(p.put[0].SecretId) != "arn:s" {
		t.Fatalf("PutResourcePolicy calls: %+v", p.put)
	}
}

// Against the emulator: up sets the policy on the admin secret; a policy removed or
// loosened by hand is drift, which the plan shows and one PutResourcePolicy repairs; a
// converged run only reads it.
func TestSecretPolicyDriftIsRepaired(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	in.Caller = "arn:aws:sts::123456789012:assumed-role/deployer/alice"
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "secrets")
	sm := in.AWS.SecretsManager()
	arn := doc.Resources[kit.KeySecretAdmin].ARN
	live := func() string {
		out, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ResourcePolicy)
	}
	want := kinds.SecretPolicy(in, kinds.AdminSecretAccess(in))
	if d, err := kit.ResourcePolicyDiff(live(), want); err != nil || d != nil {
		t.Fatalf("after up the policy differs (%v): %s", err, live())
	}
	from := len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Fatalf("a converged run made %v", m)
	}

	for name, tamper := range map[string]func(){
		"deleted": func() {
			if _, err := sm.DeleteResourcePolicy(ctx, &secretsmanager.DeleteResourcePolicyInput{SecretId: aws.String(arn)}); err != nil {
				t.Fatal(err)
			}
		},
		"reader added": func() {
			loose := kinds.SecretPolicy(in, kinds.SecretAccess{Readers: []string{kinds.RoleARN(in, kinds.ExecRoleName(in)), "arn:aws:iam::123456789012:role/intruder"}})
			if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(arn), ResourcePolicy: aws.String(loose)}); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			tamper()
			it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets"), kit.KeySecretAdmin)
			if it.Action != engine.Update || len(it.Changes) != 1 || it.Changes[0].Field != kinds.FieldResourcePolicy {
				t.Fatalf("plan after the policy was %s: %+v", name, it)
			}
			from := len(rec.Calls())
			phasetest.ApplyPhases(t, in, doc, "secrets")
			if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"Secrets Manager.PutResourcePolicy"}) {
				t.Fatalf("repairing took %v", m)
			}
			if d, err := kit.ResourcePolicyDiff(live(), want); err != nil || d != nil {
				t.Fatalf("after the repair the policy differs (%v): %s", err, live())
			}
		})
	}
}

func TestSecretPolicyDenialSaysWhatToDo(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		hint bool
	}{
		"denied":    {&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "explicit deny in a resource-based policy"}, true},
		"not found": {&smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false},
		"other":     {errors.New("connection reset"), false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := kinds.DeniedBySecretPolicy(tc.err); (got != "") != tc.hint || (tc.hint && !strings.Contains(got, "secrets.managers")) {
				t.Errorf("hint %q", got)
			}
		})
	}
}
