package validate

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

const (
	acct      = "123456789012"
	adminARN  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-prod-admin-AbCdEf"
	hookARN   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-prod-chat-webhook-GhIjKl"
	execARN   = "arn:aws:iam::123456789012:role/app-prod-exec"
	keyARN    = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	trailARN  = "arn:aws:cloudtrail:us-east-1:123456789012:trail/app-prod"
	httpsARN  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/app-prod/1/443"
	bucket    = "app-prod-trail-123456789012"
	logGroup  = "/ecs/app-prod"
	sgDefault = "sg-default"
)

// secured is what state records of a prod deployment with every option on.
var secured = phases.Deployed{
	Account: acct, VPC: "vpc-1", Secret: adminARN, ExecutionRoleARN: execARN,
	Roles:         []string{"app-prod-exec", "app-prod-task"},
	PublicSubnets: []string{"subnet-pub-a"}, PrivateSubnets: []string{"subnet-priv-a"},
	Secrets: []string{adminARN, hookARN}, Buckets: []string{bucket}, LogGroups: []string{logGroup},
	KMSKey: keyARN, Trail: trailARN, ListenerHTTPS: httpsARN, ListenerHTTP: "arn:http", Repository: "app",
}

func with(change func(d *phases.Deployed)) phases.Deployed {
	d := secured
	change(&d)
	return d
}

// apis builds every client the audit reads through, each answered by the stub.
func apis(s *testenv.SDKStub) SecurityAPIs {
	opts := []func(*middleware.Stack) error{s.Option}
	return SecurityAPIs{
		EC2: ec2.New(ec2.Options{Region: "us-east-1", APIOptions: opts}),
		ELB: s.ELB(), ECS: s.ECS(), Logs: s.Logs(),
		IAM:        iam.New(iam.Options{Region: "us-east-1", APIOptions: opts}),
		ECR:        ecr.New(ecr.Options{Region: "us-east-1", APIOptions: opts}),
		Secrets:    secretsmanager.New(secretsmanager.Options{Region: "us-east-1", APIOptions: opts}),
		S3:         s3.New(s3.Options{Region: "us-east-1", APIOptions: opts}),
		CloudTrail: cloudtrail.New(cloudtrail.Options{Region: "us-east-1", APIOptions: opts}),
	}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

// auditCase is one check run against canned AWS answers: the status it must end in and a
// piece of its evidence.
type auditCase struct {
	d       phases.Deployed
	answers map[string][]any
	status  string // passed, failed, skipped
	want    string
}

func runAudit(t *testing.T, check func(context.Context, SecurityAPIs, phases.Deployed) Check, cases map[string]auditCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			answers := tc.answers
			if answers == nil {
				answers = map[string][]any{}
			}
			c := check(context.Background(), apis(testenv.NewSDKStub(t, answers)), tc.d)
			if c.Status() != tc.status || !strings.Contains(c.Evidence, tc.want) {
				t.Fatalf("got %s %q, want %s containing %q", c.Status(), c.Evidence, tc.status, tc.want)
			}
			if c.Status() == "failed" && c.Fix == "" {
				t.Errorf("a failed check gives no fix")
			}
			if c.Status() == "skipped" && c.OK {
				t.Errorf("a skipped check reads as OK")
			}
		})
	}
}

func role(trust string) *iam.GetRoleOutput {
	return &iam.GetRoleOutput{Role: &iamtypes.Role{AssumeRolePolicyDocument: aws.String(url.PathEscape(trust))}}
}

// trust is a trust policy for one service principal with the given condition block.
func trust(service, condition string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole"` +
		condition + `}]}`
}

const (
	pinnedECS = `,"Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"},"ArnLike":{"aws:SourceArn":"arn:aws:ecs:us-east-1:123456789012:*"}}`
	accountOK = `,"Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}`
)

