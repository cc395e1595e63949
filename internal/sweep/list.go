package sweep

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Kinds are the kinds of object the sweep looks for (builtOn orders their deletion).
// Listeners go with their load balancer, subscriptions with their topic, DNS records
// and WAF associations and logging with their zone, load balancer or ACL. Not swept:
// Access Analyzer and AWS Config, account-wide singletons that fvdeploy finds by name
// and records, never duplicates.
var Kinds = []sweepKind{
	{Typ: "ec2:vpc", what: "VPCs", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeVpcsOutput) []ec2types.Vpc { return o.Vpcs },
			func(v ec2types.Vpc) ([]ec2types.Tag, string) { return v.Tags, aws.ToString(v.VpcId) })
	})},
	{Typ: "kms:key", what: "KMS keys", list: listKeys},
	{Typ: "s3:bucket", what: "S3 buckets", list: listBuckets},
	{Typ: "iam:oidc-provider", what: "IAM OIDC providers", list: listOIDCProviders},
	{Typ: "logs:log-group", what: "log groups", list: listLogGroups},
	{Typ: "secretsmanager:secret", what: "secrets", list: listSecrets},
	{Typ: "ecr:repository", what: "ECR repositories", list: listRepository},
	{Typ: "route53:hosted-zone", what: "hosted zones", list: listZones},
	{Typ: "ecs:cluster", what: "ECS clusters", list: listClusters},
	{Typ: "ecs:task-definition", what: "task definitions", list: listTaskDefs},

	{Typ: "ec2:subnet", what: "subnets", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeSubnetsOutput) []ec2types.Subnet { return o.Subnets },
			func(s ec2types.Subnet) ([]ec2types.Tag, string) { return s.Tags, aws.ToString(s.SubnetId) })
	})},
	{Typ: "ec2:internet-gateway", what: "internet gateways", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeInternetGatewaysOutput) []ec2types.InternetGateway { return o.InternetGateways },
			func(g ec2types.InternetGateway) ([]ec2types.Tag, string) {
				return g.Tags, aws.ToString(g.InternetGatewayId)
			})
	})},
	{Typ: "ec2:eip", what: "Elastic IPs", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeAddressesOutput) []ec2types.Address { return o.Addresses },
			func(a ec2types.Address) ([]ec2types.Tag, string) { return a.Tags, aws.ToString(a.AllocationId) })
	})},
	{Typ: "ec2:security-group", what: "security groups", list: listEC2(securityGroups(""))},
	{Typ: "iam:role", what: "IAM roles", list: listRoles},
	{Typ: "acm:certificate", what: "certificates", list: listCertificates},
	{Typ: "sns:topic", what: "SNS topics", list: listTopics},
	{Typ: "cloudtrail:trail", what: "trails", list: listTrails},
	{Typ: "lambda:function", what: "Lambda functions", list: listFunctions},
	{Typ: "events:rule", what: "EventBridge rules", list: listRules},

	// An orphan group's rules are revoked before any group goes: groups of a lost state
	// may name each other, and AWS refuses to delete a group another one's rule
	// references. They are keyed as up keys them, <group key>-rules; a recorded group's
	// rules are state's (a resumed destroy may have revoked them already).
	{Typ: "ec2:security-group-rules", what: "security groups", list: listEC2(securityGroups("-rules")), companionOf: "ec2:security-group"},
	{Typ: "ec2:nat-gateway", what: "NAT gateways", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: f})
		// A deleted gateway stays listed for an hour; the sweep checks the tags again
		// anyway (moto ignores the tag filter here).
		return ec2Candidates(out, err, func(o *ec2.DescribeNatGatewaysOutput) []ec2types.NatGateway {
			return slices.DeleteFunc(o.NatGateways, func(g ec2types.NatGateway) bool { return !slices.Contains(network.NATLive, string(g.State)) })
		},
			func(g ec2types.NatGateway) ([]ec2types.Tag, string) { return g.Tags, aws.ToString(g.NatGatewayId) })
	})},
	{Typ: "ec2:route-table", what: "route tables", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeRouteTablesOutput) []ec2types.RouteTable { return o.RouteTables },
			func(t ec2types.RouteTable) ([]ec2types.Tag, string) { return t.Tags, aws.ToString(t.RouteTableId) })
	})},
	{Typ: "ec2:network-acl", what: "network ACLs", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeNetworkAclsOutput) []ec2types.NetworkAcl { return o.NetworkAcls },
			func(a ec2types.NetworkAcl) ([]ec2types.Tag, string) { return a.Tags, aws.ToString(a.NetworkAclId) })
	})},
	{Typ: "ec2:flow-log", what: "flow logs", list: listEC2(func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{Filter: f})
		return ec2Candidates(out, err, func(o *ec2.DescribeFlowLogsOutput) []ec2types.FlowLog { return o.FlowLogs },
			func(l ec2types.FlowLog) ([]ec2types.Tag, string) { return l.Tags, aws.ToString(l.FlowLogId) })
	})},
	{Typ: "elbv2:target-group", what: "target groups", list: listTargetGroups},
	{Typ: observability.TypeAlarm, what: "alarms", list: listAlarms},
	{Typ: "wafv2:web-acl", what: "web ACLs", list: listWebACLs},

	{Typ: "elbv2:load-balancer", what: "load balancers", list: listLoadBalancers},
	{Typ: "ecs:service", what: "ECS services", list: listServices},
	{Typ: "application-autoscaling:scalable-target", what: "scalable targets", list: listScalableTargets},
	{Typ: "application-autoscaling:scaling-policy", what: "scaling policies", list: listScalingPolicies},
}

