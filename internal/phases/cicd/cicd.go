// Package cicd declares the cicd phase: GitHub's OIDC identity provider and the deploy
// role the workflow assumes.
package cicd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The cicd phase's keys.
const (
	KeyOIDCProvider = "cicd/oidc-provider"
	KeyDeployRole   = "cicd/deploy-role"
)

const (
	GithubOIDCHost = "token.actions.githubusercontent.com"
	// STSAudience is the audience aws-actions/configure-aws-credentials asks GitHub for.
	STSAudience = "sts.amazonaws.com"
)

// Phase says what the cicd phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "cicd", Summary: "GitHub OIDC provider and the deploy role (when cicd.github_repo is set)", Resources: declareCICD, EveryKind: cicdResources}
}

// declareCICD is the cicd phase: GitHub's OIDC identity provider and the role that
// GitHub Actions runs of the configured repository's branches and tags assume to run
// `fvdeploy deploy`. Nothing without cicd.github_repo.
func declareCICD(in *kit.Inputs) ([]engine.Resource, error) {
	if in.Config.CICD.GitHubRepo == "" {
		return nil, nil
	}
	iamc := in.AWS.IAM()
	return []engine.Resource{
		&OIDCProvider{In: in, API: iamc},
		&deployRole{Role: &kinds.Role{
			In: in, API: iamc, ResourceKey: KeyDeployRole, Name: deployRoleName(in), Trust: githubTrustPolicy(in),
			Deps:   []string{KeyOIDCProvider, kit.KeyCluster, kit.KeyService, kit.KeyExecRole, kit.KeyTaskRole},
			Policy: deployPolicy,
			Description: "GitHub Actions of " + in.Config.CICD.GitHubRepo + " deploying " + in.Prefix() +
				" with fvdeploy deploy: push the image, register a task definition, roll the service",
		}},
	}, nil
}

// cicdResources is one resource of every type the phase declares, for destroy once
// cicd.github_repo is unset.
func cicdResources(in *kit.Inputs) []engine.Resource {
	return []engine.Resource{&OIDCProvider{In: in, API: in.AWS.IAM()}, &kinds.Role{In: in, API: in.AWS.IAM()}}
}

func deployRoleName(in *kit.Inputs) string { return kit.BoundedName(in.Prefix()+"-deploy", 64) }

func oidcProviderARN(in *kit.Inputs) string {
	return fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", kit.AWSPartition(in.Region), in.Account, GithubOIDCHost)
}

// githubSubjects are the OIDC subjects the deploy role trusts: pushes to the configured
// branches and tags of the configured repository, nothing else (no pull requests, no
// other branch, no fork).
func githubSubjects(in *kit.Inputs) []string {
	repo := "repo:" + in.Config.CICD.GitHubRepo + ":ref:refs/"
	var subs []string
	for _, b := range in.Config.CICD.Branches {
		subs = append(subs, repo+"heads/"+b)
	}
	for _, t := range in.Config.CICD.Tags {
		subs = append(subs, repo+"tags/"+t)
	}
	slices.Sort(subs)
	return subs
}

// githubTrustPolicy lets GitHub's OIDC tokens for sts.amazonaws.com with one of the
// subjects assume the role. StringLike makes a tag pattern such as v* work; branch
// names cannot contain its wildcards, so for them it is an exact match.
func githubTrustPolicy(in *kit.Inputs) string {
	return kit.PolicyDoc(kit.Stmt{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": oidcProviderARN(in)},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string]any{
			"StringEquals": {GithubOIDCHost + ":aud": STSAudience},
			"StringLike":   {GithubOIDCHost + ":sub": githubSubjects(in)},
		},
	})
}