func TestAuditTrustConditions(t *testing.T) {
	oidc := `{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
	runAudit(t, auditTrustConditions, map[string]auditCase{
		"pinned to account and ARN": {d: secured, answers: map[string][]any{"GetRole": {role(trust("ecs-tasks.amazonaws.com", pinnedECS))}},
			status: "passed", want: "app-prod-exec, app-prod-task: every service statement pinned to account 123456789012"},
		"source account only where no ARN is sent": {d: with(func(d *phases.Deployed) { d.Roles = []string{"config"} }),
			answers: map[string][]any{"GetRole": {role(trust("config.amazonaws.com", accountOK))}}, status: "passed", want: "config"},
		"a Lambda execution role on its account alone": {d: with(func(d *phases.Deployed) { d.Roles = []string{"app-prod-secret-rotation"} }),
			answers: map[string][]any{"GetRole": {role(trust("lambda.amazonaws.com", accountOK))}}, status: "passed", want: "app-prod-secret-rotation"},
		"a Lambda execution role without its account": {d: with(func(d *phases.Deployed) { d.Roles = []string{"app-prod-secret-rotation"} }),
			answers: map[string][]any{"GetRole": {role(trust("lambda.amazonaws.com", ""))}}, status: "failed", want: "without aws:SourceAccount"},
		"no condition": {d: secured, answers: map[string][]any{"GetRole": {role(trust("ecs-tasks.amazonaws.com", ""))}},
			status: "failed", want: "app-prod-exec trusts ecs-tasks.amazonaws.com without aws:SourceAccount; app-prod-exec trusts ecs-tasks.amazonaws.com without aws:SourceArn"},
		"another account": {d: secured, answers: map[string][]any{"GetRole": {role(trust("lambda.amazonaws.com",
			`,"Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"},"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:123456789012:function:x"}}`))}},
			status: "failed", want: "with aws:SourceAccount 999999999999 (want 123456789012)"},
		"ARN in any account": {d: secured, answers: map[string][]any{"GetRole": {role(trust("ecs.amazonaws.com",
			`,"Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"},"ArnLike":{"aws:SourceArn":"arn:aws:ecs:us-east-1:*:*"}}`))}},
			status: "failed", want: "with aws:SourceArn arn:aws:ecs:us-east-1:*:*, outside account 123456789012"},
		// ...IfExists holds when the key is absent, so it pins nothing.
		"IfExists pins nothing": {d: secured, answers: map[string][]any{"GetRole": {role(trust("vpc-flow-logs.amazonaws.com",
			`,"Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"123456789012"},"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}}`))}},
			status: "failed", want: "without aws:SourceAccount"},
		"one of two roles unpinned": {d: secured, answers: map[string][]any{"GetRole": {role(trust("ecs-tasks.amazonaws.com", pinnedECS)), role(trust("ecs-tasks.amazonaws.com", accountOK))}},
			status: "failed", want: "app-prod-task trusts ecs-tasks.amazonaws.com without aws:SourceArn"},
		"only a federated role": {d: with(func(d *phases.Deployed) { d.Roles = []string{"app-prod-deploy"} }), answers: map[string][]any{"GetRole": {role(oidc)}},
			status: "skipped", want: "none of the 1 role(s) in state is assumed by an AWS service"},
		"no role":       {d: with(func(d *phases.Deployed) { d.Roles = nil }), status: "skipped", want: "no IAM role in state"},
		"role deleted":  {d: secured, answers: map[string][]any{"GetRole": {apiErr("NoSuchEntity")}}, status: "failed", want: "reading role app-prod-exec"},
		"not JSON":      {d: secured, answers: map[string][]any{"GetRole": {role("{")}}, status: "failed", want: "policy is not JSON"},
		"Statement obj": {d: with(func(d *phases.Deployed) { d.Roles = d.Roles[:1] }), answers: map[string][]any{"GetRole": {role(`{"Statement":{"Effect":"Allow","Principal":{"Service":["ecs-tasks.amazonaws.com"]}}}`)}}, status: "failed", want: "without aws:SourceAccount"},
	})
}

func sgs(groups ...ec2types.SecurityGroup) *ec2.DescribeSecurityGroupsOutput {
	return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: groups}
}

func TestAuditDefaultSG(t *testing.T) {
	all := ec2types.IpPermission{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}
	self := ec2types.IpPermission{IpProtocol: aws.String("-1"), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(sgDefault)}}}
	runAudit(t, auditDefaultSG, map[string]auditCase{
		"empty": {d: secured, answers: map[string][]any{"DescribeSecurityGroups": {sgs(ec2types.SecurityGroup{GroupId: aws.String(sgDefault)})}},
			status: "passed", want: "sg-default: no ingress, no egress"},
		"AWS's defaults": {d: secured, answers: map[string][]any{"DescribeSecurityGroups": {sgs(ec2types.SecurityGroup{GroupId: aws.String(sgDefault),
			IpPermissions: []ec2types.IpPermission{self}, IpPermissionsEgress: []ec2types.IpPermission{all}})}},
			status: "failed", want: "sg-default has 2 rule(s): in all traffic from sg-default; out all traffic to 0.0.0.0/0"},
		"not found": {d: secured, answers: map[string][]any{"DescribeSecurityGroups": {sgs()}}, status: "failed", want: "no default security group found in vpc-1"},
		"no VPC":    {d: with(func(d *phases.Deployed) { d.VPC = "" }), status: "failed", want: "state records no VPC"},
	})
}

func entry(num int32, egress bool, action ec2types.RuleAction, proto, cidr string, from, to int32) ec2types.NetworkAclEntry {
	e := ec2types.NetworkAclEntry{RuleNumber: aws.Int32(num), Egress: aws.Bool(egress), RuleAction: action, Protocol: aws.String(proto)}
	if strings.Contains(cidr, ":") {
		e.Ipv6CidrBlock = aws.String(cidr)
	} else {
		e.CidrBlock = aws.String(cidr)
	}
	if proto == protoTCP || proto == protoUDP {
		e.PortRange = &ec2types.PortRange{From: aws.Int32(from), To: aws.Int32(to)}
	}
	return e
}

func acl(id string, isDefault bool, subnet string, entries ...ec2types.NetworkAclEntry) ec2types.NetworkAcl {
	// Every ACL ends with AWS's catch-all deny, which must not count as a finding.
	entries = append(entries, entry(32767, false, ec2types.RuleActionDeny, protoAll, "0.0.0.0/0", 0, 0), entry(32767, true, ec2types.RuleActionDeny, protoAll, "0.0.0.0/0", 0, 0))
	return ec2types.NetworkAcl{NetworkAclId: aws.String(id), IsDefault: aws.Bool(isDefault), Entries: entries,
		Associations: []ec2types.NetworkAclAssociation{{SubnetId: aws.String(subnet)}}}
}

func acls(a ...ec2types.NetworkAcl) *ec2.DescribeNetworkAclsOutput {
	return &ec2.DescribeNetworkAclsOutput{NetworkAcls: a}
}

func TestAuditNetworkACLs(t *testing.T) {
	allow, deny := ec2types.RuleActionAllow, ec2types.RuleActionDeny
	public := acl("acl-pub", false, "subnet-pub-a",
		entry(100, false, allow, protoTCP, "0.0.0.0/0", 443, 443), entry(110, false, allow, protoTCP, "0.0.0.0/0", 80, 80),
		entry(120, false, allow, protoTCP, "0.0.0.0/0", 1024, 65535), entry(130, false, allow, protoTCP, "::/0", 443, 443),
		entry(140, false, allow, protoAll, "10.0.0.0/16", 0, 0), entry(100, true, allow, protoAll, "0.0.0.0/0", 0, 0))
	public.Entries = append(public.Entries, ec2types.NetworkAclEntry{RuleNumber: aws.Int32(150), Egress: aws.Bool(false), RuleAction: allow,
		Protocol: aws.String(protoICMP), CidrBlock: aws.String("0.0.0.0/0"), IcmpTypeCode: &ec2types.IcmpTypeCode{Type: aws.Int32(3), Code: aws.Int32(4)}})
	private := acl("acl-priv", false, "subnet-priv-a", entry(100, false, allow, protoAll, "10.0.0.0/16", 0, 0),
		entry(110, false, allow, protoTCP, "0.0.0.0/0", 1024, 65535), entry(100, true, allow, protoAll, "0.0.0.0/0", 0, 0))
	runAudit(t, auditNetworkACLs, map[string]auditCase{
		"as designed": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(public, private)}},
			status: "passed", want: "1 public and 1 private subnet(s) on their own ACLs"},
		"default ACL": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(public, acl("acl-default", true, "subnet-priv-a",
			entry(100, false, allow, protoAll, "0.0.0.0/0", 0, 0)))}},
			status: "failed", want: "subnet-priv-a uses the VPC's default ACL acl-default"},
		"private open to all": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(public, acl("acl-priv", false, "subnet-priv-a",
			entry(100, false, allow, protoAll, "::/0", 0, 0)))}},
			status: "failed", want: "acl-priv (subnet-priv-a) rule 100 admits all traffic from ::/0"},
		"every tcp port": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(public, acl("acl-priv", false, "subnet-priv-a",
			entry(100, false, allow, protoTCP, "0.0.0.0/0", 0, 65535)))}},
			status: "failed", want: "rule 100 admits every tcp port from 0.0.0.0/0"},
		"ssh on public": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(acl("acl-pub", false, "subnet-pub-a",
			entry(90, false, allow, protoTCP, "0.0.0.0/0", 22, 22)), private)}},
			status: "failed", want: "rule 90 admits tcp 22-22 from 0.0.0.0/0 (want 80, 443 or 1024-65535)"},
		"a deny is no finding": {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(acl("acl-pub", false, "subnet-pub-a",
			entry(90, false, deny, protoTCP, "0.0.0.0/0", 22, 22)), private)}},
			status: "passed", want: "on their own ACLs"},
		"no ACL":    {d: secured, answers: map[string][]any{"DescribeNetworkAcls": {acls(public)}}, status: "failed", want: "subnet-priv-a has no network ACL"},
		"no subnet": {d: with(func(d *phases.Deployed) { d.PublicSubnets, d.PrivateSubnets = nil, nil }), status: "failed", want: "state records no subnet"},
	})
}

func TestAuditFlowLogs(t *testing.T) {
	flow := func(status string) ec2types.FlowLog {
		return ec2types.FlowLog{FlowLogId: aws.String("fl-1"), FlowLogStatus: aws.String(status), TrafficType: ec2types.TrafficTypeAll,
			LogDestinationType: ec2types.LogDestinationTypeCloudWatchLogs, LogGroupName: aws.String("/vpc/app-prod")}
	}
	on := func(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
		return auditFlowLogs(ctx, api, d, true)
	}
	off := func(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
		return auditFlowLogs(ctx, api, d, false)
	}
	runAudit(t, on, map[string]auditCase{
		"active": {d: secured, answers: map[string][]any{"DescribeFlowLogs": {&ec2.DescribeFlowLogsOutput{FlowLogs: []ec2types.FlowLog{flow("ACTIVE")}}}},
			status: "passed", want: "vpc-1: ALL traffic to cloud-watch-logs /vpc/app-prod"},
		"none": {d: secured, answers: map[string][]any{"DescribeFlowLogs": {&ec2.DescribeFlowLogsOutput{}}}, status: "failed", want: "vpc-1 has no flow log"},
		"inactive": {d: secured, answers: map[string][]any{"DescribeFlowLogs": {&ec2.DescribeFlowLogsOutput{FlowLogs: []ec2types.FlowLog{flow("INACTIVE")}}}},
			status: "failed", want: "no active flow log: fl-1 INACTIVE"},
	})
	runAudit(t, off, map[string]auditCase{
		"off": {d: secured, status: "skipped", want: "flow logs off in this environment (network.flow_logs)"},
	})
}

func secretPolicy(doc string) *secretsmanager.GetResourcePolicyOutput {
	return &secretsmanager.GetResourcePolicyOutput{ResourcePolicy: aws.String(doc)}
}

// denyAllBut is a secret policy denying reads to all but the given principal ARNs.
func denyAllBut(arns ...string) string {
	list, _ := json.Marshal(arns)
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*",` +
		`"Condition":{"ArnNotEquals":{"aws:PrincipalArn":` + string(list) + `}}}]}`
}

