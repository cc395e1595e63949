package sweep_test

import (
	"archive/zip"
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/cicd"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/image"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
	"github.com/fvdeploy/fvdeploy/internal/sweep"
)

// sweepFixture makes one kind of object through the SDK, behind fvdeploy's back, and
// says whether one still exists.
type sweepFixture struct {
	// types are what the sweep reports for one object: a security group is also its rules.
	types  []string
	key    string
	create func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string
	exists func(t *testing.T, in *kit.Inputs, id string) bool
}

func sweepCheck(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// present says whether a describe found its object, failing the test on other errors.
func present(t *testing.T, err error) bool {
	t.Helper()
	if kit.IsNotFound(err) {
		return false
	}
	sweepCheck(t, err)
	return true
}

// logGroupFixture is a log group under prefix, recorded as key.
func logGroupFixture(key, prefix string) sweepFixture {
	return sweepFixture{types: []string{"logs:log-group"}, key: key,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			name = prefix + name
			_, err := in.AWS.Logs().CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &name, Tags: tags})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.Logs().DescribeLogGroups(context.Background(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: &id})
			sweepCheck(t, err)
			return len(out.LogGroups) > 0
		}}
}

var sweepFixtures = map[string]sweepFixture{
	"eip": {types: []string{"ec2:eip"}, key: "network/eip-nat-a",
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			out, err := in.AWS.EC2().AllocateAddress(context.Background(), &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc, TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeElasticIp, tags)})
			sweepCheck(t, err)
			return aws.ToString(out.AllocationId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeAddresses(context.Background(), &ec2.DescribeAddressesInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.Addresses, func(a ec2types.Address) bool { return aws.ToString(a.AllocationId) == id })
		}},
	"vpc": {types: []string{"ec2:vpc"}, key: "network/vpc",
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			out, err := in.AWS.EC2().CreateVpc(context.Background(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.77.0.0/16"), TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeVpc, tags)})
			sweepCheck(t, err)
			return aws.ToString(out.Vpc.VpcId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.Vpcs, func(v ec2types.Vpc) bool { return aws.ToString(v.VpcId) == id })
		}},
	"security group": {types: []string{"ec2:security-group", "ec2:security-group-rules"}, key: "network/sg-alb",
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			out, err := in.AWS.EC2().CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{GroupName: &name, Description: aws.String("sweep test"),
				TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeSecurityGroup, tags)})
			sweepCheck(t, err)
			return aws.ToString(out.GroupId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.SecurityGroups, func(g ec2types.SecurityGroup) bool { return aws.ToString(g.GroupId) == id })
		}},
	"kms key": {types: []string{"kms:key"}, key: kit.KeyEnvKey,
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			out, err := in.AWS.KMS().CreateKey(context.Background(), &kms.CreateKeyInput{Tags: network.KMSTags(tags)})
			sweepCheck(t, err)
			return aws.ToString(out.KeyMetadata.KeyId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.KMS().DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &id})
			sweepCheck(t, err)
			return out.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion
		}},
	"iam role": {types: []string{"iam:role"}, key: kit.KeyTaskRole,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.IAM().CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: &name, Tags: kit.IAMTags(tags),
				AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.IAM().GetRole(context.Background(), &iam.GetRoleInput{RoleName: &id})
			return present(t, err)
		}},
	"log group":      logGroupFixture(clusterphase.KeyLogGroup, "/ecs/"),
	"flow log group": logGroupFixture(network.KeyFlowLogGroup, "/aws/vpc/flow-logs/"),
	// A network ACL and a flow log need a VPC: each gets one of its own, untagged, which
	// the sweep leaves.
	"network acl": {types: []string{"ec2:network-acl"}, key: network.KeyACLPrivate,
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			ctx := context.Background()
			vpc, err := in.AWS.EC2().CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.91.0.0/16")})
			sweepCheck(t, err)
			out, err := in.AWS.EC2().CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: vpc.Vpc.VpcId, TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeNetworkAcl, tags)})
			sweepCheck(t, err)
			return aws.ToString(out.NetworkAcl.NetworkAclId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeNetworkAcls(context.Background(), &ec2.DescribeNetworkAclsInput{NetworkAclIds: []string{id}})
			return present(t, err) && len(out.NetworkAcls) > 0
		}},
	"flow log": {types: []string{"ec2:flow-log"}, key: network.KeyFlowLog,
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			ctx := context.Background()
			vpc, err := in.AWS.EC2().CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.92.0.0/16")})
			sweepCheck(t, err)
			out, err := in.AWS.EC2().CreateFlowLogs(ctx, &ec2.CreateFlowLogsInput{ResourceIds: []string{aws.ToString(vpc.Vpc.VpcId)}, ResourceType: ec2types.FlowLogsResourceTypeVpc,
				TrafficType: ec2types.TrafficTypeAll, LogDestinationType: ec2types.LogDestinationTypeCloudWatchLogs, LogGroupName: aws.String("/sweep-test"),
				DeliverLogsPermissionArn: aws.String("arn:aws:iam::123456789012:role/sweep-test"), TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeVpcFlowLog, tags)})
			sweepCheck(t, err)
			return out.FlowLogIds[0]
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeFlowLogs(context.Background(), &ec2.DescribeFlowLogsInput{FlowLogIds: []string{id}})
			return present(t, err) && len(out.FlowLogs) > 0
		}},
	"secret": {types: []string{"secretsmanager:secret"}, key: kit.KeySecretAdmin,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.SecretsManager().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String("{}"), Tags: kit.SecretTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.SecretsManager().DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &id})
			return present(t, err)
		}},
	"sns topic": {types: []string{"sns:topic"}, key: observability.KeyTopic,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.SNS().CreateTopic(context.Background(), &sns.CreateTopicInput{Name: &name, Tags: observability.SNSTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.SNS().ListTopics(context.Background(), &sns.ListTopicsInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.Topics, func(tp snstypes.Topic) bool { return strings.HasSuffix(aws.ToString(tp.TopicArn), ":"+id) })
		}},
	"alarm": {types: []string{observability.TypeAlarm}, key: "observability/alarm-5xx",
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.CloudWatch().PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{AlarmName: &name, Tags: observability.CWTags(tags),
				Namespace: aws.String("AWS/ECS"), MetricName: aws.String("CPUUtilization"), Statistic: cwtypes.StatisticAverage, Period: aws.Int32(60),
				EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(90), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.CloudWatch().DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{id}})
			sweepCheck(t, err)
			return len(out.MetricAlarms) > 0
		}},
	"subnet": {types: []string{"ec2:subnet"}, key: "network/subnet-private-a",
		create: func(t *testing.T, in *kit.Inputs, _ string, tags map[string]string) string {
			vpc, err := in.AWS.EC2().CreateVpc(context.Background(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.79.0.0/16")})
			sweepCheck(t, err)
			out, err := in.AWS.EC2().CreateSubnet(context.Background(), &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.79.0.0/20"),
				TagSpecifications: sweepEC2Tags(ec2types.ResourceTypeSubnet, tags)})
			sweepCheck(t, err)
			return aws.ToString(out.Subnet.SubnetId)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.EC2().DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.Subnets, func(s ec2types.Subnet) bool { return aws.ToString(s.SubnetId) == id })
		}},
	"tg": {types: []string{"elbv2:target-group"}, key: "network/tg",
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			// A Lambda target group needs no VPC; the deleter does not mind the kind.
			_, err := in.AWS.ELB().CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{Name: &name, TargetType: elbtypes.TargetTypeEnumLambda, Tags: kit.ELBTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.ELB().DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{Names: []string{id}})
			return present(t, err)
		}},
	"ecs cluster": {types: []string{"ecs:cluster"}, key: kit.KeyCluster,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.ECS().CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: &name, Tags: clusterphase.ECSTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.ECS().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{id}})
			sweepCheck(t, err)
			return len(out.Clusters) == 1 && aws.ToString(out.Clusters[0].Status) == "ACTIVE"
		}},
	"task definition": {types: []string{"ecs:task-definition"}, key: clusterphase.KeyTaskDef,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.ECS().RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: &name, Tags: clusterphase.ECSTags(tags),
				ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(phasetest.TestImage), Memory: aws.Int32(512)}}})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.ECS().DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: &id})
			if clusterphase.IsTaskDefNotFound(err) {
				return false
			}
			sweepCheck(t, err)
			return out.TaskDefinition.Status == ecstypes.TaskDefinitionStatusActive
		}},
	"bucket": {types: []string{"s3:bucket"}, key: observability.KeyTrailBucket,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name})
			sweepCheck(t, err)
			if len(tags) > 0 {
				_, err = in.AWS.S3().PutBucketTagging(context.Background(), &s3.PutBucketTaggingInput{Bucket: &name,
					Tagging: &s3types.Tagging{TagSet: sweepTags(tags, func(k, v string) s3types.Tag { return s3types.Tag{Key: &k, Value: &v} })}})
				sweepCheck(t, err)
			}
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.S3().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &id})
			return present(t, err)
		}},
	"certificate": {types: []string{"acm:certificate"}, key: edge.KeyCertificate,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			out, err := in.AWS.ACM().RequestCertificate(context.Background(), &acm.RequestCertificateInput{DomainName: aws.String(name + ".example.com"),
				ValidationMethod: acmtypes.ValidationMethodDns, Tags: sweepTags(tags, func(k, v string) acmtypes.Tag { return acmtypes.Tag{Key: &k, Value: &v} })})
			sweepCheck(t, err)
			arn := aws.ToString(out.CertificateArn)
			return arn[strings.LastIndex(arn, "/")+1:]
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.ACM().ListCertificates(context.Background(), &acm.ListCertificatesInput{})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.CertificateSummaryList, func(c acmtypes.CertificateSummary) bool {
				return strings.HasSuffix(aws.ToString(c.CertificateArn), "/"+id)
			})
		}},
	"web acl": {types: []string{"wafv2:web-acl"}, key: edge.KeyWAFACL,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			out, err := in.AWS.WAF().CreateWebACL(context.Background(), &wafv2.CreateWebACLInput{Name: &name, Scope: waftypes.ScopeRegional,
				DefaultAction:    &waftypes.DefaultAction{Allow: &waftypes.AllowAction{}},
				VisibilityConfig: &waftypes.VisibilityConfig{MetricName: &name},
				Tags:             sweepTags(tags, func(k, v string) waftypes.Tag { return waftypes.Tag{Key: &k, Value: &v} })})
			sweepCheck(t, err)
			return aws.ToString(out.Summary.Id)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			out, err := in.AWS.WAF().ListWebACLs(context.Background(), &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional})
			sweepCheck(t, err)
			return slices.ContainsFunc(out.WebACLs, func(a waftypes.WebACLSummary) bool { return aws.ToString(a.Id) == id })
		}},
	"hosted zone": {types: []string{"route53:hosted-zone"}, key: edge.KeyZone,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			// fvdeploy's caller reference marks a zone it created; an adopted one has another.
			return sweepZone(t, in, name, (&edge.HostedZone{In: in}).CallerRefPrefix()+name, tags)
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.Route53().GetHostedZone(context.Background(), &route53.GetHostedZoneInput{Id: &id})
			if edge.R53NotFound(err) {
				return false
			}
			sweepCheck(t, err)
			return true
		}},
	"function": {types: []string{"lambda:function"}, key: observability.KeyChatRelay,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			// Its role and log group are untagged: only the function is the test's.
			role, err := in.AWS.IAM().CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name + "-role"),
				AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
			sweepCheck(t, err)
			_, err = in.AWS.Lambda().CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: &name, Role: role.Role.Arn,
				Runtime: lambdatypes.RuntimePython312, Handler: aws.String("h.handler"), Code: &lambdatypes.FunctionCode{ZipFile: sweepZip(t)}, Tags: tags})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.Lambda().GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: &id})
			return present(t, err)
		}},
	"rule": {types: []string{"events:rule"}, key: clusterphase.KeyRotationRule,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			_, err := in.AWS.EventBridge().PutRule(context.Background(), &eventbridge.PutRuleInput{Name: &name,
				EventPattern: aws.String(clusterphase.RulePattern("arn:aws:ecs:us-east-1:123456789012:service/c/" + name)), Tags: clusterphase.EventTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.EventBridge().DescribeRule(context.Background(), &eventbridge.DescribeRuleInput{Name: &id})
			return present(t, err)
		}},
	"trail": {types: []string{"cloudtrail:trail"}, key: observability.KeyTrail,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			bucket := name + "-logs"
			_, err := in.AWS.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket})
			sweepCheck(t, err)
			_, err = in.AWS.CloudTrail().CreateTrail(context.Background(), &cloudtrail.CreateTrailInput{Name: &name, S3BucketName: &bucket, TagsList: observability.CTTags(tags)})
			sweepCheck(t, err)
			return name
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.CloudTrail().GetTrail(context.Background(), &cloudtrail.GetTrailInput{Name: &id})
			return present(t, err)
		}},
	"oidc provider": {types: []string{"iam:oidc-provider"}, key: cicd.KeyOIDCProvider,
		create: func(t *testing.T, in *kit.Inputs, name string, tags map[string]string) string {
			host := name + ".example.com"
			_, err := in.AWS.IAM().CreateOpenIDConnectProvider(context.Background(), &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://" + host),
				ClientIDList: []string{cicd.STSAudience}, ThumbprintList: []string{strings.Repeat("a", 40)}, Tags: kit.IAMTags(tags)})
			sweepCheck(t, err)
			return host
		},
		exists: func(t *testing.T, in *kit.Inputs, id string) bool {
			_, err := in.AWS.IAM().GetOpenIDConnectProvider(context.Background(), &iam.GetOpenIDConnectProviderInput{
				OpenIDConnectProviderArn: aws.String("arn:aws:iam::" + in.Account + ":oidc-provider/" + id)})
			return present(t, err)
		}},
}

