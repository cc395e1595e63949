package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// SecurityAPIs are the reads the audit makes.
type SecurityAPIs struct {
	EC2 interface {
		DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
		DescribeNetworkAcls(ctx context.Context, in *ec2.DescribeNetworkAclsInput, opts ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
		DescribeFlowLogs(ctx context.Context, in *ec2.DescribeFlowLogsInput, opts ...func(*ec2.Options)) (*ec2.DescribeFlowLogsOutput, error)
	}
	ELB interface {
		DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
		DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2.DescribeLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancerAttributesOutput, error)
	}
	ECS interface {
		ServiceAPI
		DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	IAM interface {
		GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
		ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
		GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
		ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	}
	ECR interface {
		DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	}
	Secrets interface {
		GetResourcePolicy(ctx context.Context, in *secretsmanager.GetResourcePolicyInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
		DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	}
	S3 interface {
		GetBucketOwnershipControls(ctx context.Context, in *s3.GetBucketOwnershipControlsInput, opts ...func(*s3.Options)) (*s3.GetBucketOwnershipControlsOutput, error)
		GetPublicAccessBlock(ctx context.Context, in *s3.GetPublicAccessBlockInput, opts ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
		GetBucketPolicy(ctx context.Context, in *s3.GetBucketPolicyInput, opts ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
		GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, opts ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	}
	Logs interface {
		DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	}
	CloudTrail interface {
		GetTrail(ctx context.Context, in *cloudtrail.GetTrailInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailOutput, error)
	}
}

// AuditConfig is what the configuration says the audit should find: some properties
// apply only when a switch is on.
type AuditConfig struct {
	ContainerPort int
	// RotationDays is secrets.rotation_days: 0 means no rotation is expected.
	RotationDays int
	// FlowLogs is network.flow_logs.
	FlowLogs bool
	// KMSKeyID is observability.kms_key_id; a key fvdeploy created is read from state.
	KMSKeyID string
}

// Audit reads the deployed configuration from AWS (not fvdeploy's intent) and reports
// each security property as a check; a failed one says what to change. A property that
// does not apply (no TLS without a domain, no bucket with its features off) is skipped
// and says why: it is never reported as passed.
func Audit(ctx context.Context, api SecurityAPIs, d phases.Deployed, cfg AuditConfig) []Check {
	return []Check{
		auditPublicIP(ctx, api, d),
		auditECSIngress(ctx, api, d, cfg.ContainerPort),
		auditOpenIngress(ctx, api, d),
		auditDefaultSG(ctx, api, d),
		auditNetworkACLs(ctx, api, d),
		auditFlowLogs(ctx, api, d, cfg.FlowLogs),
		auditTLSPolicy(ctx, api, d),
		auditRedirect(ctx, api, d),
		auditTrustConditions(ctx, api, d),
		auditSecretGrant(ctx, api, d),
		auditSecretPolicies(ctx, api, d),
		auditRotation(ctx, api, d, cfg.RotationDays),
		auditPlainCredentials(ctx, api, d),
		auditScanOnPush(ctx, api, d),
		auditInvalidHeaders(ctx, api, d),
		auditBuckets(ctx, api, d),
		auditLogEncryption(ctx, api, d, cfg.KMSKeyID),
	}
}

func auditPublicIP(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: tasks get no public IP"
	if d.Service == "" {
		return fail(name, "run `fvdeploy up`", "state records no ECS service")
	}
	svc, err := describeService(ctx, api.ECS, d.Cluster, d.Service)
	if err != nil {
		return fail(name, "check the credentials' ecs:DescribeServices permission", "%v", err)
	}
	if svc.NetworkConfiguration == nil || svc.NetworkConfiguration.AwsvpcConfiguration == nil {
		return fail(name, "run `fvdeploy up` to restore the service's network configuration", "service %s has no awsvpc configuration", d.Service)
	}
	if ip := svc.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp; ip != ecstypes.AssignPublicIpDisabled {
		return fail(name, "set assignPublicIp to DISABLED (tasks reach out through the NAT gateways): run `fvdeploy up`", "service %s has assignPublicIp %s", d.Service, ip)
	}
	return pass(name, "service %s: assignPublicIp DISABLED", d.Service)
}

func describeGroups(ctx context.Context, api SecurityAPIs, in *ec2.DescribeSecurityGroupsInput) ([]ec2types.SecurityGroup, error) {
	var out []ec2types.SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(api.EC2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing security groups: %w", err)
		}
		out = append(out, page.SecurityGroups...)
	}
	return out, nil
}

func portRange(p ec2types.IpPermission) string {
	proto := aws.ToString(p.IpProtocol)
	if proto == "-1" {
		return "all traffic"
	}
	from, to := aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
	if from == to {
		return fmt.Sprintf("%s %d", proto, from)
	}
	return fmt.Sprintf("%s %d-%d", proto, from, to)
}

func auditECSIngress(ctx context.Context, api SecurityAPIs, d phases.Deployed, port int) Check {
	name := fmt.Sprintf("security: SG-ECS admits only SG-ALB, on port %d", port)
	if d.SGECS == "" {
		return fail(name, "run `fvdeploy up`", "state records no SG-ECS")
	}
	groups, err := describeGroups(ctx, api, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{d.SGECS}})
	if err != nil || len(groups) == 0 {
		return fail(name, "check the credentials' ec2:DescribeSecurityGroups permission, or run `fvdeploy up` if the group was deleted", "SG-ECS %s: %v", d.SGECS, err)
	}
	var extra []string
	fromALB := false
	for _, p := range groups[0].IpPermissions {
		onPort := aws.ToString(p.IpProtocol) == "tcp" && aws.ToInt32(p.FromPort) == int32(port) && aws.ToInt32(p.ToPort) == int32(port)
		for _, pair := range p.UserIdGroupPairs {
			if onPort && aws.ToString(pair.GroupId) == d.SGALB {
				fromALB = true
				continue
			}
			extra = append(extra, fmt.Sprintf("%s from %s", portRange(p), aws.ToString(pair.GroupId)))
		}
		for _, r := range p.IpRanges {
			extra = append(extra, fmt.Sprintf("%s from %s", portRange(p), aws.ToString(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			extra = append(extra, fmt.Sprintf("%s from %s", portRange(p), aws.ToString(r.CidrIpv6)))
		}
		for _, r := range p.PrefixListIds {
			extra = append(extra, fmt.Sprintf("%s from %s", portRange(p), aws.ToString(r.PrefixListId)))
		}
	}
	switch {
	case len(extra) > 0:
		return fail(name, fmt.Sprintf("remove these ingress rules from %s (aws ec2 revoke-security-group-ingress --group-id %s ...): only SG-ALB may reach the tasks", d.SGECS, d.SGECS),
			"%s also admits: %s", d.SGECS, strings.Join(extra, "; "))
	case !fromALB:
		return fail(name, "run `fvdeploy up` to restore the rule from SG-ALB", "%s has no rule admitting %s on tcp %d", d.SGECS, d.SGALB, port)
	}
	return pass(name, "%s admits tcp %d from %s only", d.SGECS, port, d.SGALB)
}

func auditOpenIngress(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: no security group admits 0.0.0.0/0 or ::/0 except SG-ALB on 80/443"
	if d.VPC == "" {
		return fail(name, "run `fvdeploy up`", "state records no VPC")
	}
	groups, err := describeGroups(ctx, api, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{d.VPC}}}})
	if err != nil {
		return fail(name, "check the credentials' ec2:DescribeSecurityGroups permission", "%v", err)
	}
	var findings []string
	for _, g := range groups {
		id := aws.ToString(g.GroupId)
		for _, p := range g.IpPermissions {
			open := slices.ContainsFunc(p.IpRanges, func(r ec2types.IpRange) bool { return aws.ToString(r.CidrIp) == "0.0.0.0/0" }) ||
				slices.ContainsFunc(p.Ipv6Ranges, func(r ec2types.Ipv6Range) bool { return aws.ToString(r.CidrIpv6) == "::/0" })
			if !open {
				continue
			}
			web := aws.ToString(p.IpProtocol) == "tcp" && aws.ToInt32(p.FromPort) == aws.ToInt32(p.ToPort) &&
				(aws.ToInt32(p.FromPort) == 80 || aws.ToInt32(p.FromPort) == 443)
			if id == d.SGALB && web {
				continue
			}
			findings = append(findings, fmt.Sprintf("%s (%s) admits the internet on %s", id, aws.ToString(g.GroupName), portRange(p)))
		}
	}
	if len(findings) > 0 {
		return fail(name, "revoke those rules (aws ec2 revoke-security-group-ingress --group-id ID --ip-permissions ...); the internet reaches the service only through the ALB on 80/443",
			"%s", strings.Join(findings, "; "))
	}
	return pass(name, "%d group(s) in %s: only SG-ALB is open, on 80/443", len(groups), d.VPC)
}

func listener(ctx context.Context, api SecurityAPIs, arn string) (*elbtypes.Listener, error) {
	out, err := api.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{arn}})
	if err != nil {
		return nil, fmt.Errorf("describing listener %s: %w", arn, err)
	}
	if len(out.Listeners) == 0 {
		return nil, fmt.Errorf("listener %s not found", arn)
	}
	return &out.Listeners[0], nil
}

