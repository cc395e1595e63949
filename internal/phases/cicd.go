package phases

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
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The cicd phase's keys.
const (
	keyOIDCProvider = "cicd/oidc-provider"
	keyDeployRole   = "cicd/deploy-role"
)

const (
	githubOIDCHost = "token.actions.githubusercontent.com"
	// stsAudience is the audience aws-actions/configure-aws-credentials asks GitHub for.
	stsAudience = "sts.amazonaws.com"
)

// cicdPhase says what the cicd phase is.
func cicdPhase() Phase {
	return Phase{Name: "cicd", Summary: "GitHub OIDC provider and the deploy role (when cicd.github_repo is set)", Resources: declareCICD, EveryKind: cicdResources}
}

// declareCICD is the cicd phase: GitHub's OIDC identity provider and the role that
// GitHub Actions runs of the configured repository's branches and tags assume to run
// `fvdeploy deploy`. Nothing without cicd.github_repo.
func declareCICD(in *Inputs) ([]engine.Resource, error) {
	if in.Config.CICD.GitHubRepo == "" {
		return nil, nil
	}
	iamc := in.AWS.IAM()
	return []engine.Resource{
		&oidcProvider{in: in, api: iamc},
		&deployRole{role: &role{
			in: in, api: iamc, key: keyDeployRole, name: deployRoleName(in), trust: githubTrustPolicy(in),
			deps:   []string{keyOIDCProvider, keyCluster, keyService, keyExecRole, keyTaskRole},
			policy: deployPolicy,
			description: "GitHub Actions of " + in.Config.CICD.GitHubRepo + " deploying " + in.prefix() +
				" with fvdeploy deploy: push the image, register a task definition, roll the service",
		}},
	}, nil
}

// cicdResources is one resource of every type the phase declares, for destroy once
// cicd.github_repo is unset.
func cicdResources(in *Inputs) []engine.Resource {
	return []engine.Resource{&oidcProvider{in: in, api: in.AWS.IAM()}, &role{in: in, api: in.AWS.IAM()}}
}

func deployRoleName(in *Inputs) string { return boundedName(in.prefix()+"-deploy", 64) }

func oidcProviderARN(in *Inputs) string {
	return fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", awsPartition(in.Region), in.Account, githubOIDCHost)
}

