package phasetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/secrets"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// FakeNetwork creates, directly through the SDK, the few network objects the cluster
// phase uses (private subnets, SG-ECS, an ALB with its target group and listener) and
// records them in doc under the network phase's keys, so these tests do not depend on
// the network phase. It returns those keys; remove them from doc before a destroy.
func FakeNetwork(t *testing.T, in *kit.Inputs, doc *state.Document) []string {
	t.Helper()
	ctx := context.Background()
	ec2c, elb := in.AWS.EC2(), in.AWS.ELB()
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := vpc.Vpc.VpcId
	keys := clusterphase.PrivateSubnetKeys(in)
	var subnets []string
	for i, k := range keys {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(fmt.Sprintf("10.9.%d.0/24", i)), AvailabilityZone: aws.String(in.Region + string(rune('a'+i)))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
		doc.Resources[k] = &state.Resource{Type: "ec2:subnet", ID: aws.ToString(s.Subnet.SubnetId)}
	}
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ecs"), Description: aws.String("ecs"), VpcId: vpcID})
	if err != nil {
		t.Fatal(err)
	}
	doc.Resources[kit.KeySG(kit.SGECS)] = &state.Resource{Type: "ec2:security-group", ID: aws.ToString(sg.GroupId)}
	// The stand-in group keeps its default rules; the service only needs the record.
	doc.Resources[kit.KeySGRules(kit.SGECS)] = &state.Resource{Type: "ec2:security-group-rules", ID: aws.ToString(sg.GroupId)}
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("test-alb"), Subnets: subnets})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("test-tg"), TargetType: elbtypes.TargetTypeEnumIp,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8000), VpcId: vpcID})
	if err != nil {
		t.Fatal(err)
	}
	tgARN := tg.TargetGroups[0].TargetGroupArn
	doc.Resources[kit.KeyTG] = &state.Resource{Type: "elbv2:target-group", ID: aws.ToString(tgARN), ARN: aws.ToString(tgARN)}
	l, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumHttp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tgARN}}})
	if err != nil {
		t.Fatal(err)
	}
	doc.Resources[kit.KeyListenerHTTP] = &state.Resource{Type: "elbv2:listener", ID: aws.ToString(l.Listeners[0].ListenerArn), ARN: aws.ToString(l.Listeners[0].ListenerArn)}
	// The alternate target group of prod's canary is in the VPC.
	doc.Resources[kit.KeyVPC] = &state.Resource{Type: "ec2:vpc", ID: aws.ToString(vpcID)}
	keys = append(keys, kit.KeyVPC, kit.KeySG(kit.SGECS), kit.KeySGRules(kit.SGECS), kit.KeyTG, kit.KeyListenerHTTP)
	if in.Config.Observability.KMSKeyID == "" {
		// The network phase makes the environment's key, which the log groups use.
		key, err := (&network.EnvKey{In: in, API: in.AWS.KMS()}).Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		key.Type = "kms:key"
		doc.Resources[kit.KeyEnvKey] = key
		keys = append(keys, kit.KeyEnvKey)
	}
	return keys
}

// FakeService creates, directly through the SDK, the load balancer and target group the
// alarms watch, and records them with stand-in cluster, service and role records under
// the network and cluster phases' keys (alarms need only names; the deploy policy only
// ARNs). It returns those keys; remove them from doc before a destroy.
func FakeService(t *testing.T, in *kit.Inputs, doc *state.Document) []string {
	t.Helper()
	ctx := context.Background()
	ec2c, elb := in.AWS.EC2(), in.AWS.ELB()
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.8.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i := range 2 {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.8.%d.0/24", i)), AvailabilityZone: aws.String(in.Region + string(rune('a'+i)))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(in.Prefix()), Subnets: subnets})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(in.Prefix()), TargetType: elbtypes.TargetTypeEnumIp,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8000), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	acct, p := in.Account, in.Prefix()
	recs := map[string]*state.Resource{
		kit.KeyALB:      {Type: "elbv2:load-balancer", ID: p, ARN: aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)},
		kit.KeyTG:       {Type: "elbv2:target-group", ID: p, ARN: aws.ToString(tg.TargetGroups[0].TargetGroupArn)},
		kit.KeyCluster:  {Type: "ecs:cluster", ID: p, ARN: "arn:aws:ecs:us-east-1:" + acct + ":cluster/" + p},
		kit.KeyService:  {Type: "ecs:service", ID: p, ARN: "arn:aws:ecs:us-east-1:" + acct + ":service/" + p + "/" + p, Attrs: map[string]string{"cluster": p}},
		kit.KeyExecRole: {Type: "iam:role", ID: p + "-exec", ARN: "arn:aws:iam::" + acct + ":role/" + p + "-exec"},
		kit.KeyTaskRole: {Type: "iam:role", ID: p + "-task", ARN: "arn:aws:iam::" + acct + ":role/" + p + "-task"},
	}
	if in.Config.Observability.KMSKeyID == "" {
		// The secrets phase's key, which the topic, log groups and trail use.
		key, err := (&network.EnvKey{In: in, API: in.AWS.KMS()}).Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		key.Type = "kms:key"
		recs[kit.KeyEnvKey] = key
	}
	maps.Copy(doc.Resources, recs)
	return slices.Collect(maps.Keys(recs))
}

func StoredCreds(t *testing.T, in *kit.Inputs) secrets.AdminCreds {
	t.Helper()
	c, err := secrets.ReadAdminCreds(context.Background(), in.AWS.SecretsManager(), kit.AdminSecretName(in))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
