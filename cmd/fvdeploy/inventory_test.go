package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// inventory counts, through the AWS API and never through fvdeploy's state, what carries
// one environment's tags or names. The emulator's tagging API misses EIPs, IAM and
// autoscaling and still lists deleted NAT gateways, so each service is asked directly.
type inventory struct {
	VPCs, Subnets, AZs, IGWs, NATs, EIPs, RouteTables, SGs   int
	ALBs, TGs, Listeners, ListenerRules                      int
	Secrets, Clusters, LogGroups, Roles, TaskDefs, Services  int
	ScalableTargets, ScalingPolicies, ServiceDesired, MinCap int
	MaxCap                                                   int
	// The network's defaults: a network ACL per tier, and with network.flow_logs the
	// VPC's flow log and its log group (the default security group is AWS's, untagged).
	NACLs, FlowLogs, FlowLogGroups int
	// The Lambda functions and EventBridge rules named for the environment.
	Functions, Rules int
}

func takeInventory(t *testing.T, app, env string) inventory {
	t.Helper()
	ctx := context.Background()
	c := testClients(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("inventory of %s-%s: %v", app, env, err)
		}
	}
	tagged := []ec2types.Filter{
		{Name: aws.String("tag:fvdeploy:app"), Values: []string{app}},
		{Name: aws.String("tag:fvdeploy:env"), Values: []string{env}},
	}
	var inv inventory
	e := c.EC2()
	vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tagged})
	must(err)
	inv.VPCs = len(vpcs.Vpcs)
	subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: tagged})
	must(err)
	inv.Subnets = len(subnets.Subnets)
	azs := map[string]bool{}
	for _, s := range subnets.Subnets {
		azs[aws.ToString(s.AvailabilityZone)] = true
	}
	inv.AZs = len(azs)
	igws, err := e.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: tagged})
	must(err)
	inv.IGWs = len(igws.InternetGateways)
	nats, err := e.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{Filter: tagged})
	must(err)
	for _, n := range nats.NatGateways {
		// moto keeps listing deleted NATs and ignores tag filters on this call.
		if n.State != ec2types.NatGatewayStateDeleted && hasTags(n.Tags, app, env) {
			inv.NATs++
		}
	}
	eips, err := e.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: tagged})
	must(err)
	inv.EIPs = len(eips.Addresses)
	rts, err := e.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: tagged})
	must(err)
	inv.RouteTables = len(rts.RouteTables)
	sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagged})
	must(err)
	inv.SGs = len(sgs.SecurityGroups)
	acls, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: tagged})
	must(err)
	inv.NACLs = len(acls.NetworkAcls)
	flowLogs, err := e.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{Filter: tagged})
	must(err)
	inv.FlowLogs = len(flowLogs.FlowLogs)

	elb := c.ELB()
	prefix := app + "-" + env
	lbs, err := elb.DescribeLoadBalancers(ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{})
	must(err)
	for _, lb := range lbs.LoadBalancers {
		if strings.HasPrefix(aws.ToString(lb.LoadBalancerName), prefix) {
			inv.ALBs++
			ls, err := elb.DescribeListeners(ctx, &elasticloadbalancingv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
			must(err)
			inv.Listeners += len(ls.Listeners)
			for _, l := range ls.Listeners {
				rules, err := elb.DescribeRules(ctx, &elasticloadbalancingv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
				must(err)
				for _, r := range rules.Rules {
					if !aws.ToBool(r.IsDefault) {
						inv.ListenerRules++
					}
				}
			}
		}
	}
	tgs, err := elb.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{})
	must(err)
	for _, tg := range tgs.TargetGroups {
		if strings.HasPrefix(aws.ToString(tg.TargetGroupName), prefix) {
			inv.TGs++
		}
	}

	secrets, err := c.SecretsManager().ListSecrets(ctx, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix + "-"}}},
	})
	must(err)
	inv.Secrets = len(secrets.SecretList)

	ecsc := c.ECS()
	clusters, err := ecsc.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{prefix}})
	must(err)
	for _, cl := range clusters.Clusters {
		if aws.ToString(cl.Status) == "ACTIVE" {
			inv.Clusters++
			svcs, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cl.ClusterArn, Services: []string{prefix}})
			must(err)
			for _, s := range svcs.Services {
				if aws.ToString(s.Status) == "ACTIVE" {
					inv.Services++
					inv.ServiceDesired = int(s.DesiredCount)
				}
			}
		}
	}
	tds, err := ecsc.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(prefix), Status: "ACTIVE"})
	must(err)
	inv.TaskDefs = len(tds.TaskDefinitionArns)

	groups, err := c.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/" + prefix)})
	must(err)
	inv.LogGroups = len(groups.LogGroups)
	flowGroups, err := c.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/vpc/flow-logs/" + prefix)})
	must(err)
	inv.FlowLogGroups = len(flowGroups.LogGroups)

	roles, err := c.IAM().ListRoles(ctx, &iam.ListRolesInput{})
	must(err)
	for _, r := range roles.Roles {
		if strings.HasPrefix(aws.ToString(r.RoleName), prefix+"-") {
			inv.Roles++
		}
	}

	fns, err := c.Lambda().ListFunctions(ctx, &lambda.ListFunctionsInput{})
	must(err)
	for _, f := range fns.Functions {
		if strings.HasPrefix(aws.ToString(f.FunctionName), prefix+"-") {
			inv.Functions++
		}
	}
	rules, err := c.EventBridge().ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String(prefix + "-")})
	must(err)
	inv.Rules = len(rules.Rules)

	aas := c.AutoScaling()
	targets, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	must(err)
	for _, st := range targets.ScalableTargets {
		if strings.Contains(aws.ToString(st.ResourceId), "/"+prefix+"/") {
			inv.ScalableTargets++
			inv.MinCap, inv.MaxCap = int(aws.ToInt32(st.MinCapacity)), int(aws.ToInt32(st.MaxCapacity))
		}
	}
	policies, err := aas.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	must(err)
	for _, p := range policies.ScalingPolicies {
		if strings.Contains(aws.ToString(p.ResourceId), "/"+prefix+"/") {
			inv.ScalingPolicies++
		}
	}
	return inv
}

func hasTags(tags []ec2types.Tag, app, env string) bool {
	var gotApp, gotEnv bool
	for _, t := range tags {
		gotApp = gotApp || (aws.ToString(t.Key) == "fvdeploy:app" && aws.ToString(t.Value) == app)
		gotEnv = gotEnv || (aws.ToString(t.Key) == "fvdeploy:env" && aws.ToString(t.Value) == env)
	}
	return gotApp && gotEnv
}