// pager is an SDK paginator, whatever the service.
type pager[P, O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*O)) (*P, error)
}

// drain gathers the items of every page.
func drain[P, O, T any](ctx context.Context, p pager[P, O], items func(*P) []T) ([]T, error) {
	var out []T
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, items(page)...)
	}
	return out, nil
}

// listTagged reads the tags of every item of every page that items keeps, one call an
// item, for services whose listings carry none.
func listTagged[P, O, T any](ctx context.Context, p pager[P, O], items func(*P) []T,
	tags func(context.Context, T) (map[string]string, error), rec func(T) state.Resource,
) ([]candidate, error) {
	all, err := drain(ctx, p, items)
	if err != nil {
		return nil, err
	}
	return tagEach(ctx, all, tags, rec)
}

// tagEach reads each item's tags. A "not found" means the item went meanwhile.
func tagEach[T any](ctx context.Context, items []T, tags func(context.Context, T) (map[string]string, error), rec func(T) state.Resource) ([]candidate, error) {
	var out []candidate
	for _, it := range items {
		t, err := tags(ctx, it)
		if kit.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, candidate{tags: t, rec: rec(it)})
	}
	return out, nil
}

// named keeps the items whose name starts with the environment's prefix: names narrow
// what is worth a tag lookup, tags decide.
func named[T any](in *kit.Inputs, items []T, name func(T) string) []T {
	var out []T
	for _, it := range items {
		if strings.HasPrefix(name(it), in.Prefix()+"-") || name(it) == in.Prefix() {
			out = append(out, it)
		}
	}
	return out
}

type ec2SweepAPI interface {
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeInternetGateways(ctx context.Context, in *ec2.DescribeInternetGatewaysInput, opts ...func(*ec2.Options)) (*ec2.DescribeInternetGatewaysOutput, error)
	DescribeAddresses(ctx context.Context, in *ec2.DescribeAddressesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAddressesOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeNatGateways(ctx context.Context, in *ec2.DescribeNatGatewaysInput, opts ...func(*ec2.Options)) (*ec2.DescribeNatGatewaysOutput, error)
	DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, opts ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	DescribeNetworkAcls(ctx context.Context, in *ec2.DescribeNetworkAclsInput, opts ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
	DescribeFlowLogs(ctx context.Context, in *ec2.DescribeFlowLogsInput, opts ...func(*ec2.Options)) (*ec2.DescribeFlowLogsOutput, error)
}

// listEC2 filters on the environment's tags: EC2 answers every match when no
// MaxResults is given.
func listEC2(describe func(context.Context, ec2SweepAPI, []ec2types.Filter) ([]candidate, error)) func(context.Context, *kit.Inputs) ([]candidate, error) {
	return func(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
		return describe(ctx, in.AWS.EC2(), []ec2types.Filter{
			{Name: aws.String("tag:" + engine.TagApp), Values: []string{in.Config.App}},
			{Name: aws.String("tag:" + engine.TagEnv), Values: []string{in.Config.Env}},
		})
	}
}

func ec2Candidates[O, T any](out *O, err error, items func(*O) []T, of func(T) ([]ec2types.Tag, string)) ([]candidate, error) {
	if err != nil {
		return nil, err
	}
	var cs []candidate
	for _, it := range items(out) {
		tags, id := of(it)
		cs = append(cs, candidate{tags: kit.EC2TagMap(tags), rec: state.Resource{ID: id}})
	}
	return cs, nil
}

// securityGroups lists the groups, under their own key plus suffix.
func securityGroups(suffix string) func(context.Context, ec2SweepAPI, []ec2types.Filter) ([]candidate, error) {
	return func(ctx context.Context, api ec2SweepAPI, f []ec2types.Filter) ([]candidate, error) {
		out, err := api.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f})
		cs, err := ec2Candidates(out, err, func(o *ec2.DescribeSecurityGroupsOutput) []ec2types.SecurityGroup { return o.SecurityGroups },
			func(g ec2types.SecurityGroup) ([]ec2types.Tag, string) { return g.Tags, aws.ToString(g.GroupId) })
		for i := range cs {
			cs[i].tags[engine.TagKey] += suffix
		}
		return cs, err
	}
}

