package kinds

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
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

// InlinePolicyName is the one inline policy fvdeploy manages on a role.
const InlinePolicyName = "fvdeploy"

// Role is an IAM role with a trust policy and, optionally, the inline policy
// "fvdeploy". Both IAM role keys share this type (and so the Deleter): Delete works from
// the record alone.
type Role struct {
	In                *kit.Inputs
	API               roleAPI
	ResourceKey, Name string
	Description       string
	Trust             string
	Deps              []string
	// Policy renders the inline policy from the dependencies' records; ok is false
	// while one of them does not exist yet. repo is the ECR repository ARN to grant
	// pulls from ("" for none). A "" document means the role should have none (one left
	// by an earlier config is removed); a nil policy leaves the inline policy alone.
	Policy func(in *kit.Inputs, deps engine.Deps, repo string) (doc string, ok bool)
}

func (r *Role) Key() string { return r.ResourceKey }

func (r *Role) Type() string { return "iam:role" }

func (r *Role) DependsOn() []string { return r.Deps }

const FieldTrustPolicy = "trust_policy"

const fieldInlinePolicy = "inline_policy"

func (r *Role) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	// Role names are unique in the account: the name is the lookup.
	name := cmp.Or(kit.RecID(rec), r.Name)
	out, err := r.API.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading IAM role %s: %w", name, err)
	}
	have := kit.TagMap(out.Role.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value })
	if err := r.In.Claim(rec, "IAM role", name, r.ResourceKey, have); err != nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: name, ARN: aws.ToString(out.Role.Arn)}}
	if d, err := kit.ResourcePolicyDiff(aws.ToString(out.Role.AssumeRolePolicyDocument), r.Trust); err != nil {
		return nil, fmt.Errorf("reading the trust policy of IAM role %s: %w", name, err)
	} else if d != nil {
		d.Field = FieldTrustPolicy
		found.Changes = append(found.Changes, *d)
	}
	if r.Policy != nil {
		live, err := r.inlinePolicy(ctx, name)
		if err != nil {
			return nil, err
		}
		// With no image given, the repository stays the one the live policy grants: a
		// plain `up` keeps what runs.
		image := r.In.ResolvedImage(deps)
		repo := kit.ECRRepositoryARN(image.URI, r.In.Account)
		if !image.Known() {
			repo = grantedRepository(live)
		}
		want, ok := r.Policy(r.In, deps, repo)
		if !ok {
			return nil, nil
		}
		switch {
		case live == "" && want == "":
		case live == "":
			found.Changes = append(found.Changes, engine.Change{Field: fieldInlinePolicy, From: kit.NoPolicy, To: want})
		case want == "":
			found.Changes = append(found.Changes, engine.Change{Field: fieldInlinePolicy, From: live, To: kit.NoPolicy})
		default:
			d, err := kit.PolicyDiff(live, want)
			if err != nil {
				return nil, fmt.Errorf("reading policy %s of IAM role %s: %w", InlinePolicyName, name, err)
			}
			if d != nil {
				d.Field = fieldInlinePolicy
				found.Changes = append(found.Changes, *d)
			}
		}
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(r.ResourceKey), have); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

// inlinePolicy is the live document of the role's fvdeploy policy, "" when it has none.
func (r *Role) inlinePolicy(ctx context.Context, name string) (string, error) {
	out, err := r.API.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(InlinePolicyName)})
	if kit.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading policy %s of IAM role %s: %w", InlinePolicyName, name, err)
	}
	return kit.DecodePolicy(aws.ToString(out.PolicyDocument))
}

func (r *Role) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	var policy string
	if r.Policy != nil {
		var ok bool
		if policy, ok = r.Policy(r.In, deps, kit.ECRRepositoryARN(r.In.ResolvedImage(deps).URI, r.In.Account)); !ok {
			return nil, fmt.Errorf("IAM role %s: a resource its policy names does not exist", r.Name)
		}
	}
	out, err := r.API.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(r.Name),
		AssumeRolePolicyDocument: aws.String(r.Trust),
		Description:              aws.String(r.Description),
		Tags:                     kit.IAMTags(r.In.Tags(r.ResourceKey)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating IAM role %s: %w", r.Name, err)
	}
	if policy != "" {
		if err := r.putPolicy(ctx, r.Name, policy); err != nil {
			return nil, err
		}
	}
	return &state.Resource{ID: r.Name, ARN: aws.ToString(out.Role.Arn)}, nil
}

func (r *Role) putPolicy(ctx context.Context, name, doc string) error {
	if _, err := r.API.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(InlinePolicyName), PolicyDocument: aws.String(doc)}); err != nil {
		return fmt.Errorf("putting policy %s on IAM role %s: %w", InlinePolicyName, name, err)
	}
	return nil
}

func (r *Role) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		switch c.Field {
		case FieldTrustPolicy:
			if _, err := r.API.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(r.Trust)}); err != nil {
				return nil, fmt.Errorf("updating the trust policy of IAM role %s: %w", name, err)
			}
		case fieldInlinePolicy:
			if c.To == kit.NoPolicy {
				if _, err := r.API.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(InlinePolicyName)}); err != nil && !kit.IsNotFound(err) {
					return nil, fmt.Errorf("deleting policy %s of IAM role %s: %w", InlinePolicyName, name, err)
				}
				continue
			}
			// c.To is the document Find rendered, the one the plan showed.
			if err := r.putPolicy(ctx, name, c.To); err != nil {
				return nil, err
			}
		case "tags":
			if _, err := r.API.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(name), Tags: kit.IAMTags(r.In.Tags(r.ResourceKey))}); err != nil {
				return nil, fmt.Errorf("tagging IAM role %s: %w", name, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete removes what IAM requires gone before a role can be deleted (inline policies,
// attached managed ones, whoever added them), then the role.
func (r *Role) Delete(ctx context.Context, rec *state.Resource) error {
	name := aws.String(rec.ID)
	inline := iam.NewListRolePoliciesPaginator(r.API, &iam.ListRolePoliciesInput{RoleName: name})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if kit.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the inline policies of IAM role %s: %w", rec.ID, err)
		}
		for _, p := range page.PolicyNames {
			if _, err := r.API.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: aws.String(p)}); err != nil && !kit.IsNotFound(err) {
				return fmt.Errorf("deleting policy %s of IAM role %s: %w", p, rec.ID, err)
			}
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(r.API, &iam.ListAttachedRolePoliciesInput{RoleName: name})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if kit.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the managed policies attached to IAM role %s: %w", rec.ID, err)
		}
		for _, p := range page.AttachedPolicies {
			if _, err := r.API.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: name, PolicyArn: p.PolicyArn}); err != nil && !kit.IsNotFound(err) {
				return fmt.Errorf("detaching policy %s from IAM role %s: %w", aws.ToString(p.PolicyArn), rec.ID, err)
			}
		}
	}
	if _, err := r.API.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting IAM role %s: %w", rec.ID, err)
	}
	return nil
}

// Statement IDs of the execution policy; grantedRepository reads the ECR one back.
const SidECRPull = "PullImage"

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
		if s.Sid != SidECRPull {
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
