package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	rgttypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
)

// taggedLeft lists, by kind ("ec2:vpc", "iam:role", …), the IDs of live objects that
// carry fvdeploy:app=app and fvdeploy:env=env (the shared ECR repository: env in its
// fvdeploy:envs), asking AWS and never fvdeploy's state or code. After a destroy it
// must be empty: `if left := taggedLeft(t, app, env); len(left) > 0 { t.Errorf(...) }`.
//
// Most kinds come from one Resource Groups Tagging API query, which also lists objects
// that are already deleted but still described (NAT gateways, ECS clusters, services and
// task definitions, KMS keys pending deletion): those are dropped. The kinds that API
// misses (EIPs, network ACLs, IAM, ECR, Application Auto Scaling, WAFv2, Route 53, CloudTrail) are
// asked of their own services. Scalable targets and policies carry no tags in moto, so
// they count when their resource ID names the environment's service (…/<app>-<env>/…).
func taggedLeft(t *testing.T, app, env string) map[string][]string {
	t.Helper()
	must := fatalOn(t, "listing what is tagged "+app+"/"+env)
	ctx, c := context.Background(), testClients(t)
	left := map[string][]string{}
	add := func(kind, id string) { left[kind] = append(left[kind], id) }
	mine := func(tags map[string]string) bool {
		return tags["fvdeploy:app"] == app && (tags["fvdeploy:env"] == env || slices.Contains(strings.Fields(tags["fvdeploy:envs"]), env))
	}

	tagged := resourcegroupstaggingapi.NewGetResourcesPaginator(c.Tagging(), &resourcegroupstaggingapi.GetResourcesInput{TagFilters: []rgttypes.TagFilter{
		{Key: aws.String("fvdeploy:app"), Values: []string{app}}, {Key: aws.String("fvdeploy:env"), Values: []string{env}},
	}})
	for tagged.HasMorePages() {
		page, err := tagged.NextPage(ctx)
		must(err)
		for _, r := range page.ResourceTagMappingList {
			kind, id := arnKind(aws.ToString(r.ResourceARN))
			live, err := stillLive(ctx, c, kind, id, aws.ToString(r.ResourceARN))
			must(err)
			if live {
				add(kind, id)
			}
		}
	}

	eips, err := c.EC2().DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:fvdeploy:app"), Values: []string{app}}, {Name: aws.String("tag:fvdeploy:env"), Values: []string{env}},
	}})
	must(err)
	for _, a := range eips.Addresses {
		add("ec2:eip", aws.ToString(a.AllocationId))
	}

	// moto's tagging API misses network ACLs.
	netACLs, err := c.EC2().DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:fvdeploy:app"), Values: []string{app}}, {Name: aws.String("tag:fvdeploy:env"), Values: []string{env}},
	}})
	must(err)
	for _, a := range netACLs.NetworkAcls {
		if id := aws.ToString(a.NetworkAclId); !slices.Contains(left["ec2:network-acl"], id) {
			add("ec2:network-acl", id)
		}
	}

	iamc := c.IAM()
	iamTag := func(tg iamtypes.Tag) (*string, *string) { return tg.Key, tg.Value }
	roles, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
	must(err)
	for _, r := range roles.Roles {
		tags, err := iamc.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: r.RoleName})
		must(err)
		if mine(tagsOf(tags.Tags, iamTag)) {
			add("iam:role", aws.ToString(r.RoleName))
		}
	}
	providers, err := iamc.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	must(err)
	for _, p := range providers.OpenIDConnectProviderList {
		got, err := iamc.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p.Arn})
		must(err)
		if mine(tagsOf(got.Tags, iamTag)) {
			add("iam:oidc-provider", aws.ToString(p.Arn))
		}
	}

	repos, err := c.ECR().DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	must(err)
	for _, r := range repos.Repositories {
		tags, err := c.ECR().ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
		must(err)
		if mine(tagsOf(tags.Tags, func(tg ecrtypes.Tag) (*string, *string) { return tg.Key, tg.Value })) {
			add("ecr:repository", aws.ToString(r.RepositoryName))
		}
	}

	aas := c.AutoScaling()
	service := "/" + app + "-" + env + "/"
	targets, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	must(err)
	for _, st := range targets.ScalableTargets {
		if strings.Contains(aws.ToString(st.ResourceId), service) {
			add("application-autoscaling:scalable-target", aws.ToString(st.ResourceId))
		}
	}
	policies, err := aas.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	must(err)
	for _, p := range policies.ScalingPolicies {
		if strings.Contains(aws.ToString(p.ResourceId), service) {
			add("application-autoscaling:scaling-policy", aws.ToString(p.PolicyName))
		}
	}

	acls, err := c.WAF().ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional})
	must(err)
	for _, a := range acls.WebACLs {
		tags, err := c.WAF().ListTagsForResource(ctx, &wafv2.ListTagsForResourceInput{ResourceARN: a.ARN})
		must(err)
		if tags.TagInfoForResource != nil && mine(tagsOf(tags.TagInfoForResource.TagList, func(tg waftypes.Tag) (*string, *string) { return tg.Key, tg.Value })) {
			add("wafv2:web-acl", aws.ToString(a.Id))
		}
	}

	zones, err := c.Route53().ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	must(err)
	for _, z := range zones.HostedZones {
		id := strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
		tags, err := c.Route53().ListTagsForResource(ctx, &route53.ListTagsForResourceInput{ResourceType: r53types.TagResourceTypeHostedzone, ResourceId: &id})
		must(err)
		if tags.ResourceTagSet != nil && mine(tagsOf(tags.ResourceTagSet.Tags, func(tg r53types.Tag) (*string, *string) { return tg.Key, tg.Value })) {
			add("route53:hosted-zone", id)
		}
	}

	trails, err := c.CloudTrail().ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	must(err)
	for _, tr := range trails.Trails {
		tags, err := c.CloudTrail().ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{aws.ToString(tr.TrailARN)}})
		must(err)
		if len(tags.ResourceTagList) == 1 && mine(tagsOf(tags.ResourceTagList[0].TagsList, func(tg cttypes.Tag) (*string, *string) { return tg.Key, tg.Value })) {
			add("cloudtrail:trail", aws.ToString(tr.Name))
		}
	}
	return left
}