type elbSweepAPI interface {
	elbv2.DescribeLoadBalancersAPIClient
	elbv2.DescribeTargetGroupsAPIClient
	kit.ELBTagsAPI
}

func listLoadBalancers(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	api := in.AWS.ELB()
	lbs, err := drain(ctx, elbv2.NewDescribeLoadBalancersPaginator(api, &elbv2.DescribeLoadBalancersInput{}),
		func(o *elbv2.DescribeLoadBalancersOutput) []elbtypes.LoadBalancer { return o.LoadBalancers })
	if err != nil {
		return nil, err
	}
	recs := make([]state.Resource, 0, len(lbs))
	for i := range lbs {
		recs = append(recs, network.ALBRecord(&lbs[i]))
	}
	return elbCandidates(ctx, api, recs)
}

func listTargetGroups(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	api := in.AWS.ELB()
	tgs, err := drain(ctx, elbv2.NewDescribeTargetGroupsPaginator(api, &elbv2.DescribeTargetGroupsInput{}),
		func(o *elbv2.DescribeTargetGroupsOutput) []elbtypes.TargetGroup { return o.TargetGroups })
	if err != nil {
		return nil, err
	}
	recs := make([]state.Resource, 0, len(tgs))
	for _, tg := range tgs {
		recs = append(recs, state.Resource{ID: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn)})
	}
	return elbCandidates(ctx, api, recs)
}

// elbCandidates reads the tags of load balancer objects, 20 ARNs a call (the API's limit).
func elbCandidates(ctx context.Context, api kit.ELBTagsAPI, recs []state.Resource) ([]candidate, error) {
	var out []candidate
	for start := 0; start < len(recs); start += 20 {
		batch := recs[start:min(start+20, len(recs))]
		arns := make([]string, 0, len(batch))
		for _, r := range batch {
			arns = append(arns, r.ARN)
		}
		tags, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns})
		if err != nil {
			return nil, err
		}
		for _, d := range tags.TagDescriptions {
			for _, r := range batch {
				if r.ARN == aws.ToString(d.ResourceArn) {
					out = append(out, candidate{tags: kit.TagMap(d.Tags, func(t elbtypes.Tag) (*string, *string) { return t.Key, t.Value }), rec: r})
				}
			}
		}
	}
	return out, nil
}

type iamSweepAPI interface {
	iam.ListRolesAPIClient
	ListRoleTags(ctx context.Context, in *iam.ListRoleTagsInput, opts ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error)
	ListOpenIDConnectProviders(ctx context.Context, in *iam.ListOpenIDConnectProvidersInput, opts ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error)
	GetOpenIDConnectProvider(ctx context.Context, in *iam.GetOpenIDConnectProviderInput, opts ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
}

func listRoles(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api iamSweepAPI = in.AWS.IAM()
	return listTagged(ctx, iam.NewListRolesPaginator(api, &iam.ListRolesInput{}),
		func(o *iam.ListRolesOutput) []iamtypes.Role {
			return named(in, o.Roles, func(r iamtypes.Role) string { return aws.ToString(r.RoleName) })
		},
		func(ctx context.Context, r iamtypes.Role) (map[string]string, error) {
			// The role's tags fit in one page: fvdeploy sets four.
			out, err := api.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: r.RoleName})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(r iamtypes.Role) state.Resource {
			return state.Resource{ID: aws.ToString(r.RoleName), ARN: aws.ToString(r.Arn)}
		})
}