// sweepZip is the smallest zip a Lambda function accepts; moto runs none of it.
func sweepZip(t *testing.T) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create("h.py")
	sweepCheck(t, err)
	_, err = f.Write([]byte("def handler(event, context):\n    return None\n"))
	sweepCheck(t, err)
	sweepCheck(t, w.Close())
	return buf.Bytes()
}

// sweepTags turns tags into any service's tag list.
func sweepTags[T any](tags map[string]string, tag func(k, v string) T) []T {
	var out []T
	for k, v := range tags {
		out = append(out, tag(k, v))
	}
	return out
}

func sweepZone(t *testing.T, in *kit.Inputs, name, callerRef string, tags map[string]string) string {
	out, err := in.AWS.Route53().CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{Name: aws.String(name + ".example.com"), CallerReference: &callerRef})
	sweepCheck(t, err)
	id := edge.ZoneID(aws.ToString(out.HostedZone.Id))
	if len(tags) > 0 {
		_, err = in.AWS.Route53().ChangeTagsForResource(context.Background(), &route53.ChangeTagsForResourceInput{ResourceType: r53types.TagResourceTypeHostedzone, ResourceId: &id,
			AddTags: sweepTags(tags, func(k, v string) r53types.Tag { return r53types.Tag{Key: &k, Value: &v} })})
		sweepCheck(t, err)
	}
	return id
}

