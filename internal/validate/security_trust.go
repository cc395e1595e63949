package validate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// sendsSourceARN are the service principals AWS documents as putting aws:SourceArn in
// the request when they assume a role, so a trust policy can pin them to this
// environment's resources. ECS (its own infrastructure role) and Lambda (execution roles)
// are documented with aws:SourceAccount only, which every service statement must have (a
// source ARN, where a trust policy has one, must still be this account's).
var sendsSourceARN = []string{"ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"}

func auditTrustConditions(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: roles trusted by an AWS service require aws:SourceAccount (and aws:SourceArn where sent)"
	if len(d.Roles) == 0 {
		return skip(name, "no IAM role in state")
	}
	const fix = "condition each service statement of the role's trust policy on aws:SourceAccount = the account and aws:SourceArn = this environment's resources (confused deputy): run `fvdeploy up`"
	var findings, trusted []string
	for _, role := range d.Roles {
		out, err := api.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
		if err != nil {
			return fail(name, "check the credentials' iam:GetRole permission, or run `fvdeploy up` if the role was deleted", "reading role %s: %v", role, err)
		}
		doc, err := parsePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument))
		if err != nil {
			return fail(name, fix, "trust policy of %s: %v", role, err)
		}
		for _, s := range doc.Statement {
			services := s.principals("Service")
			if s.Effect != "Allow" || len(services) == 0 {
				continue
			}
			trusted = append(trusted, role)
			findings = append(findings, trustFindings(role, s, services, d.Account)...)
		}
	}
	if len(findings) > 0 {
		return fail(name, fix, "%s", strings.Join(findings, "; "))
	}
	if len(trusted) == 0 {
		return skip(name, "none of the %d role(s) in state is assumed by an AWS service", len(d.Roles))
	}
	return pass(name, "%s: every service statement pinned to account %s", strings.Join(slices.Compact(trusted), ", "), d.Account)
}

// trustFindings says what one Allow statement for services lacks.
func trustFindings(role string, s statement, services []string, account string) []string {
	var out []string
	who := fmt.Sprintf("%s trusts %s", role, strings.Join(services, ", "))
	switch accounts := s.condition("aws:SourceAccount", stringOps...); {
	case len(accounts) == 0:
		out = append(out, who+" without aws:SourceAccount")
	case slices.ContainsFunc(accounts, func(a string) bool { return a != account }):
		out = append(out, fmt.Sprintf("%s with aws:SourceAccount %s (want %s)", who, strings.Join(accounts, ", "), account))
	}
	arns := s.condition("aws:SourceArn", arnOps...)
	if len(arns) == 0 && slices.ContainsFunc(services, func(svc string) bool { return slices.Contains(sendsSourceARN, svc) }) {
		return append(out, who+" without aws:SourceArn")
	}
	for _, a := range arns {
		// arn:partition:service:region:account:resource: the account field must be ours,
		// not a wildcard.
		if f := strings.SplitN(a, ":", 6); len(f) < 6 || f[4] != account {
			out = append(out, fmt.Sprintf("%s with aws:SourceArn %s, outside account %s", who, a, account))
		}
	}
	return out
}