// listOIDCProviders finds providers carrying the environment's tags, which fvdeploy sets
// only on one it created; the deleter still keeps one that roles trust.
func listOIDCProviders(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api iamSweepAPI = in.AWS.IAM()
	out, err := api.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return nil, err
	}
	return tagEach(ctx, out.OpenIDConnectProviderList,
		func(ctx context.Context, p iamtypes.OpenIDConnectProviderListEntry) (map[string]string, error) {
			got, err := api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p.Arn})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(got.Tags, func(t iamtypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(p iamtypes.OpenIDConnectProviderListEntry) state.Resource {
			arn := aws.ToString(p.Arn)
			return state.Resource{ID: arn[strings.LastIndex(arn, "oidc-provider/")+len("oidc-provider/"):], ARN: arn, Attrs: map[string]string{"owned": "true"}}
		})
}

type logsSweepAPI interface {
	cloudwatchlogs.DescribeLogGroupsAPIClient
	ListTagsForResource(ctx context.Context, in *cloudwatchlogs.ListTagsForResourceInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.ListTagsForResourceOutput, error)
}

// listLogGroups looks where fvdeploy creates groups: the service's and the chat relay's.
func listLogGroups(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api logsSweepAPI = in.AWS.Logs()
	var groups []logstypes.LogGroup
	for _, prefix := range []string{kit.LogGroupName(in), "/aws/lambda/" + in.Prefix(), network.FlowLogGroupName(in)} {
		page, err := drain(ctx, cloudwatchlogs.NewDescribeLogGroupsPaginator(api, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(prefix)}),
			func(o *cloudwatchlogs.DescribeLogGroupsOutput) []logstypes.LogGroup { return o.LogGroups })
		if err != nil {
			return nil, err
		}
		groups = append(groups, page...)
	}
	return tagEach(ctx, groups,
		func(ctx context.Context, g logstypes.LogGroup) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(kit.LogGroupARN(in, aws.ToString(g.LogGroupName)))})
			if err != nil {
				return nil, err
			}
			return out.Tags, nil
		},
		func(g logstypes.LogGroup) state.Resource {
			name := aws.ToString(g.LogGroupName)
			return state.Resource{ID: name, ARN: kit.LogGroupARN(in, name)}
		})
}

func listSecrets(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api secretsmanager.ListSecretsAPIClient = in.AWS.SecretsManager()
	// The filters narrow the list (each matches any tag); the tags listed decide.
	secrets, err := drain(ctx, secretsmanager.NewListSecretsPaginator(api, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{
		{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{engine.TagEnv}},
		{Key: smtypes.FilterNameStringTypeTagValue, Values: []string{in.Config.Env}},
	}}), func(o *secretsmanager.ListSecretsOutput) []smtypes.SecretListEntry { return o.SecretList })
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, s := range secrets {
		c := candidate{tags: kit.TagMap(s.Tags, func(t smtypes.Tag) (*string, *string) { return t.Key, t.Value }),
			rec: state.Resource{ID: aws.ToString(s.Name), ARN: aws.ToString(s.ARN)}}
		if c.tags[engine.TagKey] == observability.KeyChatWebhook {
			c.typ = "secretsmanager:webhook-secret"
		}
		out = append(out, c)
	}
	return out, nil
}

type ecrSweepAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, opts ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, opts ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
}

// listRepository looks at the one repository the config names: names are unique, so no
// retry can have made a second one. The deleter keeps it while another environment
// is listed in its fvdeploy:envs.
func listRepository(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api ecrSweepAPI = in.AWS.ECR()
	out, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{in.Config.ImageRepository()}})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tagEach(ctx, out.Repositories,
		func(ctx context.Context, repo ecrtypes.Repository) (map[string]string, error) {
			tags, err := api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: repo.RepositoryArn})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(tags.Tags, func(t ecrtypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		}, image.RepoRecord)
}

type r53SweepAPI interface {
	route53.ListHostedZonesAPIClient
	ListTagsForResource(ctx context.Context, in *route53.ListTagsForResourceInput, opts ...func(*route53.Options)) (*route53.ListTagsForResourceOutput, error)
}

