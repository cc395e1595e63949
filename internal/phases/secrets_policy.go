package phases

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// The resource policy of each secret fvdeploy creates is made of Deny statements only:
// what may be done is still granted by identity policies (the execution role's own
// GetSecretValue, an administrator's), but no identity policy, however broad, lets anyone
// else read, change or manage the secret. Principals are named by aws:PrincipalArn, which
// for an assumed role is the role's ARN: role ARNs follow from names, so the policy needs
// nothing from another phase.

// fieldResourcePolicy is the change of a secret whose resource policy differs.
const fieldResourcePolicy = "resource_policy"

// The actions each Deny covers. Describe, GetResourcePolicy and ListSecretVersionIds stay
// with IAM: they reveal no value, and a principal the policy leaves out can still see why.
var (
	secretReadActions   = []string{"secretsmanager:GetSecretValue"}
	secretWriteActions  = []string{"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
	secretManageActions = []string{
		"secretsmanager:CancelRotateSecret", "secretsmanager:DeleteResourcePolicy", "secretsmanager:DeleteSecret",
		"secretsmanager:PutResourcePolicy", "secretsmanager:RemoveRegionsFromReplication", "secretsmanager:ReplicateSecretToRegions",
		"secretsmanager:RestoreSecret", "secretsmanager:RotateSecret", "secretsmanager:StopReplicationToReplica",
		"secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret",
	}
)

// secretAccess names who may do what with one secret, beyond its managers.
type secretAccess struct {
	// Readers may read the value (the execution role, a function's role).
	Readers []string
	// Writers may read it and store new versions (a rotation function's role).
	Writers []string
}

// secretPolicy is the resource policy of a secret fvdeploy creates: only readers (and
// writers) read its value, only writers store new values, and only the managers do
// anything else; the managers may do all of it.
func secretPolicy(in *Inputs, access secretAccess) string {
	managers := secretManagers(in)
	readers := sortedUnique(slices.Concat(access.Readers, access.Writers, managers))
	writers := sortedUnique(slices.Concat(access.Writers, managers))
	deny := func(sid string, actions, except []string) stmt {
		return stmt{Sid: sid, Effect: "Deny", Principal: "*", Action: actions, Resource: []string{"*"},
			Condition: map[string]map[string]any{"ArnNotLike": {"aws:PrincipalArn": except}}}
	}
	return policyDoc(
		deny("DenyReadingButReaders", secretReadActions, readers),
		deny("DenyWritingButWriters", secretWriteActions, writers),
		deny("DenyManagingButManagers", secretManageActions, managers),
	)
}

// secretManagers are the principals that keep every right on the secrets: the account
// root, secrets.managers, and the principal running fvdeploy unless a pattern already
// covers it (so that a team listing its deployers gets one policy, whoever runs up).
func secretManagers(in *Inputs) []string {
	out := append([]string{fmt.Sprintf("arn:%s:iam::%s:root", awsPartition(in.Region), in.Account)}, in.Config.Secrets.Managers...)
	caller := principalARNs(in.Caller)
	covered := len(caller) > 0 && slices.ContainsFunc(out, func(p string) bool { return arnLike(p, caller[0]) })
	if !covered {
		out = append(out, caller...)
	}
	return sortedUnique(out)
}

// assumedRole is an STS session ARN: arn:<partition>:sts::<account>:assumed-role/<role>/<session>.
var assumedRole = regexp.MustCompile(`^arn:([a-z-]+):sts::(\d{12}):assumed-role/([^/]+)/`)

// principalARNs are the aws:PrincipalArn values a caller's ARN (from
// sts:GetCallerIdentity) can stand for. A session of a role is its role, whose ARN has
// the role's path, which the session ARN drops: the role with no path, and with any path
// (role names are unique in an account, whatever the path). Other callers (users, the
// root, federated users) are their own ARN.
func principalARNs(caller string) []string {
	if caller == "" {
		return nil
	}
	if m := assumedRole.FindStringSubmatch(caller); m != nil {
		base := fmt.Sprintf("arn:%s:iam::%s:role/", m[1], m[2])
		return []string{base + m[3], base + "*/" + m[3]}
	}
	return []string{caller}
}

// arnLike reports whether value matches pattern as IAM's ArnLike does: * is any run of
// characters, ? any one.
func arnLike(pattern, value string) bool {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	ok, _ := regexp.MatchString(b.String(), value)
	return ok
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// roleARN is the ARN of the role fvdeploy names name (created without a path).
func roleARN(in *Inputs, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", awsPartition(in.Region), in.Account, name)
}

type secretPolicyAPI interface {
	GetResourcePolicy(ctx context.Context, in *secretsmanager.GetResourcePolicyInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
	PutResourcePolicy(ctx context.Context, in *secretsmanager.PutResourcePolicyInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error)
}

// secretPolicyDrift is the change that brings the secret's live resource policy to want;
// nil when it is in line.
func secretPolicyDrift(ctx context.Context, api secretPolicyAPI, arn, want string) (*engine.Change, error) {
	out, err := api.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading the resource policy of secret %s: %w", arn, err)
	}
	live := aws.ToString(out.ResourcePolicy)
	if live == "" {
		return &engine.Change{Field: fieldResourcePolicy, From: noPolicy, To: want}, nil
	}
	d, err := resourcePolicyDiff(live, want)
	if err != nil || d == nil {
		return nil, err
	}
	d.Field = fieldResourcePolicy
	return d, nil
}

// putSecretPolicy sets the secret's resource policy, refused by Secrets Manager if it
// would grant access to anyone outside the account.
func putSecretPolicy(ctx context.Context, api secretPolicyAPI, arn, policy string) error {
	_, err := api.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{
		SecretId: aws.String(arn), ResourcePolicy: aws.String(policy), BlockPublicPolicy: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("setting the resource policy of secret %s: %w%s", arn, err, DeniedBySecretPolicy(err))
	}
	return nil
}

// DeniedBySecretPolicy is what to do when err is an access denial, which on a secret
// fvdeploy made is most likely its own resource policy leaving the caller out; "" for
// any other error.
func DeniedBySecretPolicy(err error) string {
	if errorCode(err) != "AccessDeniedException" {
		return ""
	}
	return " (the secret's resource policy lets only the account root, secrets.managers and the principal that last ran `up` manage it: add yours to secrets.managers and have one of them run `fvdeploy up`)"
}

// adminSecretAccess is who uses the admin secret: the execution role reads it for the
// tasks, and with rotation on, the rotation function's role stores new values.
func adminSecretAccess(in *Inputs) secretAccess {
	a := secretAccess{Readers: []string{roleARN(in, execRoleName(in))}}
	if rotationOn(in) {
		a.Writers = []string{roleARN(in, rotationRoleName(in))}
	}
	return a
}

// webhookSecretAccess is who uses the chat webhook's secret: the relay function's role.
func webhookSecretAccess(in *Inputs) secretAccess {
	return secretAccess{Readers: []string{roleARN(in, chatRelayRoleName(in))}}
}

// The names the cluster and observability phases give these roles (a test holds them to
// the declared ones).
func execRoleName(in *Inputs) string      { return boundedName(in.prefix()+"-exec", 64) }
func chatRelayRoleName(in *Inputs) string { return boundedName(in.prefix()+"-chat-relay", 64) }
func rotationRoleName(in *Inputs) string  { return boundedName(in.prefix()+"-secret-rotation", 64) }
