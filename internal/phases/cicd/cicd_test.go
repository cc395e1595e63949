package cicd_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases/cicd"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

const providerARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

// trustedSubjects parses a trust policy and returns what it lets assume the role: the
// federated principal, the action, the audience and the subjects, failing the test on
// anything else in it (another statement, principal or condition).
func trustedSubjects(t *testing.T, doc string) (principal, action, aud string, subs []string) {
	t.Helper()
	stmts := phasetest.PolicyStatements(t, doc)
	if len(stmts) != 1 {
		t.Fatalf("trust policy has %d statements, want 1: %s", len(stmts), doc)
	}
	s := stmts[0]
	p, _ := s["Principal"].(map[string]any)
	cond, _ := s["Condition"].(map[string]any)
	eq, _ := cond["StringEquals"].(map[string]any)
	like, _ := cond["StringLike"].(map[string]any)
	if s["Effect"] != "Allow" || len(p) != 1 || len(cond) != 2 || len(eq) != 1 || len(like) != 1 {
		t.Fatalf("trust policy is not one federated principal with an audience and subjects: %s", doc)
	}
	for _, v := range kit.SortedList(like[cicd.GithubOIDCHost+":sub"]) {
		subs = append(subs, v.(string))
	}
	return fmt.Sprint(p["Federated"]), fmt.Sprint(kit.SortedList(s["Action"])), fmt.Sprint(eq[cicd.GithubOIDCHost+":aud"]), subs
}

func inlinePolicyOf(t *testing.T, in *kit.Inputs, roleName string) []map[string]any {
	t.Helper()
	out, err := in.AWS.IAM().GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: &roleName, PolicyName: aws.String(kinds.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	return phasetest.PolicyStatements(t, aws.ToString(out.PolicyDocument))
}

func TestCICDProviderAndDeployRole(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	in.Config.CICD.GitHubRepo = "acme/shop"
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)

	phasetest.ApplyScoped(t, in, doc, "cicd")

	iamc := in.AWS.IAM()
	p, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(providerARN)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.ClientIDList, []string{"sts.amazonaws.com"}) || !strings.HasSuffix(aws.ToString(p.Url), cicd.GithubOIDCHost) {
		t.Errorf("provider %s with client IDs %v", aws.ToString(p.Url), p.ClientIDList)
	}
	if doc.Resources[cicd.KeyOIDCProvider].Attrs["owned"] != "true" {
		t.Errorf("a provider fvdeploy created is recorded as %v", doc.Resources[cicd.KeyOIDCProvider].Attrs)
	}
	role, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-deploy")})
	if err != nil {
		t.Fatal(err)
	}
	principal, action, aud, subs := trustedSubjects(t, aws.ToString(role.Role.AssumeRolePolicyDocument))
	wantSubs := []string{"repo:acme/shop:ref:refs/heads/main", "repo:acme/shop:ref:refs/tags/v*"}
	if principal != providerARN || action != "[sts:AssumeRoleWithWebIdentity]" || aud != "sts.amazonaws.com" || !slices.Equal(subs, wantSubs) {
		t.Errorf("trust: %s may %s for audience %s and subjects %v; want %s, the STS audience and %v", principal, action, aud, subs, providerARN, wantSubs)
	}
	arn := aws.ToString(role.Role.Arn)
	if !strings.Contains(progress.String(), "role-to-assume: "+arn) {
		t.Errorf("the line to paste was not shown:\n%s", progress)
	}

	// Least privilege, read from the policy itself: the emulator evaluates no IAM.
	byAction := map[string]map[string]any{}
	for _, s := range inlinePolicyOf(t, in, "fastapi-vars-prod-deploy") {
		if s["Effect"] != "Allow" {
			t.Errorf("unexpected statement %v", s)
		}
		for _, a := range kit.SortedList(s["Action"]) {
			byAction[a.(string)] = s
		}
	}
	resources := func(action string) string { return fmt.Sprint(kit.SortedList(byAction[action]["Resource"])) }
	svc, exec, task := doc.Resources[kit.KeyService].ARN, doc.Resources[kit.KeyExecRole].ARN, doc.Resources[kit.KeyTaskRole].ARN
	checks := map[string]string{
		"ecs:UpdateService":              fmt.Sprint([]string{svc}),
		"ecs:DescribeServices":           fmt.Sprint([]string{svc}),
		"ecs:RegisterTaskDefinition":     "[arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:*]",
		"ecs:TagResource":                "[arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:*]",
		"ecs:DescribeTaskDefinition":     "[*]",
		"ecr:GetAuthorizationToken":      "[*]",
		"ecr:PutImage":                   "[arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars]",
		"ecr:DescribeRepositories":       "[arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars]",
		"ecs:DescribeServiceDeployments": fmt.Sprint([]string{strings.Replace(svc, ":service/", ":service-deployment/", 1) + "/*"}),
		"iam:GetRole":                    fmt.Sprint([]string{exec}),
		"iam:PassRole":                   fmt.Sprint(kit.SortedList([]any{exec, task})),
	}
	for action, want := range checks {
		if got := resources(action); got != want {
			t.Errorf("%s on %s, want %s", action, got, want)
		}
	}
	for action, want := range map[string]string{
		"iam:PassRole":      "map[StringEquals:map[iam:PassedToService:ecs-tasks.amazonaws.com]]",
		"ecs:UpdateService": "map[ArnLike:map[ecs:task-definition:arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:*]]",
		"ecs:TagResource":   "map[StringEquals:map[ecs:CreateAction:RegisterTaskDefinition]]",
	} {
		if cond := fmt.Sprint(byAction[action]["Condition"]); cond != want {
			t.Errorf("%s condition %s, want %s", action, cond, want)
		}
	}
	// "*" only where AWS offers no resource-level permission (or, for ListTasks, under
	// the cluster's condition).
	for a, s := range byAction {
		if fmt.Sprint(kit.SortedList(s["Resource"])) == "[*]" && !slices.Contains([]string{"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition", "ecs:ListTasks"}, a) {
			t.Errorf("%s on every resource", a)
		}
	}
	for a := range byAction {
		if strings.HasSuffix(a, "*") || strings.HasPrefix(a, "iam:") && !slices.Contains([]string{"iam:PassRole", "iam:GetRole", "iam:GetRolePolicy"}, a) || a == "ecs:DeleteService" || a == "ecs:CreateService" {
			t.Errorf("the deploy role may %s", a)
		}
	}

	mark := len(rec.Calls())
	if res := phasetest.ApplyScoped(t, in, doc, "cicd"); res.Changed() {
		t.Errorf("second apply changed %+v", res.Items)
	}
	if m := phasetest.Mutations(rec, mark); len(m) != 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}

	lost := phasetest.NewDoc(in)
	for _, k := range fakes {
		lost.Resources[k] = doc.Resources[k]
	}
	mark = len(rec.Calls())
	phasetest.ApplyScoped(t, in, lost, "cicd")
	if m := phasetest.Mutations(rec, mark); len(m) != 0 || lost.Resources[cicd.KeyOIDCProvider].Attrs["owned"] != "true" {
		t.Errorf("apply with lost state: mutating calls %v, provider %v", m, lost.Resources[cicd.KeyOIDCProvider].Attrs)
	}

	// Another branch configured: the trust follows.
	in.Config.CICD.Branches = []string{"main", "release"}
	phasetest.ApplyScoped(t, in, doc, "cicd")
	role, _ = iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-deploy")})
	if _, _, _, subs := trustedSubjects(t, aws.ToString(role.Role.AssumeRolePolicyDocument)); !slices.Contains(subs, "repo:acme/shop:ref:refs/heads/release") || len(subs) != 3 {
		t.Errorf("subjects after adding a branch: %v", subs)
	}

	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(providerARN)}); !kit.IsNotFound(err) {
		t.Errorf("the provider fvdeploy created survived destroy: %v", err)
	}
	if _, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-prod-deploy")}); !kit.IsNotFound(err) {
		t.Errorf("the deploy role survived destroy: %v", err)
	}
}