// listZones keeps only zones with fvdeploy's caller reference: a zone it adopted (the
// parent domain's) is never the environment's to delete, whatever its tags.
func listZones(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api r53SweepAPI = in.AWS.Route53()
	z := &edge.HostedZone{In: in}
	return listTagged(ctx, route53.NewListHostedZonesPaginator(api, &route53.ListHostedZonesInput{}),
		func(o *route53.ListHostedZonesOutput) []r53types.HostedZone {
			return slices.DeleteFunc(o.HostedZones, func(zone r53types.HostedZone) bool {
				return !strings.HasPrefix(aws.ToString(zone.CallerReference), z.CallerRefPrefix())
			})
		},
		func(ctx context.Context, zone r53types.HostedZone) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &route53.ListTagsForResourceInput{ResourceType: r53types.TagResourceTypeHostedzone, ResourceId: aws.String(edge.ZoneID(aws.ToString(zone.Id)))})
			if err != nil || out.ResourceTagSet == nil {
				return nil, err
			}
			return kit.TagMap(out.ResourceTagSet.Tags, func(t r53types.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(zone r53types.HostedZone) state.Resource { return z.Record(&zone, nil) })
}

type ecsSweepAPI interface {
	ecs.ListClustersAPIClient
	ecs.ListServicesAPIClient
	ecs.ListTaskDefinitionFamiliesAPIClient
	DescribeClusters(ctx context.Context, in *ecs.DescribeClustersInput, opts ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

func ecsTagList(t ecstypes.Tag) (*string, *string) { return t.Key, t.Value }

func listClusters(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	clusters, err := activeClusters(ctx, in.AWS.ECS())
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, c := range clusters {
		out = append(out, candidate{tags: kit.TagMap(c.Tags, ecsTagList), rec: state.Resource{ID: aws.ToString(c.ClusterName), ARN: aws.ToString(c.ClusterArn)}})
	}
	return out, nil
}

// activeClusters describes every cluster with its tags, 100 a call (the API's limit).
// Deleted clusters stay listed as INACTIVE for a while.
func activeClusters(ctx context.Context, api ecsSweepAPI) ([]ecstypes.Cluster, error) {
	arns, err := drain(ctx, ecs.NewListClustersPaginator(api, &ecs.ListClustersInput{}), func(o *ecs.ListClustersOutput) []string { return o.ClusterArns })
	if err != nil {
		return nil, err
	}
	var out []ecstypes.Cluster
	for start := 0; start < len(arns); start += 100 {
		d, err := api.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: arns[start:min(start+100, len(arns))], Include: []ecstypes.ClusterField{ecstypes.ClusterFieldTags}})
		if err != nil {
			return nil, err
		}
		for _, c := range d.Clusters {
			if aws.ToString(c.Status) == "ACTIVE" {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// listServices looks in the environment's clusters, recorded or not: a service lives in
// one, and listing every cluster of the account would cost a call each.
func listServices(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api ecsSweepAPI = in.AWS.ECS()
	clusters, err := activeClusters(ctx, api)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, c := range clusters {
		if !kit.OwnedByEnv(in, kit.TagMap(c.Tags, ecsTagList)) {
			continue
		}
		arns, err := drain(ctx, ecs.NewListServicesPaginator(api, &ecs.ListServicesInput{Cluster: c.ClusterArn}), func(o *ecs.ListServicesOutput) []string { return o.ServiceArns })
		if err != nil {
			return nil, err
		}
		for start := 0; start < len(arns); start += 10 {
			d, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: c.ClusterArn, Services: arns[start:min(start+10, len(arns))], Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags}})
			if err != nil {
				return nil, err
			}
			for _, s := range d.Services {
				if aws.ToString(s.Status) == "ACTIVE" {
					out = append(out, candidate{tags: kit.TagMap(s.Tags, ecsTagList), rec: clusterphase.ServiceRecord(&s, aws.ToString(c.ClusterName))})
				}
			}
		}
	}
	return out, nil
}

// listTaskDefs reads the latest revision of each family named like the environment's;
// the deleter retires every revision of the family.
func listTaskDefs(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api ecsSweepAPI = in.AWS.ECS()
	return listTagged(ctx, ecs.NewListTaskDefinitionFamiliesPaginator(api, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String(in.Prefix()), Status: ecstypes.TaskDefinitionFamilyStatusActive}),
		func(o *ecs.ListTaskDefinitionFamiliesOutput) []string { return o.Families },
		func(ctx context.Context, family string) (map[string]string, error) {
			out, err := api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
			// A family whose revisions were all deregistered meanwhile cannot be described
			// (moto keeps listing it as ACTIVE, and may answer an INACTIVE revision).
			if clusterphase.IsTaskDefNotFound(err) || err == nil && out.TaskDefinition.Status != ecstypes.TaskDefinitionStatusActive {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, ecsTagList), nil
		},
		// No ARN: it would name one revision, and state records the family.
		func(family string) state.Resource { return state.Resource{ID: family} })
}

type scalingSweepAPI interface {
	applicationautoscaling.DescribeScalableTargetsAPIClient
	applicationautoscaling.DescribeScalingPoliciesAPIClient
}

// serviceScaling keeps what scales a service in the environment's cluster: the cluster
// name is the environment's in the account and region, and scalable targets carry no
// tags that every endpoint keeps (moto drops them), so the name says whose they are.
func serviceScaling[T any](in *kit.Inputs, items []T, resourceID func(T) string, key string, rec func(T) state.Resource) []candidate {
	var out []candidate
	for _, it := range items {
		if strings.HasPrefix(resourceID(it), "service/"+clusterphase.ClusterName(in)+"/") {
			out = append(out, candidate{tags: in.Tags(key), rec: rec(it)})
		}
	}
	return out
}

func listScalableTargets(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api scalingSweepAPI = in.AWS.AutoScaling()
	targets, err := drain(ctx, applicationautoscaling.NewDescribeScalableTargetsPaginator(api, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}),
		func(o *applicationautoscaling.DescribeScalableTargetsOutput) []aastypes.ScalableTarget {
			return o.ScalableTargets
		})
	if err != nil {
		return nil, err
	}
	return serviceScaling(in, targets, func(t aastypes.ScalableTarget) string { return aws.ToString(t.ResourceId) }, clusterphase.KeyScalableTarget,
		func(t aastypes.ScalableTarget) state.Resource { return state.Resource{ID: aws.ToString(t.ResourceId)} }), nil
}