// fatalOn ends the test on an error, saying what was being done.
func fatalOn(t *testing.T, what string) func(error) {
	return func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func tagsOf[T any](tags []T, kv func(T) (k, v *string)) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		k, v := kv(tg)
		m[aws.ToString(k)] = aws.ToString(v)
	}
	return m
}

// arnKind names an object's kind and ID from its ARN: arn:aws:ec2:…:vpc/vpc-1 is
// ("ec2:vpc", "vpc-1"), arn:aws:logs:…:log-group:/ecs/x is ("logs:log-group", "/ecs/x"),
// arn:aws:sns:…:topic is ("sns:topic", "topic").
func arnKind(arn string) (kind, id string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "unknown", arn
	}
	service, rest := parts[2], parts[5]
	switch service {
	case "sns":
		return "sns:topic", rest
	case "s3":
		return "s3:bucket", rest
	}
	if typ, id, ok := strings.Cut(rest, "/"); ok && (service != "logs" && service != "cloudwatch" && service != "secretsmanager" && service != "lambda") {
		return service + ":" + typ, id
	}
	typ, id, _ := strings.Cut(rest, ":")
	return service + ":" + typ, id
}

// stillLive drops what the tagging API lists after its deletion.
func stillLive(ctx context.Context, c *awsclients.Clients, kind, id, arn string) (bool, error) {
	switch kind {
	case "ec2:natgateway":
		out, err := c.EC2().DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}})
		if err != nil {
			return false, err
		}
		return len(out.NatGateways) == 1 && out.NatGateways[0].State != ec2types.NatGatewayStateDeleted, nil
	case "ecs:cluster":
		out, err := c.ECS().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{arn}})
		if err != nil {
			return false, err
		}
		return len(out.Clusters) == 1 && aws.ToString(out.Clusters[0].Status) == "ACTIVE", nil
	case "ecs:service":
		cluster, _, _ := strings.Cut(id, "/")
		out, err := c.ECS().DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &cluster, Services: []string{arn}})
		if err != nil {
			return false, err
		}
		return len(out.Services) == 1 && aws.ToString(out.Services[0].Status) == "ACTIVE", nil
	case "ecs:task-definition":
		out, err := c.ECS().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &arn})
		if err != nil {
			return false, err
		}
		return out.TaskDefinition.Status == "ACTIVE", nil
	case "kms:key":
		out, err := c.KMS().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
		if err != nil {
			return false, err
		}
		return out.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion, nil
	}
	return true, nil
}