func sweepEC2Tags(rt ec2types.ResourceType, tags map[string]string) []ec2types.TagSpecification {
	if len(tags) == 0 {
		return nil
	}
	return kit.EC2TagSpec(rt, tags)
}

// TestSweepFindsAndDeletesOnlyOwnedOrphans creates, behind fvdeploy's back, objects of
// several kinds with prod's tags (two of them with the same fvdeploy:key, as a retried
// create whose first answer was lost leaves them), and decoys of each kind: dev's,
// another app's, untagged ones named like prod's, and prod's that state records. The
// sweep must find exactly prod's unrecorded ones, and deleting them through the engine
// must leave every decoy.
func TestSweepFindsAndDeletesOnlyOwnedOrphans(t *testing.T) {
	prod, _ := phasetest.NewTestInputs(t, "prod", nil)
	dev, _ := phasetest.InputsBeside(t, "dev", nil)
	other, _ := phasetest.InputsBeside(t, "prod", nil)
	other.Config.App = "other-app"
	ctx := context.Background()

	type made struct{ kind, id string }
	var owned, decoys []made
	want := map[string]bool{} // "type id"
	for kind, f := range sweepFixtures {
		short := strings.ReplaceAll(kind, " ", "")
		for i := range 2 {
			id := f.create(t, prod, prod.Prefix()+"-"+short+string(rune('a'+i)), prod.Tags(f.key))
			owned = append(owned, made{kind, id})
			for _, typ := range f.types {
				want[typ+" "+id] = true
			}
		}
		for _, d := range []*kit.Inputs{dev, other} {
			decoys = append(decoys, made{kind, f.create(t, d, d.Prefix()+"-"+short, d.Tags(f.key))})
		}
		decoys = append(decoys, made{kind, f.create(t, prod, prod.Prefix()+"-"+short+"-untagged", nil)})
	}
	// A zone carrying prod's tags that fvdeploy did not create (an adopted parent zone)
	// is never the environment's to delete.
	decoys = append(decoys, made{"hosted zone", sweepZone(t, prod, "parent", "someone-else", prod.Tags(edge.KeyZone))})
	// One of prod's objects is recorded: it is state's to delete, not the sweep's.
	doc := phasetest.NewDoc(prod)
	recordedEIP := sweepFixtures["eip"].create(t, prod, "", prod.Tags("network/eip-nat-b"))
	doc.Resources["network/eip-nat-b"] = &state.Resource{Type: "ec2:eip", ID: recordedEIP}
	// A recorded group whose rules' record is gone (a resumed destroy revoked them) is
	// state's too, rules and all.
	recordedSG := sweepFixtures["security group"].create(t, prod, prod.Prefix()+"-recorded", prod.Tags("network/sg-ecs"))
	doc.Resources["network/sg-ecs"] = &state.Resource{Type: "ec2:security-group", ID: recordedSG}

	orphans, err := sweep.Sweep(ctx, prod, doc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	keys := map[string]bool{}
	for _, o := range orphans {
		got[o.Type+" "+o.ID] = true
		if keys[o.Key] {
			t.Errorf("two orphans under key %s", o.Key)
		}
		keys[o.Key] = true
		if o.Record.Type != o.Type || o.Record.ID != o.ID {
			t.Errorf("orphan %s has record %+v", o, o.Record)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("sweep missed %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("sweep found %s, which is not prod's or is recorded", k)
		}
	}

	sweep.AddOrphans(doc, orphans)
	res, err := phasetest.NewEngine(t, prod).Destroy(ctx, nil, doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("deleting the orphans: %v", err)
	}
	for _, m := range owned {
		if sweepFixtures[m.kind].exists(t, prod, m.id) {
			t.Errorf("orphan %s %s is still there", m.kind, m.id)
		}
	}
	for _, m := range decoys {
		if !sweepFixtures[m.kind].exists(t, prod, m.id) {
			t.Errorf("decoy %s %s was deleted", m.kind, m.id)
		}
	}
	if left, err := sweep.Sweep(ctx, prod, phasetest.NewDoc(prod)); err != nil || len(left) != 0 {
		t.Errorf("a second sweep finds %v (err %v)", left, err)
	}
}

// TestSweepOrdersOrphansForTeardown checks that orphans are deleted after what depends
// on them and before what they depend on, recorded or not: moto deletes in any order,
// so the order of the calls is the proof.
func TestSweepOrdersOrphansForTeardown(t *testing.T) {
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	ctx := context.Background()
	e := in.AWS.EC2()
	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.78.0.0/16"), TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeVpc, in.Tags(kit.KeyVPC))})
	sweepCheck(t, err)
	vpcID := aws.ToString(vpc.Vpc.VpcId)
	// The VPC is recorded; a subnet and a NAT gateway in it, and the NAT's address, are not.
	doc := phasetest.NewDoc(in)
	doc.Resources[kit.KeyVPC] = &state.Resource{Type: "ec2:vpc", ID: vpcID}
	sub, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String("10.78.0.0/20"), TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeSubnet, in.Tags("network/subnet-public-a"))})
	sweepCheck(t, err)
	eip, err := e.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc, TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeElasticIp, in.Tags("network/eip-nat-a"))})
	sweepCheck(t, err)
	_, err = e.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: sub.Subnet.SubnetId, AllocationId: eip.AllocationId, TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeNatgateway, in.Tags("network/nat-a"))})
	sweepCheck(t, err)

	orphans, err := sweep.Sweep(ctx, in, doc)
	sweepCheck(t, err)
	var types []string
	for _, o := range orphans {
		types = append(types, o.Type)
	}
	if slices.Sort(types); !slices.Equal(types, []string{"ec2:eip", "ec2:nat-gateway", "ec2:subnet"}) {
		t.Fatalf("sweep found %v", orphans)
	}
	sweep.AddOrphans(doc, orphans)
	mark := len(rec.Calls())
	res, err := phasetest.NewEngine(t, in).Destroy(ctx, nil, doc, func(context.Context, *state.Document) error { return nil })
	sweepCheck(t, err)
	sweepCheck(t, res.Err())
	for _, p := range [][2]string{{"EC2.DeleteNatGateway", "EC2.ReleaseAddress"}, {"EC2.DeleteNatGateway", "EC2.DeleteSubnet"}, {"EC2.DeleteSubnet", "EC2.DeleteVpc"}} {
		first, then := phasetest.CallIndex(rec, mark, p[0]), phasetest.CallIndex(rec, mark, p[1])
		if first < 0 || then < 0 || first > then {
			t.Errorf("%s must come before %s (positions %d, %d)", p[0], p[1], first, then)
		}
	}
}