func auditTLSPolicy(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: the HTTPS listener uses a current TLS policy"
	if d.ListenerHTTPS == "" {
		return skip(name, "no HTTPS listener (set edge.domain to put TLS in front)")
	}
	l, err := listener(ctx, api, d.ListenerHTTPS)
	if err != nil {
		return fail(name, "run `fvdeploy up` to restore the edge phase", "%v", err)
	}
	if p := aws.ToString(l.SslPolicy); !config.CurrentTLSPolicy(p) {
		return fail(name, "set edge.tls_policy to a policy the config accepts (TLS 1.2 or later) and run `fvdeploy up`", "listener uses %s, which the config does not accept", p)
	}
	return pass(name, "%s", aws.ToString(l.SslPolicy))
}

func auditRedirect(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: port 80 redirects to HTTPS when TLS is on"
	if d.ListenerHTTPS == "" {
		return skip(name, "no HTTPS listener")
	}
	if d.ListenerHTTP == "" {
		return fail(name, "run `fvdeploy up`", "state records no port 80 listener")
	}
	l, err := listener(ctx, api, d.ListenerHTTP)
	if err != nil {
		return fail(name, "run `fvdeploy up` to restore the port 80 listener", "%v", err)
	}
	for _, a := range l.DefaultActions {
		if a.Type == elbtypes.ActionTypeEnumRedirect && a.RedirectConfig != nil && aws.ToString(a.RedirectConfig.Protocol) == "HTTPS" {
			return pass(name, "port 80 answers %s to HTTPS", a.RedirectConfig.StatusCode)
		}
	}
	return fail(name, "the port 80 listener must redirect to 443: run `fvdeploy up` (the edge phase sets it)", "port 80's default action is not a redirect to HTTPS")
}