// deployPolicy is least privilege for `fvdeploy deploy`, and no more: push to this
// app's ECR repository, register task definitions of this environment's family, roll
// this service onto one of them, hand ECS exactly the service's own two roles, and read
// what deploy reads on the way (the repository, the execution role, the service, its
// deployments and stopped tasks). cmd/fvdeploy's TestDeployRoleSufficesForDeploy proves
// it sufficient by evaluating every call deploy makes against it. Reading and writing
// the S3 state (and its lock) is not in it: fvdeploy does not know where CI keeps its
// state; grant that on the state prefix alongside.
func deployPolicy(in *kit.Inputs, deps engine.Deps, _ string) (string, bool) {
	svc, cluster, exec, task := deps.Get(kit.KeyService), deps.Get(kit.KeyCluster), deps.Get(kit.KeyExecRole), deps.Get(kit.KeyTaskRole)
	if svc == nil || cluster == nil || exec == nil || task == nil || svc.ARN == "" || cluster.ARN == "" || exec.ARN == "" || task.ARN == "" {
		return "", false
	}
	partition := kit.AWSPartition(in.Region)
	repo := fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, in.Region, in.Account, in.Config.ImageRepository())
	taskDefs := fmt.Sprintf("arn:%s:ecs:%s:%s:task-definition/%s:*", partition, in.Region, in.Account, kit.TaskFamily(in))
	tasks := fmt.Sprintf("arn:%s:ecs:%s:%s:task/%s/*", partition, in.Region, in.Account, cluster.ID)
	// arn:…:service/<cluster>/<service> -> arn:…:service-deployment/<cluster>/<service>/*
	serviceDeployments := strings.Replace(svc.ARN, ":service/", ":service-deployment/", 1) + "/*"
	return kit.PolicyDoc(
		// GetAuthorizationToken has no resource-level permissions: AWS requires "*".
		kit.Stmt{Sid: "ECRToken", Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
		// The registry calls of a docker push (layers, manifest) and of checking whether
		// the commit's image is there already.
		kit.Stmt{Sid: "PushImage", Effect: "Allow", Action: []string{
			"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload",
			"ecr:PutImage", "ecr:UploadLayerPart",
		}, Resource: []string{repo}},
		// The image phase finds the repository and checks its settings; it may not change them.
		kit.Stmt{Sid: "ReadRepository", Effect: "Allow", Action: []string{
			"ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource",
		}, Resource: []string{repo}},
		// DescribeTaskDefinition has no resource-level permissions: AWS requires "*".
		kit.Stmt{Sid: "ReadTaskDefinitions", Effect: "Allow", Action: []string{"ecs:DescribeTaskDefinition"}, Resource: []string{"*"}},
		kit.Stmt{Sid: "RegisterTaskDefinitions", Effect: "Allow", Action: []string{"ecs:RegisterTaskDefinition"}, Resource: []string{taskDefs}},
		// Registering a tagged task definition needs TagResource on it, and only then.
		kit.Stmt{Sid: "TagTaskDefinitions", Effect: "Allow", Action: []string{"ecs:TagResource"}, Resource: []string{taskDefs},
			Condition: map[string]map[string]any{"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}},
		kit.Stmt{Sid: "ReadService", Effect: "Allow", Action: []string{"ecs:DescribeServices"}, Resource: []string{svc.ARN}},
		// The service may be rolled onto this environment's family only.
		kit.Stmt{Sid: "RollService", Effect: "Allow", Action: []string{"ecs:UpdateService"}, Resource: []string{svc.ARN},
			Condition: map[string]map[string]any{"ArnLike": {"ecs:task-definition": taskDefs}}},
		// The stages of a canary, linear or blue/green rollout.
		kit.Stmt{Sid: "ReadServiceDeployments", Effect: "Allow", Action: []string{"ecs:DescribeServiceDeployments"}, Resource: []string{serviceDeployments}},
		// Stopped-task reasons when a rollout fails. ListTasks has no resource of its own
		// to scope to: "*", held to this cluster by its condition key.
		kit.Stmt{Sid: "ReadTasks", Effect: "Allow", Action: []string{"ecs:DescribeTasks"}, Resource: []string{tasks}},
		kit.Stmt{Sid: "ListTasks", Effect: "Allow", Action: []string{"ecs:ListTasks"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"ArnEquals": {"ecs:cluster": cluster.ARN}}},
		// deploy finds the execution role the task definition names (to notice drift); it
		// may read it, never change it.
		kit.Stmt{Sid: "ReadExecutionRole", Effect: "Allow", Action: []string{"iam:GetRole", "iam:GetRolePolicy"}, Resource: []string{exec.ARN}},
		kit.Stmt{Sid: "PassTaskRoles", Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{exec.ARN, task.ARN},
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
	), true
}

// deployRole is an IAM role like the cluster's, which says, once created, what to put
// into the workflow.
type deployRole struct{ *kinds.Role }

func (r *deployRole) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	rec, err := r.Role.Create(ctx, deps)
	if err != nil {
		return nil, err
	}
	r.In.Progress("GitHub Actions deploy role %s trusts %s. In .github/workflows/deploy.yml, aws-actions/configure-aws-credentials:\n    role-to-assume: %s\n  and let the role read and write your S3 state prefix (see the workflow's comments).",
		rec.ARN, strings.Join(githubSubjects(r.In), ", "), rec.ARN)
	return rec, nil
}

// ---- GitHub's OIDC identity provider ----

type OIDCAPI interface {
	GetOpenIDConnectProvider(ctx context.Context, in *iam.GetOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
	CreateOpenIDConnectProvider(ctx context.Context, in *iam.CreateOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error)
	AddClientIDToOpenIDConnectProvider(ctx context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error)
	TagOpenIDConnectProvider(ctx context.Context, in *iam.TagOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.TagOpenIDConnectProviderOutput, error)
	DeleteOpenIDConnectProvider(ctx context.Context, in *iam.DeleteOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.DeleteOpenIDConnectProviderOutput, error)
	iam.ListRolesAPIClient
}

// OIDCProvider is GitHub's OIDC identity provider. An account has at most one per URL,
// shared by everything that trusts GitHub: one that exists already is used as it is
// (plus the STS audience if it lacks it) and recorded as not owned, so that destroy
// leaves it. One fvdeploy created for this environment is deleted with it, unless
// another role still trusts it.
type OIDCProvider struct {
	In  *kit.Inputs
	API OIDCAPI
}

func (r *OIDCProvider) Key() string         { return KeyOIDCProvider }
func (r *OIDCProvider) Type() string        { return "iam:oidc-provider" }
func (r *OIDCProvider) DependsOn() []string { return nil }

// owned says whether tags show that fvdeploy created the provider for this environment.
func (r *OIDCProvider) owned(have map[string]string) bool {
	return r.In.Owns(KeyOIDCProvider, have)
}

func (r *OIDCProvider) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	arn := cmp.Or(kit.RecARN(rec), oidcProviderARN(r.In))
	out, err := r.API.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading OIDC provider %s: %w", arn, err)
	}
	have := kit.TagMap(out.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value })
	owned := r.owned(have)
	found := &engine.Found{Record: state.Resource{ID: GithubOIDCHost, ARN: arn, Attrs: map[string]string{"owned": fmt.Sprint(owned)}}}
	if !slices.Contains(out.ClientIDList, STSAudience) {
		found.Changes = append(found.Changes, engine.Change{Field: "client_ids", From: strings.Join(out.ClientIDList, ","), To: strings.Join(append(out.ClientIDList, STSAudience), ",")})
	}
	// Tags are fixed only on a provider of fvdeploy's; a shared one keeps its own.
	if from, to, drift := kit.TagDrift(r.In.Tags(KeyOIDCProvider), have); owned && drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *OIDCProvider) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	// No thumbprints: IAM trusts GitHub's certificate authority by itself.
	out, err := r.API.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url:          aws.String("https://" + GithubOIDCHost),
		ClientIDList: []string{STSAudience},
		Tags:         kit.IAMTags(r.In.Tags(KeyOIDCProvider)),
	})
	if kit.ErrorCode(err) == "EntityAlreadyExists" {
		// Created meanwhile by someone else: use it, not owned.
		found, ferr := r.Find(ctx, nil, nil)
		if ferr != nil || found == nil {
			return nil, fmt.Errorf("creating OIDC provider %s: %w", GithubOIDCHost, err)
		}
		return r.Update(ctx, nil, found)
	}
	if err != nil {
		return nil, fmt.Errorf("creating OIDC provider %s: %w", GithubOIDCHost, err)
	}
	return &state.Resource{ID: GithubOIDCHost, ARN: aws.ToString(out.OpenIDConnectProviderArn), Attrs: map[string]string{"owned": "true"}}, nil
}