// githubSubjects are the OIDC subjects the deploy role trusts: pushes to the configured
// branches and tags of the configured repository, nothing else (no pull requests, no
// other branch, no fork).
func githubSubjects(in *Inputs) []string {
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
func githubTrustPolicy(in *Inputs) string {
	return policyDoc(stmt{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": oidcProviderARN(in)},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string]any{
			"StringEquals": {githubOIDCHost + ":aud": stsAudience},
			"StringLike":   {githubOIDCHost + ":sub": githubSubjects(in)},
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
func deployPolicy(in *Inputs, deps engine.Deps, _ string) (string, bool) {
	svc, cluster, exec, task := deps.Get(keyService), deps.Get(keyCluster), deps.Get(keyExecRole), deps.Get(keyTaskRole)
	if svc == nil || cluster == nil || exec == nil || task == nil || svc.ARN == "" || cluster.ARN == "" || exec.ARN == "" || task.ARN == "" {
		return "", false
	}
	partition := awsPartition(in.Region)
	repo := fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, in.Region, in.Account, in.Config.ImageRepository())
	taskDefs := fmt.Sprintf("arn:%s:ecs:%s:%s:task-definition/%s:*", partition, in.Region, in.Account, taskFamily(in))
	tasks := fmt.Sprintf("arn:%s:ecs:%s:%s:task/%s/*", partition, in.Region, in.Account, cluster.ID)
	// arn:…:service/<cluster>/<service> -> arn:…:service-deployment/<cluster>/<service>/*
	serviceDeployments := strings.Replace(svc.ARN, ":service/", ":service-deployment/", 1) + "/*"
	return policyDoc(
		// GetAuthorizationToken has no resource-level permissions: AWS requires "*".
		stmt{Sid: "ECRToken", Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
		// The registry calls of a docker push (layers, manifest) and of checking whether
		// the commit's image is there already.
		stmt{Sid: "PushImage", Effect: "Allow", Action: []string{
			"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload",
			"ecr:PutImage", "ecr:UploadLayerPart",
		}, Resource: []string{repo}},
		// The image phase finds the repository and checks its settings; it may not change them.
		stmt{Sid: "ReadRepository", Effect: "Allow", Action: []string{
			"ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource",
		}, Resource: []string{repo}},
		// DescribeTaskDefinition has no resource-level permissions: AWS requires "*".
		stmt{Sid: "ReadTaskDefinitions", Effect: "Allow", Action: []string{"ecs:DescribeTaskDefinition"}, Resource: []string{"*"}},
		stmt{Sid: "RegisterTaskDefinitions", Effect: "Allow", Action: []string{"ecs:RegisterTaskDefinition"}, Resource: []string{taskDefs}},
		// Registering a tagged task definition needs TagResource on it, and only then.
		stmt{Sid: "TagTaskDefinitions", Effect: "Allow", Action: []string{"ecs:TagResource"}, Resource: []string{taskDefs},
			Condition: map[string]map[string]any{"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}},
		stmt{Sid: "ReadService", Effect: "Allow", Action: []string{"ecs:DescribeServices"}, Resource: []string{svc.ARN}},
		// The service may be rolled onto this environment's family only.
		stmt{Sid: "RollService", Effect: "Allow", Action: []string{"ecs:UpdateService"}, Resource: []string{svc.ARN},
			Condition: map[string]map[string]any{"ArnLike": {"ecs:task-definition": taskDefs}}},
		// The stages of a canary, linear or blue/green rollout.
		stmt{Sid: "ReadServiceDeployments", Effect: "Allow", Action: []string{"ecs:DescribeServiceDeployments"}, Resource: []string{serviceDeployments}},
		// Stopped-task reasons when a rollout fails. ListTasks has no resource of its own
		// to scope to: "*", held to this cluster by its condition key.
		stmt{Sid: "ReadTasks", Effect: "Allow", Action: []string{"ecs:DescribeTasks"}, Resource: []string{tasks}},
		stmt{Sid: "ListTasks", Effect: "Allow", Action: []string{"ecs:ListTasks"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"ArnEquals": {"ecs:cluster": cluster.ARN}}},
		// deploy finds the execution role the task definition names (to notice drift); it
		// may read it, never change it.
		stmt{Sid: "ReadExecutionRole", Effect: "Allow", Action: []string{"iam:GetRole", "iam:GetRolePolicy"}, Resource: []string{exec.ARN}},
		stmt{Sid: "PassTaskRoles", Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{exec.ARN, task.ARN},
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
	), true
}

// deployRole is an IAM role like the cluster's, which says, once created, what to put
// into the workflow.
type deployRole struct{ *role }

func (r *deployRole) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	rec, err := r.role.Create(ctx, deps)
	if err != nil {
		return nil, err
	}
	r.in.Progress("GitHub Actions deploy role %s trusts %s. In .github/workflows/deploy.yml, aws-actions/configure-aws-credentials:\n    role-to-assume: %s\n  and let the role read and write your S3 state prefix (see the workflow's comments).",
		rec.ARN, strings.Join(githubSubjects(r.in), ", "), rec.ARN)
	return rec, nil
}

// ---- GitHub's OIDC identity provider ----

type oidcAPI interface {
	GetOpenIDConnectProvider(ctx context.Context, in *iam.GetOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
	CreateOpenIDConnectProvider(ctx context.Context, in *iam.CreateOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error)
	AddClientIDToOpenIDConnectProvider(ctx context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error)
	TagOpenIDConnectProvider(ctx context.Context, in *iam.TagOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.TagOpenIDConnectProviderOutput, error)
	DeleteOpenIDConnectProvider(ctx context.Context, in *iam.DeleteOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.DeleteOpenIDConnectProviderOutput, error)
	iam.ListRolesAPIClient
}

// oidcProvider is GitHub's OIDC identity provider. An account has at most one per URL,
// shared by everything that trusts GitHub: one that exists already is used as it is
// (plus the STS audience if it lacks it) and recorded as not owned, so that destroy
// leaves it. One fvdeploy created for this environment is deleted with it, unless
// another role still trusts it.
type oidcProvider struct {
	in  *Inputs
	api oidcAPI
}

func (r *oidcProvider) Key() string         { return keyOIDCProvider }
func (r *oidcProvider) Type() string        { return "iam:oidc-provider" }
func (r *oidcProvider) DependsOn() []string { return nil }

// owned says whether tags show that fvdeploy created the provider for this environment.
func (r *oidcProvider) owned(have map[string]string) bool {
	return r.in.owns(keyOIDCProvider, have)
}

func (r *oidcProvider) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	arn := cmp.Or(recARN(rec), oidcProviderARN(r.in))
	out, err := r.api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading OIDC provider %s: %w", arn, err)
	}
	have := tagMap(out.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value })
	owned := r.owned(have)
	found := &engine.Found{Record: state.Resource{ID: githubOIDCHost, ARN: arn, Attrs: map[string]string{"owned": fmt.Sprint(owned)}}}
	if !slices.Contains(out.ClientIDList, stsAudience) {
		found.Changes = append(found.Changes, engine.Change{Field: "client_ids", From: strings.Join(out.ClientIDList, ","), To: strings.Join(append(out.ClientIDList, stsAudience), ",")})
	}
	// Tags are fixed only on a provider of fvdeploy's; a shared one keeps its own.
	if from, to, drift := tagDrift(r.in.tags(keyOIDCProvider), have); owned && drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *oidcProvider) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	// No thumbprints: IAM trusts GitHub's certificate authority by itself.
	out, err := r.api.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url:          aws.String("https://" + githubOIDCHost),
		ClientIDList: []string{stsAudience},
		Tags:         iamTags(r.in.tags(keyOIDCProvider)),
	})
	if errorCode(err) == "EntityAlreadyExists" {
		// Created meanwhile by someone else: use it, not owned.
		found, ferr := r.Find(ctx, nil, nil)
		if ferr != nil || found == nil {
			return nil, fmt.Errorf("creating OIDC provider %s: %w", githubOIDCHost, err)
		}
		return r.Update(ctx, nil, found)
	}
	if err != nil {
		return nil, fmt.Errorf("creating OIDC provider %s: %w", githubOIDCHost, err)
	}
	return &state.Resource{ID: githubOIDCHost, ARN: aws.ToString(out.OpenIDConnectProviderArn), Attrs: map[string]string{"owned": "true"}}, nil
}

func (r *oidcProvider) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := aws.String(found.Record.ARN)
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "client_ids":
			_, err = r.api.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: arn, ClientID: aws.String(stsAudience)})
		case "tags":
			_, err = r.api.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: arn, Tags: iamTags(r.in.tags(keyOIDCProvider))})
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
func (r *oidcProvider) Delete(ctx context.Context, rec *state.Resource) error {
	if rec.Attrs["owned"] != "true" {
		r.in.Progress("left OIDC provider %s in place: fvdeploy did not create it for %s", rec.ARN, r.in.prefix())
		return nil
	}
	users, err := r.trustedBy(ctx, rec.ARN)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		r.in.Progress("left OIDC provider %s in place: roles %s still trust it", rec.ARN, strings.Join(users, ", "))
		return nil
	}
	if _, err := r.api.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(rec.ARN)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting OIDC provider %s: %w", rec.ARN, err)
	}
	return nil
}

// trustedBy lists the roles whose trust policy names the provider.
func (r *oidcProvider) trustedBy(ctx context.Context, arn string) ([]string, error) {
	var users []string
	p := iam.NewListRolesPaginator(r.api, &iam.ListRolesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the roles that may trust OIDC provider %s: %w", arn, err)
		}
		for _, role := range page.Roles {
			doc, err := decodePolicy(aws.ToString(role.AssumeRolePolicyDocument))
			if err == nil && strings.Contains(doc, `"`+arn+`"`) {
				users = append(users, aws.ToString(role.RoleName))
			}
		}
	}
	return users, nil
}