func listScalingPolicies(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api scalingSweepAPI = in.AWS.AutoScaling()
	policies, err := drain(ctx, applicationautoscaling.NewDescribeScalingPoliciesPaginator(api, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}),
		func(o *applicationautoscaling.DescribeScalingPoliciesOutput) []aastypes.ScalingPolicy {
			return o.ScalingPolicies
		})
	if err != nil {
		return nil, err
	}
	return serviceScaling(in, policies, func(p aastypes.ScalingPolicy) string { return aws.ToString(p.ResourceId) }, clusterphase.KeyScalingPolicy,
		func(p aastypes.ScalingPolicy) state.Resource {
			return state.Resource{ID: aws.ToString(p.PolicyName), Attrs: map[string]string{"resource_id": aws.ToString(p.ResourceId)}}
		}), nil
}

type kmsSweepAPI interface {
	kms.ListKeysAPIClient
	ListResourceTags(ctx context.Context, in *kms.ListResourceTagsInput, opts ...func(*kms.Options)) (*kms.ListResourceTagsOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	ListAliases(ctx context.Context, in *kms.ListAliasesInput, opts ...func(*kms.Options)) (*kms.ListAliasesOutput, error)
}

// listKeys skips keys already pending deletion (destroy schedules, it cannot delete) and
// records the alias that names each key, which the deleter removes with it.
func listKeys(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api kmsSweepAPI = in.AWS.KMS()
	tagged, err := listTagged(ctx, kms.NewListKeysPaginator(api, &kms.ListKeysInput{}), func(o *kms.ListKeysOutput) []kmstypes.KeyListEntry { return o.Keys },
		func(ctx context.Context, k kmstypes.KeyListEntry) (map[string]string, error) {
			out, err := api.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyId})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, func(t kmstypes.Tag) (*string, *string) { return t.TagKey, t.TagValue }), nil
		},
		func(k kmstypes.KeyListEntry) state.Resource {
			return state.Resource{ID: aws.ToString(k.KeyId), ARN: aws.ToString(k.KeyArn), Attrs: map[string]string{}}
		})
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, c := range tagged {
		if !kit.OwnedByEnv(in, c.tags) {
			continue
		}
		d, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &c.rec.ID})
		if err != nil {
			return nil, err
		}
		if s := d.KeyMetadata.KeyState; s == kmstypes.KeyStatePendingDeletion || s == kmstypes.KeyStatePendingReplicaDeletion {
			continue
		}
		aliases, err := api.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &c.rec.ID})
		if err != nil {
			return nil, err
		}
		for _, a := range aliases.Aliases {
			c.rec.Attrs["alias"] = aws.ToString(a.AliasName)
		}
		out = append(out, c)
	}
	return out, nil
}

type snsSweepAPI interface {
	sns.ListTopicsAPIClient
	ListTagsForResource(ctx context.Context, in *sns.ListTagsForResourceInput, opts ...func(*sns.Options)) (*sns.ListTagsForResourceOutput, error)
}