func TestCICDReusesAProviderAndLeavesIt(t *testing.T) {
	ctx := context.Background()
	in, _ := phasetest.NewTestInputs(t, "hml", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	in.Config.CICD.GitHubRepo = "acme/shop"
	iamc := in.AWS.IAM()
	if _, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://" + cicd.GithubOIDCHost), ClientIDList: []string{"sts.amazonaws.com", "something-else"},
		ThumbprintList: []string{"6938fd4d98bab03faadb97b34396831e3780aea1"},
	}); err != nil {
		t.Fatal(err)
	}
	doc := phasetest.NewDoc(in)
	fakes := phasetest.FakeService(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "cicd")
	if got := doc.Resources[cicd.KeyOIDCProvider]; got.ARN != providerARN || got.Attrs["owned"] != "false" {
		t.Errorf("reused provider recorded as %+v", got)
	}
	role, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-hml-deploy")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, subs := trustedSubjects(t, aws.ToString(role.Role.AssumeRolePolicyDocument)); !slices.Equal(subs, []string{"repo:acme/shop:ref:refs/heads/hml"}) {
		t.Errorf("hml trusts %v", subs)
	}
	// cicd.github_repo removed: the phase declares nothing, and what it made goes.
	in.Config.CICD.GitHubRepo = ""
	phasetest.ApplyScoped(t, in, doc, "cicd")
	if doc.Resources[cicd.KeyDeployRole] != nil || doc.Resources[cicd.KeyOIDCProvider] != nil {
		t.Errorf("cicd records left after unsetting cicd.github_repo")
	}
	if _, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fastapi-vars-hml-deploy")}); !kit.IsNotFound(err) {
		t.Errorf("deploy role after unsetting cicd.github_repo: %v", err)
	}
	if err := phasetest.DestroyExpecting(t, in, doc, fakes); err != nil {
		t.Fatal(err)
	}
	p, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(providerARN)})
	if err != nil || len(p.ClientIDList) != 2 {
		t.Errorf("the provider that existed before was changed or deleted: %+v %v", p, err)
	}
	if !strings.Contains(progress.String(), "left OIDC provider "+providerARN+" in place") {
		t.Errorf("destroy did not say it left the provider:\n%s", progress)
	}
}

