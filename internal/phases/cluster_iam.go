package phases

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type roleAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, opts ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, opts ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	TagRole(ctx context.Context, in *iam.TagRoleInput, opts ...func(*iam.Options)) (*iam.TagRoleOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, opts ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, opts ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// noPolicy stands for a role without fvdeploy's inline policy in a change.
const noPolicy = "(none)"

// inlinePolicyName is the one inline policy fvdeploy manages on a role.
const inlinePolicyName = "fvdeploy"

// role is an IAM role with a trust policy and, optionally, the inline policy
// "fvdeploy". Both IAM role keys share this type (and so the Deleter): Delete works from
// the record alone.
type role struct {
	in          *Inputs
	api         roleAPI
	key, name   string
	description string
	trust       string
	deps        []string
	// policy renders the inline policy from the dependencies' records; ok is false
	// while one of them does not exist yet. repo is the ECR repository ARN to grant
	// pulls from ("" for none). A "" document means the role should have none (one left
	// by an earlier config is removed); a nil policy leaves the inline policy alone.
	policy func(in *Inputs, deps engine.Deps, repo string) (doc string, ok bool)
}

func (r *role) Key() string         { return r.key }
func (r *role) Type() string        { return "iam:role" }
func (r *role) DependsOn() []string { return r.deps }

// Changes a role can have; Update applies each change's To.
const (
	fieldTrustPolicy  = "trust_policy"
	fieldInlinePolicy = "inline_policy"
)

func (r *role) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	// Role names are unique in the account: the name is the lookup.
	name := cmp.Or(recID(rec), r.name)
	out, err := r.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading IAM role %s: %w", name, err)
	}
	have := tagMap(out.Role.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := r.in.claim(rec, "IAM role", name, r.key, have); err != nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: name, ARN: aws.ToString(out.Role.Arn)}}
	if d, err := resourcePolicyDiff(aws.ToString(out.Role.AssumeRolePolicyDocument), r.trust); err != nil {
		return nil, fmt.Errorf("reading the trust policy of IAM role %s: %w", name, err)
	} else if d != nil {
		d.Field = fieldTrustPolicy
		found.Changes = append(found.Changes, *d)
	}
	if r.policy != nil {
		live, err := r.inlinePolicy(ctx, name)
		if err != nil {
			return nil, err
		}
		// With no image given, the repository stays the one the live policy grants: a
		// plain `up` keeps what runs.
		image := r.in.image(deps)
		repo := ecrRepositoryARN(image.URI, r.in.Account)
		if !image.Known() {
			repo = grantedRepository(live)
		}
		want, ok := r.policy(r.in, deps, repo)
		if !ok {
			return nil, nil
		}
		switch {
		case live == "" && want == "":
		case live == "":
			found.Changes = append(found.Changes, engine.Change{Field: fieldInlinePolicy, From: noPolicy, To: want})
		case want == "":
			found.Changes = append(found.Changes, engine.Change{Field: fieldInlinePolicy, From: live, To: noPolicy})
		default:
			d, err := policyDiff(live, want)
			if err != nil {
				return nil, fmt.Errorf("reading policy %s of IAM role %s: %w", inlinePolicyName, name, err)
			}
			if d != nil {
				d.Field = fieldInlinePolicy
				found.Changes = append(found.Changes, *d)
			}
		}
	}
	if from, to, drift := tagDrift(r.in.tags(r.key), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

// inlinePolicy is the live document of the role's fvdeploy policy, "" when it has none.
func (r *role) inlinePolicy(ctx context.Context, name string) (string, error) {
	out, err := r.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(inlinePolicyName)})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading policy %s of IAM role %s: %w", inlinePolicyName, name, err)
	}
	return decodePolicy(aws.ToString(out.PolicyDocument))
}

func (r *role) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	var policy string
	if r.policy != nil {
		var ok bool
		if policy, ok = r.policy(r.in, deps, ecrRepositoryARN(r.in.image(deps).URI, r.in.Account)); !ok {
			return nil, fmt.Errorf("IAM role %s: a resource its policy names does not exist", r.name)
		}
	}
	out, err := r.api.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(r.name),
		AssumeRolePolicyDocument: aws.String(r.trust),
		Description:              aws.String(r.description),
		Tags:                     iamTags(r.in.tags(r.key)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating IAM role %s: %w", r.name, err)
	}
	if policy != "" {
		if err := r.putPolicy(ctx, r.name, policy); err != nil {
			return nil, err
		}
	}
	return &state.Resource{ID: r.name, ARN: aws.ToString(out.Role.Arn)}, nil
}

func (r *role) putPolicy(ctx context.Context, name, doc string) error {
	if _, err := r.api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(inlinePolicyName), PolicyDocument: aws.String(doc)}); err != nil {
		return fmt.Errorf("putting policy %s on IAM role %s: %w", inlinePolicyName, name, err)
	}
	return nil
}