func listTopics(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api snsSweepAPI = in.AWS.SNS()
	name := func(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }
	return listTagged(ctx, sns.NewListTopicsPaginator(api, &sns.ListTopicsInput{}), func(o *sns.ListTopicsOutput) []string {
		var arns []string
		for _, t := range o.Topics {
			arns = append(arns, aws.ToString(t.TopicArn))
		}
		return named(in, arns, name)
	},
		func(ctx context.Context, arn string) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: &arn})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, func(t snstypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(arn string) state.Resource { return state.Resource{ID: name(arn), ARN: arn} })
}

type cwSweepAPI interface {
	cloudwatch.DescribeAlarmsAPIClient
	ListTagsForResource(ctx context.Context, in *cloudwatch.ListTagsForResourceInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.ListTagsForResourceOutput, error)
}

func listAlarms(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api cwSweepAPI = in.AWS.CloudWatch()
	return listTagged(ctx, cloudwatch.NewDescribeAlarmsPaginator(api, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(in.Prefix() + "-")}),
		func(o *cloudwatch.DescribeAlarmsOutput) []cwtypes.MetricAlarm { return o.MetricAlarms },
		func(ctx context.Context, a cwtypes.MetricAlarm) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: a.AlarmArn})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, func(t cwtypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(a cwtypes.MetricAlarm) state.Resource {
			return state.Resource{ID: aws.ToString(a.AlarmName), ARN: aws.ToString(a.AlarmArn)}
		})
}

type wafSweepAPI interface {
	ListWebACLs(ctx context.Context, in *wafv2.ListWebACLsInput, opts ...func(*wafv2.Options)) (*wafv2.ListWebACLsOutput, error)
	ListTagsForResource(ctx context.Context, in *wafv2.ListTagsForResourceInput, opts ...func(*wafv2.Options)) (*wafv2.ListTagsForResourceOutput, error)
}

func listWebACLs(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api wafSweepAPI = in.AWS.WAF()
	var acls []waftypes.WebACLSummary
	// WAFv2 has no paginator: the marker is followed by hand.
	var marker *string
	for {
		out, err := api.ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional, NextMarker: marker})
		if err != nil {
			return nil, err
		}
		acls = append(acls, out.WebACLs...)
		if marker = out.NextMarker; aws.ToString(marker) == "" || len(out.WebACLs) == 0 {
			break
		}
	}
	return tagEach(ctx, named(in, acls, func(a waftypes.WebACLSummary) string { return aws.ToString(a.Name) }),
		func(ctx context.Context, a waftypes.WebACLSummary) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &wafv2.ListTagsForResourceInput{ResourceARN: a.ARN})
			if edge.WAFNotFound(err) {
				return nil, nil // gone meanwhile
			}
			if err != nil || out.TagInfoForResource == nil {
				return nil, err
			}
			return kit.TagMap(out.TagInfoForResource.TagList, func(t waftypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(a waftypes.WebACLSummary) state.Resource {
			return state.Resource{ID: aws.ToString(a.Id), ARN: aws.ToString(a.ARN), Attrs: map[string]string{"name": aws.ToString(a.Name)}}
		})
}

type acmSweepAPI interface {
	acm.ListCertificatesAPIClient
	ListTagsForCertificate(ctx context.Context, in *acm.ListTagsForCertificateInput, opts ...func(*acm.Options)) (*acm.ListTagsForCertificateOutput, error)
}

func listCertificates(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api acmSweepAPI = in.AWS.ACM()
	return listTagged(ctx, acm.NewListCertificatesPaginator(api, &acm.ListCertificatesInput{}),
		func(o *acm.ListCertificatesOutput) []acmtypes.CertificateSummary { return o.CertificateSummaryList },
		func(ctx context.Context, c acmtypes.CertificateSummary) (map[string]string, error) {
			out, err := api.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: c.CertificateArn})
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.Tags, func(t acmtypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(c acmtypes.CertificateSummary) state.Resource {
			arn := aws.ToString(c.CertificateArn)
			return state.Resource{ID: arn[strings.LastIndex(arn, "/")+1:], ARN: arn}
		})
}

type lambdaSweepAPI interface {
	lambda.ListFunctionsAPIClient
	ListTags(ctx context.Context, in *lambda.ListTagsInput, opts ...func(*lambda.Options)) (*lambda.ListTagsOutput, error)
}