func TestCICDKeepsItsProviderWhileAnotherEnvironmentTrustsIt(t *testing.T) {
	ctx := context.Background()
	prod, _ := phasetest.NewTestInputs(t, "prod", nil)
	progress := &phasetest.ProgressLog{T: t}
	prod.Progress = progress.Printf
	prod.Config.CICD.GitHubRepo = "acme/shop"
	prodDoc := phasetest.NewDoc(prod)
	prodFakes := phasetest.FakeService(t, prod, prodDoc)
	phasetest.ApplyScoped(t, prod, prodDoc, "cicd")

	cfg, err := config.Defaults("hml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Region, cfg.CICD.GitHubRepo = "us-east-1", "acme/shop"
	hml := kit.Inputs{Config: cfg, Account: prod.Account, Region: prod.Region, AWS: prod.AWS, Progress: t.Logf, PollInterval: prod.PollInterval}
	hmlDoc := phasetest.NewDoc(&hml)
	hmlDoc.Resources[kit.KeyCluster] = &state.Resource{ID: "x", ARN: "arn:aws:ecs:us-east-1:123456789012:cluster/x"}
	hmlDoc.Resources[kit.KeyService] = &state.Resource{ID: "x", ARN: "arn:aws:ecs:us-east-1:123456789012:service/x/x"}
	hmlDoc.Resources[kit.KeyExecRole] = &state.Resource{ID: "x-exec", ARN: "arn:aws:iam::123456789012:role/x-exec"}
	hmlDoc.Resources[kit.KeyTaskRole] = &state.Resource{ID: "x-task", ARN: "arn:aws:iam::123456789012:role/x-task"}
	phasetest.ApplyScoped(t, &hml, hmlDoc, "cicd")
	if hmlDoc.Resources[cicd.KeyOIDCProvider].Attrs["owned"] != "false" {
		t.Errorf("hml took prod's provider as its own: %v", hmlDoc.Resources[cicd.KeyOIDCProvider].Attrs)
	}

	if err := phasetest.DestroyExpecting(t, prod, prodDoc, prodFakes); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.AWS.IAM().GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(providerARN)}); err != nil {
		t.Errorf("prod's provider was deleted while hml's deploy role trusts it: %v", err)
	}
	if !strings.Contains(progress.String(), "roles fastapi-vars-hml-deploy still trust it") {
		t.Errorf("destroy did not say why it kept the provider:\n%s", progress)
	}
}

// fakeOIDC is an IAM that holds one provider without the STS audience: the emulator has
// no AddClientIDToOpenIDConnectProvider to prove adding it.
type fakeOIDC struct {
	cicd.OIDCAPI
	clientIDs []string
	added     []string
}

func (f *fakeOIDC) GetOpenIDConnectProvider(context.Context, *iam.GetOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error) {
	return &iam.GetOpenIDConnectProviderOutput{ClientIDList: f.clientIDs, Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}}, nil
}

func (f *fakeOIDC) AddClientIDToOpenIDConnectProvider(_ context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error) {
	f.added = append(f.added, aws.ToString(in.ClientID))
	return &iam.AddClientIDToOpenIDConnectProviderOutput{}, nil
}

func (f *fakeOIDC) DeleteOpenIDConnectProvider(context.Context, *iam.DeleteOpenIDConnectProviderInput, ...func(*iam.Options)) (*iam.DeleteOpenIDConnectProviderOutput, error) {
	return nil, errors.New("a provider fvdeploy did not create must not be deleted")
}

func TestCICDAddsTheSTSAudienceToASharedProvider(t *testing.T) {
	ctx := context.Background()
	in, _ := phasetest.NewTestInputs(t, "prod", nil)
	f := &fakeOIDC{clientIDs: []string{"some-other-audience"}}
	r := &cicd.OIDCProvider{In: in, API: f}
	found, err := r.Find(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Changes) != 1 || found.Changes[0].Field != "client_ids" || found.Record.Attrs["owned"] != "false" {
		t.Fatalf("found %+v", found)
	}
	rec, err := r.Update(ctx, nil, found)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.added, []string{"sts.amazonaws.com"}) {
		t.Errorf("added client IDs %v", f.added)
	}
	if err := r.Delete(ctx, rec); err != nil {
		t.Errorf("deleting the record of a shared provider: %v", err)
	}
}
