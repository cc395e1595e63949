package kinds

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// The resource policy of each secret fvdeploy creates is made of Deny statements only:
// what may be done is still granted by identity policies (the execution role's own
// GetSecretValue, an administrator's), but no identity policy, however broad, lets anyone
// else read, change or manage the secret. Principals are named by aws:PrincipalArn, which
// for an assumed role is the role's ARN: role ARNs follow from names, so the policy needs
// nothing from another phase.

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

// SecretAccess names who may do what with one secret, beyond its managers.
type SecretAccess struct {
	// Readers may read the value (the execution role, a function's role).
	Readers []string
	// Writers may read it and store new versions (a rotation function's role).
	Writers []string
}

// secretManagers are the principals that keep every right on the secrets: the account
// root, secrets.managers, and the principal running fvdeploy unless a pattern already
// covers it (so that a team listing its deployers gets one policy, whoever runs up).
func secretManagers(in *kit.Inputs) []string {
	out := append([]string{fmt.Sprintf("arn:%s:iam::%s:root", kit.AWSPartition(in.Region), in.Account)}, in.Config.Secrets.Managers...)
	caller := PrincipalARNs(in.Caller)
	covered := len(caller) > 0 && slices.ContainsFunc(out, func(p string) bool { return ARNLike(p, caller[0]) })
	if !covered {
		out = append(out, caller...)
	}
	return sortedUnique(out)
}

// assumedRole is an STS session ARN: arn:<partition>:sts::<account>:assumed-role/<role>/<session>.
var assumedRole = regexp.MustCompile(`^arn:([a-z-]+):sts::(\d{12}):assumed-role/([^/]+)/`)

// PrincipalARNs are the aws:PrincipalArn values a caller's ARN (from
// sts:GetCallerIdentity) can stand for. A session of a role is its role, whose ARN has
// the role's path, which the session ARN drops: the role with no path, and with any path
// (role names are unique in an account, whatever the path). Other callers (users, the
// root, federated users) are their own ARN.
func PrincipalARNs(caller string) []string {
	if caller == "" {
		return nil
	}
	if m := assumedRole.FindStringSubmatch(caller); m != nil {
		base := fmt.Sprintf("arn:%s:iam::%s:role/", m[1], m[2])
		return []string{base + m[3], base + "*/" + m[3]}
	}
	return []string{caller}
}

// ARNLike reports whether value matches pattern as IAM's ArnLike does: * is any run of
// characters, ? any one.
func ARNLike(pattern, value string) bool {
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

// RoleARN is the ARN of the role fvdeploy names name (created without a path).
func RoleARN(in *kit.Inputs, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", kit.AWSPartition(in.Region), in.Account, name)
}

// DeniedBySecretPolicy is what to do when err is an access denial, which on a secret
// fvdeploy made is most likely its own resource policy leaving the caller out; "" for
// any other error.
func DeniedBySecretPolicy(err error) string {
	if kit.ErrorCode(err) != "AccessDeniedException" {
		return ""
	}
	return " (the secret's resource policy lets only the account root, secrets.managers and the principal that last ran `up` manage it: add yours to secrets.managers and have one of them run `fvdeploy up`)"
}

// AdminSecretAccess is who uses the admin secret: the execution role reads it for the
// tasks, and with rotation on, the rotation function's role stores new values.
func AdminSecretAccess(in *kit.Inputs) SecretAccess {
	a := SecretAccess{Readers: []string{RoleARN(in, ExecRoleName(in))}}
	if kit.RotationOn(in) {
		a.Writers = []string{RoleARN(in, kit.RotationRoleName(in))}
	}
	return a
}

// The names the cluster and observability phases give these roles (a test holds them to
// the declared ones).
func ExecRoleName(in *kit.Inputs) string      { return kit.BoundedName(in.Prefix()+"-exec", 64) }
func ChatRelayRoleName(in *kit.Inputs) string { return kit.BoundedName(in.Prefix()+"-chat-relay", 64) }