// policyDoc is the part of an IAM policy the audit reads; Action and Resource may each
// be a string or a list.
type policyDoc struct {
	Statement []struct {
		Effect   string
		Action   any
		Resource any
	}
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// readsSecrets reports whether an IAM action pattern can read a secret's value.
func readsSecrets(action string) bool {
	a := strings.ToLower(action)
	return a == "*" || a == "secretsmanager:*" || a == "secretsmanager:getsecretvalue" || a == "secretsmanager:get*"
}

func auditSecretGrant(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: the execution role reads only this environment's secret"
	if d.ExecutionRole == "" || d.Secret == "" {
		return fail(name, "run `fvdeploy up`", "state records no execution role or secret")
	}
	role := aws.String(d.ExecutionRole)
	var findings []string
	names, err := api.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: role})
	if err != nil {
		return fail(name, "check the credentials' iam:ListRolePolicies permission", "listing the inline policies of %s: %v", d.ExecutionRole, err)
	}
	for _, pn := range names.PolicyNames {
		out, err := api.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: role, PolicyName: aws.String(pn)})
		if err != nil {
			return fail(name, "check the credentials' iam:GetRolePolicy permission", "reading policy %s of %s: %v", pn, d.ExecutionRole, err)
		}
		raw, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
		if err != nil {
			raw = aws.ToString(out.PolicyDocument)
		}
		var doc policyDoc
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			return fail(name, "", "policy %s of %s is not JSON: %v", pn, d.ExecutionRole, err)
		}
		for _, s := range doc.Statement {
			if s.Effect != "Allow" || !slices.ContainsFunc(strs(s.Action), readsSecrets) {
				continue
			}
			for _, r := range strs(s.Resource) {
				if r != d.Secret {
					findings = append(findings, fmt.Sprintf("inline policy %s lets it read secrets on %s", pn, r))
				}
			}
		}
	}
	attached, err := api.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role})
	if err != nil {
		return fail(name, "check the credentials' iam:ListAttachedRolePolicies permission", "listing the managed policies of %s: %v", d.ExecutionRole, err)
	}
	broad := regexp.MustCompile(`(?i)secretsmanager|administratoraccess|poweruseraccess`)
	for _, p := range attached.AttachedPolicies {
		if broad.MatchString(aws.ToString(p.PolicyName)) {
			findings = append(findings, "managed policy "+aws.ToString(p.PolicyName)+" is attached")
		}
	}
	if len(findings) > 0 {
		return fail(name, fmt.Sprintf("remove those grants from role %s: it needs secretsmanager:GetSecretValue on %s only (`fvdeploy up` restores its policy; detach managed policies by hand)", d.ExecutionRole, d.Secret),
			"%s", strings.Join(findings, "; "))
	}
	return pass(name, "%s reads %s and no other secret", d.ExecutionRole, d.Secret)
}