func (r *OIDCProvider) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "client_ids":
			_, err = r.API.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: arn, ClientID: aws.String(STSAudience)})
		case "tags":
			_, err = r.API.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: arn, Tags: kit.IAMTags(r.In.Tags(KeyOIDCProvider))})
		}
		if err != nil {
			return nil, fmt.Errorf("updating %s of OIDC provider %s: %w", c.Field, found.Record.ARN, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes the provider only when fvdeploy created it for this environment and no
// role trusts it any more (another environment's deploy role may).
func (r *OIDCProvider) Delete(ctx context.Context, rec *state.Resource) error {
	if rec.Attrs["owned"] != "true" {
		r.In.Progress("left OIDC provider %s in place: fvdeploy did not create it for %s", rec.ARN, r.In.Prefix())
		return nil
	}
	users, err := r.trustedBy(ctx, rec.ARN)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		r.In.Progress("left OIDC provider %s in place: roles %s still trust it", rec.ARN, strings.Join(users, ", "))
		return nil
	}
	if _, err := r.API.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(rec.ARN)}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting OIDC provider %s: %w", rec.ARN, err)
	}
	return nil
}

// trustedBy lists the roles whose trust policy names the provider.
func (r *OIDCProvider) trustedBy(ctx context.Context, arn string) ([]string, error) {
	var users []string
	p := iam.NewListRolesPaginator(r.API, &iam.ListRolesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the roles that may trust OIDC provider %s: %w", arn, err)
		}
		for _, role := range page.Roles {
			doc, err := kit.DecodePolicy(aws.ToString(role.AssumeRolePolicyDocument))
			if err == nil && strings.Contains(doc, `"`+arn+`"`) {
				users = append(users, aws.ToString(role.RoleName))
			}
		}
	}
	return users, nil
}