func TestAuditSecretPolicies(t *testing.T) {
	relay := "arn:aws:iam::123456789012:role/app-prod-chat-relay"
	good := map[string][]any{"GetResourcePolicy": {secretPolicy(denyAllBut(execARN, "arn:aws:iam::123456789012:role/deploy")), secretPolicy(denyAllBut(relay))}}
	runAudit(t, auditSecretPolicies, map[string]auditCase{
		"both denied to others": {d: secured, answers: good, status: "passed", want: "app-prod-admin, app-prod-chat-webhook: reads denied to all but the allowed principals"},
		"wildcard exemption": {d: with(func(d *phases.Deployed) { d.Secrets = d.Secrets[:1] }), answers: map[string][]any{"GetResourcePolicy": {secretPolicy(
			`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"secretsmanager:*","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/app-prod-*"}}}]}`)}},
			status: "passed", want: "app-prod-admin"},
		"no policy": {d: secured, answers: map[string][]any{"GetResourcePolicy": {&secretsmanager.GetResourcePolicyOutput{}, secretPolicy(denyAllBut(relay))}},
			status: "failed", want: "app-prod-admin has no resource policy"},
		"allow only": {d: secured, answers: map[string][]any{"GetResourcePolicy": {secretPolicy(denyAllBut(execARN)),
			secretPolicy(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + relay + `"},"Action":"secretsmanager:GetSecretValue"}]}`)}},
			status: "failed", want: "app-prod-chat-webhook's policy denies secretsmanager:GetSecretValue to no one"},
		"open to all": {d: with(func(d *phases.Deployed) { d.Secrets = d.Secrets[:1] }), answers: map[string][]any{"GetResourcePolicy": {secretPolicy(
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue"},` + strings.TrimPrefix(denyAllBut(execARN), `{"Version":"2012-10-17","Statement":[`))}},
			status: "failed", want: "app-prod-admin's policy allows every principal"},
		"denies everyone": {d: secured, answers: map[string][]any{"GetResourcePolicy": {secretPolicy(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}`), secretPolicy(denyAllBut(relay))}},
			status: "failed", want: "denies reads to every principal, with no exception"},
		"execution role shut out": {d: secured, answers: map[string][]any{"GetResourcePolicy": {secretPolicy(denyAllBut(relay)), secretPolicy(denyAllBut(relay))}},
			status: "failed", want: "app-prod-admin's policy denies reads to the execution role " + execARN + " too"},
		"a deny that misses reads": {d: with(func(d *phases.Deployed) { d.Secrets = d.Secrets[:1] }), answers: map[string][]any{"GetResourcePolicy": {secretPolicy(
			`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:DeleteSecret","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"` + execARN + `"}}}]}`)}},
			status: "failed", want: "denies secretsmanager:GetSecretValue to no one"},
		"none created": {d: with(func(d *phases.Deployed) { d.Secrets = nil }), status: "skipped", want: "no secret created by fvdeploy in state"},
	})
}

func secret(enabled bool, days int64, expr string) *secretsmanager.DescribeSecretOutput {
	out := &secretsmanager.DescribeSecretOutput{RotationEnabled: aws.Bool(enabled), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:app-prod-rotate"),
		RotationRules: &smtypes.RotationRulesType{}}
	if days > 0 {
		out.RotationRules.AutomaticallyAfterDays = aws.Int64(days)
	}
	if expr != "" {
		out.RotationRules.ScheduleExpression = aws.String(expr)
	}
	return out
}

func TestAuditRotation(t *testing.T) {
	within := func(days int) func(context.Context, SecurityAPIs, phases.Deployed) Check {
		return func(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
			return auditRotation(ctx, api, d, days)
		}
	}
	runAudit(t, within(30), map[string]auditCase{
		"every 30 days":  {d: secured, answers: map[string][]any{"DescribeSecret": {secret(true, 30, "")}}, status: "passed", want: "app-prod-admin rotates every 30 days with app-prod-rotate"},
		"rate(7 days)":   {d: secured, answers: map[string][]any{"DescribeSecret": {secret(true, 0, "rate(7 days)")}}, status: "passed", want: "rotates every 7 days"},
		"rate(12 hours)": {d: secured, answers: map[string][]any{"DescribeSecret": {secret(true, 1, "rate(12 hours)")}}, status: "passed", want: "rotates every 0.5 days"},
		"off":            {d: secured, answers: map[string][]any{"DescribeSecret": {secret(false, 0, "")}}, status: "failed", want: "app-prod-admin has rotation off"},
		"too seldom":     {d: secured, answers: map[string][]any{"DescribeSecret": {secret(true, 90, "")}}, status: "failed", want: "rotates every 90 days (want at most 30)"},
		"cron":           {d: secured, answers: map[string][]any{"DescribeSecret": {secret(true, 0, "cron(0 4 ? * SUN *)")}}, status: "failed", want: "which this audit cannot bound"},
		"no secret":      {d: with(func(d *phases.Deployed) { d.Secret = "" }), status: "failed", want: "state records no admin secret"},
	})
	runAudit(t, within(0), map[string]auditCase{
		"rotation off in config": {d: secured, status: "skipped", want: "rotation off in this environment (secrets.rotation_days is 0)"},
	})
}

// trailBucketPolicy is CloudTrail's bucket policy as fvdeploy writes it, with the
// condition on the service statement given.
func trailBucketPolicy(serviceCondition string) *s3.GetBucketPolicyOutput {
	return &s3.GetBucketPolicyOutput{Policy: aws.String(`{"Statement":[
		{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"*"` + serviceCondition + `}]}`)}
}

func bucketAnswers(change func(map[string][]any)) map[string][]any {
	a := map[string][]any{
		"GetBucketOwnershipControls": {&s3.GetBucketOwnershipControlsOutput{OwnershipControls: &s3types.OwnershipControls{
			Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}}}}},
		"GetPublicAccessBlock": {&s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}},
		"GetBucketPolicy":     {trailBucketPolicy(`,"Condition":{"StringEquals":{"aws:SourceArn":"` + trailARN + `"}}`)},
		"GetBucketVersioning": {&s3.GetBucketVersioningOutput{Status: s3types.BucketVersioningStatusEnabled}},
	}
	if change != nil {
		change(a)
	}
	return a
}

func TestAuditBuckets(t *testing.T) {
	set := func(op string, v any) map[string][]any {
		return bucketAnswers(func(a map[string][]any) { a[op] = []any{v} })
	}
	runAudit(t, auditBuckets, map[string]auditCase{
		"locked down": {d: secured, answers: bucketAnswers(nil), status: "passed", want: bucket + ": BucketOwnerEnforced, public access blocked"},
		"source account": {d: secured, answers: set("GetBucketPolicy", trailBucketPolicy(`,"Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}`)),
			status: "passed", want: bucket},
		"no ownership controls": {d: secured, answers: set("GetBucketOwnershipControls", apiErr("OwnershipControlsNotFoundError")), status: "failed", want: bucket + " has no ownership controls"},
		"object writer": {d: secured, answers: set("GetBucketOwnershipControls", &s3.GetBucketOwnershipControlsOutput{OwnershipControls: &s3types.OwnershipControls{
			Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipObjectWriter}}}}), status: "failed", want: "does not enforce BucketOwnerEnforced"},
		"public access block half on": {d: secured, answers: set("GetPublicAccessBlock", &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true)}}), status: "failed", want: "public access block is not all on"},
		"no public access block": {d: secured, answers: set("GetPublicAccessBlock", apiErr("NoSuchPublicAccessBlockConfiguration")), status: "failed", want: "has no public access block"},
		"no policy":              {d: secured, answers: set("GetBucketPolicy", apiErr("NoSuchBucketPolicy")), status: "failed", want: "has no policy (so nothing denies non-TLS requests)"},
		"service unconditioned": {d: secured, answers: set("GetBucketPolicy", trailBucketPolicy("")), status: "failed",
			want: "lets cloudtrail.amazonaws.com in without aws:SourceAccount or aws:SourceArn"},
		"service from another account": {d: secured, answers: set("GetBucketPolicy", trailBucketPolicy(`,"Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}`)), status: "failed",
			want: "for 999999999999, outside account 123456789012"},
		"TLS deny on one action": {d: secured, answers: set("GetBucketPolicy", &s3.GetBucketPolicyOutput{Policy: aws.String(
			`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)}), status: "failed",
			want: "does not deny requests without TLS"},
		"plain HTTP allowed": {d: secured, answers: set("GetBucketPolicy", &s3.GetBucketPolicyOutput{Policy: aws.String(`{"Statement":[]}`)}), status: "failed",
			want: "does not deny requests without TLS"},
		"versioning suspended": {d: secured, answers: set("GetBucketVersioning", &s3.GetBucketVersioningOutput{Status: s3types.BucketVersioningStatusSuspended}), status: "failed",
			want: bucket + " has versioning Suspended"},
		"versioning never on": {d: secured, answers: set("GetBucketVersioning", &s3.GetBucketVersioningOutput{}), status: "failed", want: "versioning never enabled"},
		"read refused":        {d: secured, answers: set("GetBucketPolicy", apiErr("AccessDenied")), status: "failed", want: "reading the policy of " + bucket},
		"no bucket":           {d: with(func(d *phases.Deployed) { d.Buckets = nil }), status: "skipped", want: "no bucket in state"},
	})
}

func logGroups(kms string) *cloudwatchlogs.DescribeLogGroupsOutput {
	g := logtypes.LogGroup{LogGroupName: aws.String(logGroup)}
	if kms != "" {
		g.KmsKeyId = aws.String(kms)
	}
	// A group whose name merely starts with the same prefix is not the one audited.
	return &cloudwatchlogs.DescribeLogGroupsOutput{LogGroups: []logtypes.LogGroup{{LogGroupName: aws.String(logGroup + "-other"), KmsKeyId: aws.String(keyARN)}, g}}
}

func trailOut(kms string) *cloudtrail.GetTrailOutput {
	t := &cttypes.Trail{Name: aws.String("app-prod")}
	if kms != "" {
		t.KmsKeyId = aws.String(kms)
	}
	return &cloudtrail.GetTrailOutput{Trail: t}
}

func TestAuditLogEncryption(t *testing.T) {
	keyed := func(configured string) func(context.Context, SecurityAPIs, phases.Deployed) Check {
		return func(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
			return auditLogEncryption(ctx, api, d, configured)
		}
	}
	runAudit(t, keyed(""), map[string]auditCase{
		"created key, all encrypted": {d: secured, answers: map[string][]any{"DescribeLogGroups": {logGroups(keyARN)}, "GetTrail": {trailOut(keyARN)}},
			status: "passed", want: logGroup + ", trail: encrypted with a KMS key"},
		"log group plain": {d: secured, answers: map[string][]any{"DescribeLogGroups": {logGroups("")}, "GetTrail": {trailOut(keyARN)}},
			status: "failed", want: "log group " + logGroup + " is not encrypted with a KMS key"},
		"trail plain": {d: secured, answers: map[string][]any{"DescribeLogGroups": {logGroups(keyARN)}, "GetTrail": {trailOut("")}},
			status: "failed", want: "trail " + trailARN + " has no KmsKeyId"},
		"log group gone": {d: secured, answers: map[string][]any{"DescribeLogGroups": {&cloudwatchlogs.DescribeLogGroupsOutput{}}, "GetTrail": {trailOut(keyARN)}},
			status: "failed", want: "log group " + logGroup + " not found"},
		"no key": {d: with(func(d *phases.Deployed) { d.KMSKey = "" }), status: "skipped", want: "no KMS key configured (observability.kms_key_id) or created by fvdeploy"},
	})
	runAudit(t, keyed("alias/team"), map[string]auditCase{
		"configured key, no trail": {d: with(func(d *phases.Deployed) { d.KMSKey, d.Trail = "", "" }), answers: map[string][]any{"DescribeLogGroups": {logGroups(keyARN)}},
			status: "passed", want: logGroup + ": encrypted"},
		"configured key, nothing to encrypt": {d: with(func(d *phases.Deployed) { d.LogGroups, d.Trail = nil, "" }), status: "skipped", want: "no log group or trail in state"},
	})
}

func TestAuditTLSAndSkips(t *testing.T) {
	listenerOut := func(policy string) *elbv2.DescribeListenersOutput {
		return &elbv2.DescribeListenersOutput{Listeners: []elbtypes.Listener{{ListenerArn: aws.String(httpsARN), SslPolicy: aws.String(policy)}}}
	}
	runAudit(t, auditTLSPolicy, map[string]auditCase{
		"current":      {d: secured, answers: map[string][]any{"DescribeListeners": {listenerOut("ELBSecurityPolicy-TLS13-1-2-2021-06")}}, status: "passed", want: "ELBSecurityPolicy-TLS13-1-2-2021-06"},
		"post-quantum": {d: secured, answers: map[string][]any{"DescribeListeners": {listenerOut("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09")}}, status: "passed", want: "PQ-2025-09"},
		"TLS 1.0":      {d: secured, answers: map[string][]any{"DescribeListeners": {listenerOut("ELBSecurityPolicy-2016-08")}}, status: "failed", want: "listener uses ELBSecurityPolicy-2016-08"},
		"no domain":    {d: with(func(d *phases.Deployed) { d.ListenerHTTPS = "" }), status: "skipped", want: "no HTTPS listener"},
	})
	runAudit(t, auditRedirect, map[string]auditCase{
		"no domain": {d: with(func(d *phases.Deployed) { d.ListenerHTTPS = "" }), status: "skipped", want: "no HTTPS listener"},
	})
	runAudit(t, auditScanOnPush, map[string]auditCase{
		"--image": {d: with(func(d *phases.Deployed) { d.Repository = "" }), status: "skipped", want: "no ECR repository in state"},
		"on": {d: secured, answers: map[string][]any{"DescribeRepositories": {&ecr.DescribeRepositoriesOutput{Repositories: []ecrtypes.Repository{{
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}}}}}}, status: "passed", want: "scan on push on"},
	})
}

// A skipped check is neither counted as failed nor shown as ok in JSON; its status says so.
func TestSkippedCheck(t *testing.T) {
	checks := []Check{pass("a", "fine"), fail("b", "do x", "broken"), skip("c", "off here")}
	if Failed(checks) != 1 || Skipped(checks) != 1 {
		t.Fatalf("failed %d skipped %d, want 1 and 1", Failed(checks), Skipped(checks))
	}
	data, err := json.Marshal(checks)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"a","status":"passed","ok":true,"evidence":"fine"},{"name":"b","status":"failed","ok":false,"evidence":"broken","fix":"do x"},{"name":"c","status":"skipped","evidence":"off here"}]`
	if string(data) != want {
		t.Fatalf("JSON\n got %s\nwant %s", data, want)
	}
	var back []Check
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for i := range checks {
		if back[i] != checks[i] {
			t.Errorf("round trip of %s: got %+v, want %+v", checks[i].Name, back[i], checks[i])
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"secretsmanager:Get*", "secretsmanager:GetSecretValue", true},
		{"SecretsManager:getsecretvalue", "secretsmanager:GetSecretValue", true},
		{"*", "secretsmanager:GetSecretValue", true},
		{"arn:aws:iam::123456789012:role/app-*", execARN, true},
		{"arn:aws:iam::123456789012:role/other", execARN, false},
		{"arn:aws:iam::123456789012:role/app-prod-exe?", execARN, true},
		{"s3:Put*", "secretsmanager:GetSecretValue", false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