// credentialName is an environment variable name that suggests a credential.
var credentialName = regexp.MustCompile(`(?i)pass|secret|token|credential|private|api_?key|^admin_user$`)

func auditPlainCredentials(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: the task definition carries no plain credential"
	if d.TaskDefinition == "" {
		return fail(name, "run `fvdeploy up`", "state records no task definition")
	}
	out, err := api.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(d.TaskDefinition)})
	if err != nil {
		return fail(name, "check the credentials' ecs:DescribeTaskDefinition permission", "describing %s: %v", revision(d.TaskDefinition), err)
	}
	var findings []string
	fromSecrets := 0
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		for _, kv := range c.Environment {
			if credentialName.MatchString(aws.ToString(kv.Name)) {
				findings = append(findings, fmt.Sprintf("container %s sets %s in plain environment", aws.ToString(c.Name), aws.ToString(kv.Name)))
			}
		}
		fromSecrets += len(c.Secrets)
	}
	if len(findings) > 0 {
		return fail(name, "pass credentials as secrets (valueFrom a Secrets Manager ARN), never in environment: run `fvdeploy up` to register a clean revision",
			"%s", strings.Join(findings, "; "))
	}
	return pass(name, "%s: no credential-like variable in environment; %d value(s) from secrets", revision(d.TaskDefinition), fromSecrets)
}

func auditScanOnPush(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: ECR scans images on push"
	if d.Repository == "" {
		return skip(name, "no ECR repository in state (the image was given with --image)")
	}
	out, err := api.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{d.Repository}})
	if err != nil || len(out.Repositories) == 0 {
		return fail(name, "check the credentials' ecr:DescribeRepositories permission, or run `fvdeploy up` if the repository was deleted", "repository %s: %v", d.Repository, err)
	}
	if sc := out.Repositories[0].ImageScanningConfiguration; sc == nil || !sc.ScanOnPush {
		return fail(name, "turn scan on push on: run `fvdeploy up` (the image phase sets it)", "repository %s has scan on push off", d.Repository)
	}
	return pass(name, "repository %s: scan on push on", d.Repository)
}

func auditInvalidHeaders(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: the ALB drops invalid header fields"
	const attr = "routing.http.drop_invalid_header_fields.enabled"
	if d.LoadBalancer == "" {
		return fail(name, "run `fvdeploy up`", "state records no load balancer")
	}
	out, err := api.ELB.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(d.LoadBalancer)})
	if err != nil {
		return fail(name, "check the credentials' elasticloadbalancing:DescribeLoadBalancerAttributes permission", "%v", err)
	}
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attr && aws.ToString(a.Value) == "true" {
			return pass(name, "%s = true", attr)
		}
	}
	return fail(name, "set "+attr+" to true (request smuggling): run `fvdeploy up`", "%s is not true", attr)
}