// TestSweepKindsHaveDeleters: every type the sweep reports must have a deleter, or
// destroy would find an orphan it cannot remove, and no kind may be built on itself.
func TestSweepKindsHaveDeleters(t *testing.T) {
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	deleters, err := phases.Deleters(in)
	sweepCheck(t, err)
	types := []string{"secretsmanager:webhook-secret"} // a secret lister's other type
	for _, k := range sweep.Kinds {
		types = append(types, k.Typ)
	}
	for _, typ := range types {
		if _, ok := deleters[typ]; !ok {
			t.Errorf("the sweep lists %s, which no deleter removes", typ)
		}
		if sweep.Underneath(typ)[typ] {
			t.Errorf("%s is built on itself: destroy could not order it", typ)
		}
	}
}

// TestSweepLeavesTheSharedRepositoryToOtherEnvs: an ECR repository no state records,
// shared by dev and prod (fvdeploy:envs), is found by both; prod's sweep only takes prod
// off it, and it goes with dev, the last environment.
func TestSweepLeavesTheSharedRepositoryToOtherEnvs(t *testing.T) {
	prod, _ := phasetest.NewTestInputs(t, "prod", nil)
	dev, _ := phasetest.InputsBeside(t, "dev", nil)
	ctx := context.Background()
	repo := (&image.Repository{In: prod}).WantTags(map[string]string{engine.TagEnvs: "dev"})
	if _, err := prod.AWS.ECR().CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(prod.Config.ImageRepository()), Tags: image.ECRTags(repo)}); err != nil {
		t.Fatal(err)
	}
	envs := func() (string, bool) {
		out, err := prod.AWS.ECR().DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
		sweepCheck(t, err)
		if len(out.Repositories) == 0 {
			return "", false
		}
		tags, err := prod.AWS.ECR().ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: out.Repositories[0].RepositoryArn})
		sweepCheck(t, err)
		for _, tg := range tags.Tags {
			if aws.ToString(tg.Key) == engine.TagEnvs {
				return aws.ToString(tg.Value), true
			}
		}
		return "", true
	}
	sweepAndDestroy := func(in *kit.Inputs) {
		t.Helper()
		doc := phasetest.NewDoc(in)
		orphans, err := sweep.Sweep(ctx, in, doc)
		sweepCheck(t, err)
		if len(orphans) != 1 || orphans[0].Type != "ecr:repository" || orphans[0].ID != in.Config.ImageRepository() {
			t.Fatalf("%s's sweep found %v", in.Config.Env, orphans)
		}
		sweep.AddOrphans(doc, orphans)
		res, err := phasetest.NewEngine(t, in).Destroy(ctx, nil, doc, func(context.Context, *state.Document) error { return nil })
		sweepCheck(t, err)
		sweepCheck(t, res.Err())
	}
	sweepAndDestroy(prod)
	if got, exists := envs(); !exists || got != "dev" {
		t.Fatalf("after prod's sweep the repository exists %v with fvdeploy:envs %q, want dev's alone", exists, got)
	}
	if left, err := sweep.Sweep(ctx, prod, phasetest.NewDoc(prod)); err != nil || len(left) != 0 {
		t.Errorf("prod's second sweep finds %v (err %v)", left, err)
	}
	sweepAndDestroy(dev)
	if _, exists := envs(); exists {
		t.Error("the repository outlived its last environment")
	}
}