func listFunctions(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api lambdaSweepAPI = in.AWS.Lambda()
	return listTagged(ctx, lambda.NewListFunctionsPaginator(api, &lambda.ListFunctionsInput{}),
		func(o *lambda.ListFunctionsOutput) []lambdatypes.FunctionConfiguration {
			return named(in, o.Functions, func(f lambdatypes.FunctionConfiguration) string { return aws.ToString(f.FunctionName) })
		},
		func(ctx context.Context, f lambdatypes.FunctionConfiguration) (map[string]string, error) {
			out, err := api.ListTags(ctx, &lambda.ListTagsInput{Resource: f.FunctionArn})
			if err != nil {
				return nil, err
			}
			return out.Tags, nil
		},
		func(f lambdatypes.FunctionConfiguration) state.Resource {
			return state.Resource{ID: aws.ToString(f.FunctionName), ARN: aws.ToString(f.FunctionArn)}
		})
}

type s3SweepAPI interface {
	s3.ListBucketsAPIClient
	GetBucketTagging(ctx context.Context, in *s3.GetBucketTaggingInput, opts ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
}

// listBuckets asks only for the region's buckets (another region's answer tag reads with
// a redirect) whose name holds the environment's prefix, as every bucket fvdeploy
// names does. The deleter keeps one holding data unless --purge-data.
func listBuckets(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api s3SweepAPI = in.AWS.S3()
	return listTagged(ctx, s3.NewListBucketsPaginator(api, &s3.ListBucketsInput{BucketRegion: aws.String(in.Region)}),
		func(o *s3.ListBucketsOutput) []s3types.Bucket {
			return slices.DeleteFunc(o.Buckets, func(b s3types.Bucket) bool { return !strings.Contains(aws.ToString(b.Name), in.Prefix()+"-") })
		},
		func(ctx context.Context, b s3types.Bucket) (map[string]string, error) {
			out, err := api.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b.Name})
			if code := kit.ErrorCode(err); code == "NoSuchTagSet" || code == "NoSuchBucket" {
				return nil, nil // untagged, or gone meanwhile
			}
			if err != nil {
				return nil, err
			}
			return kit.TagMap(out.TagSet, func(t s3types.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(b s3types.Bucket) state.Resource {
			return state.Resource{ID: aws.ToString(b.Name), ARN: kit.BucketARN(in, aws.ToString(b.Name))}
		})
}

type trailSweepAPI interface {
	cloudtrail.ListTrailsAPIClient
	ListTags(ctx context.Context, in *cloudtrail.ListTagsInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.ListTagsOutput, error)
}

// listTrails keeps the trails whose home is this region: the others are listed as
// shadows and belong to another region's deployment.
func listTrails(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	var api trailSweepAPI = in.AWS.CloudTrail()
	return listTagged(ctx, cloudtrail.NewListTrailsPaginator(api, &cloudtrail.ListTrailsInput{}), func(o *cloudtrail.ListTrailsOutput) []cttypes.TrailInfo {
		home := slices.DeleteFunc(o.Trails, func(t cttypes.TrailInfo) bool { return aws.ToString(t.HomeRegion) != in.Region })
		return named(in, home, func(t cttypes.TrailInfo) string { return aws.ToString(t.Name) })
	},
		func(ctx context.Context, t cttypes.TrailInfo) (map[string]string, error) {
			out, err := api.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{aws.ToString(t.TrailARN)}})
			if err != nil || len(out.ResourceTagList) == 0 {
				return nil, err
			}
			return kit.TagMap(out.ResourceTagList[0].TagsList, func(t cttypes.Tag) (*string, *string) { return t.Key, t.Value }), nil
		},
		func(t cttypes.TrailInfo) state.Resource {
			return state.Resource{ID: aws.ToString(t.Name), ARN: aws.ToString(t.TrailARN)}
		})
}

// listRules finds the environment's EventBridge rules on the default bus, for the sweep.
func listRules(ctx context.Context, in *kit.Inputs) ([]candidate, error) {
	api := in.AWS.EventBridge()
	var rules []ebtypes.Rule
	var next *string
	for {
		out, err := api.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String(in.Prefix() + "-"), NextToken: next})
		if err != nil {
			return nil, err
		}
		rules = append(rules, out.Rules...)
		if next = out.NextToken; next == nil {
			break
		}
	}
	return tagEach(ctx, rules,
		func(ctx context.Context, r ebtypes.Rule) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: r.Arn})
			if err != nil {
				return nil, err
			}
			return clusterphase.EventTagMap(out.Tags), nil
		},
		func(r ebtypes.Rule) state.Resource {
			return state.Resource{ID: aws.ToString(r.Name), ARN: aws.ToString(r.Arn)}
		})
}