func (r *role) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		switch c.Field {
		case fieldTrustPolicy:
			if _, err := r.api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(r.trust)}); err != nil {
				return nil, fmt.Errorf("updating the trust policy of IAM role %s: %w", name, err)
			}
		case fieldInlinePolicy:
			if c.To == noPolicy {
				if _, err := r.api.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(inlinePolicyName)}); err != nil && !isNotFound(err) {
					return nil, fmt.Errorf("deleting policy %s of IAM role %s: %w", inlinePolicyName, name, err)
				}
				continue
			}
			// c.To is the document Find rendered, the one the plan showed.
			if err := r.putPolicy(ctx, name, c.To); err != nil {
				return nil, err
			}
		case "tags":
			if _, err := r.api.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(name), Tags: iamTags(r.in.tags(r.key))}); err != nil {
				return nil, fmt.Errorf("tagging IAM role %s: %w", name, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete removes what IAM requires gone before a role can be deleted (inline policies,
// attached managed ones, whoever added them), then the role.
func (r *role) Delete(ctx context.Context, rec *state.Resource) error {
	name := aws.String(rec.ID)
	inline := iam.NewListRolePoliciesPaginator(r.api, &iam.ListRolePoliciesInput{RoleName: name})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the inline policies of IAM role %s: %w", rec.ID, err)
		}
		for _, p := range page.PolicyNames {
			if _, err := r.api.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: aws.String(p)}); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting policy %s of IAM role %s: %w", p, rec.ID, err)
			}
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(r.api, &iam.ListAttachedRolePoliciesInput{RoleName: name})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the managed policies attached to IAM role %s: %w", rec.ID, err)
		}
		for _, p := range page.AttachedPolicies {
			if _, err := r.api.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: name, PolicyArn: p.PolicyArn}); err != nil && !isNotFound(err) {
				return fmt.Errorf("detaching policy %s from IAM role %s: %w", aws.ToString(p.PolicyArn), rec.ID, err)
			}
		}
	}
	if _, err := r.api.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting IAM role %s: %w", rec.ID, err)
	}
	return nil
}

func iamTags(tags map[string]string) []iamtypes.Tag {
	return tagList(tags, func(k, v *string) iamtypes.Tag { return iamtypes.Tag{Key: k, Value: v} })
}

// ---- policy documents ----

// taskPolicy is what the application's own task role may do: nothing, unless tracing is
// on, when its collector sidecar sends trace segments to X-Ray (these two actions have
// no resource-level permissions, so "*" is the only form).
func taskPolicy(in *Inputs, _ engine.Deps, _ string) (string, bool) {
	if !in.Config.Observability.Tracing {
		return "", true
	}
	return policyJSON(policyStatement{Sid: "XRayTraces", Effect: "Allow",
		Action: []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, Resource: []string{"*"}}), true
}

// Statement IDs of the execution policy; grantedRepository reads the ECR one back.
const sidECRPull = "PullImage"

// executionPolicy is least privilege for the ECS agent starting a task: an ECR token,
// pulls from the image's own repository (when it is this account's), log writes to
// the service's group, and reading exactly the admin secret and the secrets
// service.secrets names.
func executionPolicy(in *Inputs, deps engine.Deps, repo string) (string, bool) {
	secret, logs := deps.Get(keySecretAdmin), deps.Get(keyLogGroup)
	if secret == nil || logs == nil || secret.ARN == "" {
		return "", false
	}
	logARN := logs.ARN
	if logARN == "" {
		logARN = logGroupARN(in, logs.ID)
	}
	stmts := []policyStatement{
		// GetAuthorizationToken has no resource-level permissions: "*" is the only form.
		{Sid: "ECRToken", Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
	}
	if repo != "" {
		stmts = append(stmts, policyStatement{Sid: sidECRPull, Effect: "Allow",
			Action:   []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
			Resource: []string{repo}})
	}
	stmts = append(stmts,
		policyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logARN + ":*"}},
		policyStatement{Sid: "ReadAdminSecret", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{secret.ARN}},
	)
	var named []string
	for _, key := range secretRefKeys(in) {
		rec := deps.Get(key)
		if rec == nil || rec.ARN == "" {
			return "", false
		}
		if !slices.Contains(named, rec.ARN) {
			named = append(named, rec.ARN)
		}
	}
	if len(named) > 0 {
		// The full ARNs found, random suffix and all: IAM matches them exactly. A secret
		// under a customer KMS key also needs kms:Decrypt for this role in the key's
		// policy, which is the key owner's to grant.
		stmts = append(stmts, policyStatement{Sid: "ReadServiceSecrets", Effect: "Allow",
			Action: []string{"secretsmanager:GetSecretValue"}, Resource: slices.Sorted(slices.Values(named))})
	}
	return policyJSON(stmts...), true
}

var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// ecrRepositoryARN is the ARN of the ECR repository an image URI points into
// (<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]), or "" when the image is
// not in this account's ECR (another registry needs no ECR permissions).
func ecrRepositoryARN(image, account string) string {
	host, path, ok := strings.Cut(image, "/")
	if !ok {
		return ""
	}
	m := ecrHost.FindStringSubmatch(host)
	if m == nil || m[1] != account {
		return ""
	}
	repo, _, _ := strings.Cut(path, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if repo == "" {
		return ""
	}
	partition := "aws"
	if m[3] != "" {
		partition = "aws-cn"
	} else if strings.HasPrefix(m[2], "us-gov-") {
		partition = "aws-us-gov"
	}
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, m[2], m[1], repo)
}

// grantedRepository is the repository the live execution policy lets tasks pull from.
func grantedRepository(doc string) string {
	var p struct {
		Statement []struct {
			Sid      string
			Resource any
		}
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return ""
	}
	for _, s := range p.Statement {
		if s.Sid != sidECRPull {
			continue
		}
		switch v := s.Resource.(type) {
		case string:
			return v
		case []any:
			if len(v) == 1 {
				s, _ := v[0].(string)
				return s
			}
		}
	}
	return ""
}