// TestSweepFindsAServiceOutsideState: a second service in the recorded cluster, with its
// scalable target and policy, none of them recorded, as a lost answer to CreateService
// leaves them. The sweep finds all three, and destroy takes the policy, the target and the
// service down before the cluster (moto would delete in any order: the calls prove it).
// Another environment's service in a cluster of its own stays.
func TestSweepFindsAServiceOutsideState(t *testing.T) {
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	dev, _ := phasetest.InputsBeside(t, "dev", nil)
	ctx := context.Background()
	scale := func(in *kit.Inputs, cluster, svc string) string {
		e := in.AWS.ECS()
		c, err := e.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: &cluster, Tags: clusterphase.ECSTags(in.Tags(kit.KeyCluster))})
		sweepCheck(t, err)
		_, err = e.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: &svc,
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(phasetest.TestImage), Memory: aws.Int32(512)}}})
		sweepCheck(t, err)
		_, err = e.CreateService(ctx, &ecs.CreateServiceInput{Cluster: &cluster, ServiceName: &svc, TaskDefinition: &svc, DesiredCount: aws.Int32(1), Tags: clusterphase.ECSTags(in.Tags(kit.KeyService))})
		sweepCheck(t, err)
		id := "service/" + cluster + "/" + svc
		_, err = in.AWS.AutoScaling().RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
			ResourceId: &id, ScalableDimension: clusterphase.ECSDesiredCount, MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(2)})
		sweepCheck(t, err)
		_, err = in.AWS.AutoScaling().PutScalingPolicy(ctx, &applicationautoscaling.PutScalingPolicyInput{PolicyName: aws.String(svc + "-cpu"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
			ResourceId: &id, ScalableDimension: clusterphase.ECSDesiredCount, PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(60),
				PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization}}})
		sweepCheck(t, err)
		return aws.ToString(c.Cluster.ClusterArn)
	}
	clusterARN := scale(in, clusterphase.ClusterName(in), clusterphase.ServiceName(in)+"-2")
	scale(dev, clusterphase.ClusterName(dev), clusterphase.ServiceName(dev))
	doc := phasetest.NewDoc(in)
	doc.Resources[kit.KeyCluster] = &state.Resource{Type: "ecs:cluster", ID: clusterphase.ClusterName(in), ARN: clusterARN}

	orphans, err := sweep.Sweep(ctx, in, doc)
	sweepCheck(t, err)
	var got []string
	for _, o := range orphans {
		got = append(got, o.Type+" "+o.ID)
	}
	// The task definitions are registered untagged: they are nobody's.
	want := []string{"ecs:service " + clusterphase.ServiceName(in) + "-2",
		"application-autoscaling:scalable-target service/" + clusterphase.ClusterName(in) + "/" + clusterphase.ServiceName(in) + "-2",
		"application-autoscaling:scaling-policy " + clusterphase.ServiceName(in) + "-2-cpu"}
	if !slices.Equal(got, want) {
		t.Fatalf("sweep found %v, want %v", got, want)
	}
	sweep.AddOrphans(doc, orphans)
	mark := len(rec.Calls())
	res, err := phasetest.NewEngine(t, in).Destroy(ctx, nil, doc, func(context.Context, *state.Document) error { return nil })
	sweepCheck(t, err)
	sweepCheck(t, res.Err())
	order := []string{"Application Auto Scaling.DeleteScalingPolicy", "Application Auto Scaling.DeregisterScalableTarget", "ECS.DeleteService", "ECS.DeleteCluster"}
	for i := 1; i < len(order); i++ {
		first, then := phasetest.CallIndex(rec, mark, order[i-1]), phasetest.CallIndex(rec, mark, order[i])
		if first < 0 || then < 0 || first > then {
			t.Errorf("%s must come before %s (positions %d, %d)", order[i-1], order[i], first, then)
		}
	}
	if left, err := sweep.Sweep(ctx, dev, phasetest.NewDoc(dev)); err != nil || len(left) != 4 {
		t.Errorf("dev's cluster, service, target and policy after prod's destroy: %v (err %v)", left, err)
	}
}
