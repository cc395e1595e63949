package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// destroyCluster removes the stand-in network from doc and destroys the rest.
func destroyCluster(t *testing.T, in *kit.Inputs, doc *state.Document, netKeys []string) {
	t.Helper()
	for _, k := range netKeys {
		delete(doc.Resources, k)
	}
	phasetest.DestroyAll(t, in, doc)
	if len(doc.Resources) != 0 {
		t.Fatalf("state after destroy still holds %v", slices.Collect(func(yield func(string) bool) {
			for k := range doc.Resources {
				if !yield(k) {
					return
				}
			}
		}))
	}
}

func TestClusterProdApplyConvergeDriftDestroy(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	progress := &phasetest.ProgressLog{T: t}
	in.Progress = progress.Printf
	doc := phasetest.NewDoc(in)
	netKeys := phasetest.FakeNetwork(t, in, doc)

	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")

	// ---- what exists, read back through the AWS API ----
	sm := in.AWS.SecretsManager()
	secrets, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"fastapi-vars-prod-admin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.SecretList) != 1 {
		t.Fatalf("secrets named fastapi-vars-prod-admin: %d, want 1", len(secrets.SecretList))
	}
	secretARN := aws.ToString(secrets.SecretList[0].ARN)
	val, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretARN})
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(val.SecretString)), &creds); err != nil {
		t.Fatalf("secret value is not JSON: %v", err)
	}
	if prev, ok := creds["ADMIN_PASS_PREVIOUS"]; len(creds) != 3 || creds["ADMIN_USER"] != "admin" || len(creds["ADMIN_PASS"]) != 32 || !ok || prev != "" {
		t.Fatalf("secret keys: user %q, password of %d chars, previous %t of %d chars, %d keys; want admin, 32, an empty previous, 3", creds["ADMIN_USER"], len(creds["ADMIN_PASS"]), ok, len(prev), len(creds))
	}
	generated := creds["ADMIN_PASS"]
	if strings.Contains(progress.String(), generated) {
		t.Fatal("the generated password was shown in the progress output")
	}
	if !strings.Contains(progress.String(), "aws secretsmanager get-secret-value --secret-id fastapi-vars-prod-admin --query SecretString --output text") {
		t.Errorf("the user was not told how to read the generated password; output:\n%s", progress)
	}

	ecsc := in.AWS.ECS()
	clusters, err := ecsc.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters.ClusterArns) != 1 {
		t.Fatalf("clusters: %v, want 1", clusters.ClusterArns)
	}
	dc, err := ecsc.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: clusters.ClusterArns, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldSettings}})
	if err != nil {
		t.Fatal(err)
	}
	if c := dc.Clusters[0]; aws.ToString(c.ClusterName) != "fastapi-vars-prod" || len(c.Settings) == 0 || aws.ToString(c.Settings[0].Value) != "enabled" {
		t.Fatalf("cluster %s settings %+v: want fastapi-vars-prod with containerInsights enabled", aws.ToString(c.ClusterName), c.Settings)
	}

	groups, err := in.AWS.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var groupNames []string
	for _, g := range groups.LogGroups {
		if aws.ToInt32(g.RetentionInDays) == 30 && aws.ToString(g.KmsKeyId) != "" {
			groupNames = append(groupNames, aws.ToString(g.LogGroupName))
		}
	}
	// The second is the rotation function's: prod rotates the admin secret every 30 days.
	if !slices.Equal(groupNames, []string{"/aws/lambda/fastapi-vars-prod-secret-rotation", "/ecs/fastapi-vars-prod"}) {
		t.Fatalf("log groups kept 30 days under the key: %v; want /ecs/fastapi-vars-prod and the rotation function's", groupNames)
	}

	iamc := in.AWS.IAM()
	roles, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var roleNames []string
	for _, r := range roles.Roles {
		if strings.HasPrefix(aws.ToString(r.RoleName), "fastapi-vars-prod") {
			roleNames = append(roleNames, aws.ToString(r.RoleName))
		}
	}
	slices.Sort(roleNames)
	// ECS shifts prod's canary traffic with -ecs-lb; -secret-rotation is the rotation function's.
	if !slices.Equal(roleNames, []string{"fastapi-vars-prod-ecs-lb", "fastapi-vars-prod-exec", "fastapi-vars-prod-secret-rotation", "fastapi-vars-prod-task"}) {
		t.Fatalf("roles: %v", roleNames)
	}
	assertExecutionPolicy(t, in, secretARN)
	assertRotation(t, in, doc, secretARN)
	if pols, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("fastapi-vars-prod-task")}); err != nil || len(pols.PolicyNames) != 0 {
		t.Fatalf("task role policies: %v %v, want none", pols, err)
	}

	tds, err := ecsc.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if len(tds.TaskDefinitionArns) != 1 {
		t.Fatalf("task definitions: %v, want 1", tds.TaskDefinitionArns)
	}
	td := describeTaskDef(t, in, tds.TaskDefinitionArns[0])
	if aws.ToString(td.Cpu) != "256" || aws.ToString(td.Memory) != "512" || td.NetworkMode != ecstypes.NetworkModeAwsvpc ||
		!slices.Contains(td.RequiresCompatibilities, ecstypes.CompatibilityFargate) {
		t.Errorf("task definition cpu %s memory %s mode %s compat %v", aws.ToString(td.Cpu), aws.ToString(td.Memory), td.NetworkMode, td.RequiresCompatibilities)
	}
	c := td.ContainerDefinitions[0]
	want := map[string]string{"ADMIN_USER": secretARN + ":ADMIN_USER::", "ADMIN_PASS": secretARN + ":ADMIN_PASS::", "ADMIN_PASS_PREVIOUS": secretARN + ":ADMIN_PASS_PREVIOUS::"}
	got := map[string]string{}
	for _, s := range c.Secrets {
		got[aws.ToString(s.Name)] = aws.ToString(s.ValueFrom)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("container secrets %v, want %v", got, want)
	}
	for _, e := range c.Environment {
		if strings.HasPrefix(aws.ToString(e.Name), "ADMIN_") {
			t.Errorf("container environment carries %s", aws.ToString(e.Name))
		}
	}
	if c.LogConfiguration == nil || c.LogConfiguration.LogDriver != ecstypes.LogDriverAwslogs ||
		c.LogConfiguration.Options["awslogs-group"] != "/ecs/fastapi-vars-prod" || c.LogConfiguration.Options["awslogs-region"] != "us-east-1" {
		t.Errorf("log configuration %+v", c.LogConfiguration)
	}
	if aws.ToString(c.Image) != phasetest.TestImage || !aws.ToBool(c.ReadonlyRootFilesystem) || aws.ToInt32(c.Memory) != 512 ||
		c.HealthCheck == nil || !strings.Contains(strings.Join(c.HealthCheck.Command, " "), "http://127.0.0.1:8000/health") {
		t.Errorf("container image %s readonly %v memory %d health %+v", aws.ToString(c.Image), aws.ToBool(c.ReadonlyRootFilesystem), aws.ToInt32(c.Memory), c.HealthCheck)
	}

	svc := describeService(t, in)
	nc := svc.NetworkConfiguration.AwsvpcConfiguration
	wantSubnets := []string{doc.Resources["network/subnet-private-a"].ID, doc.Resources["network/subnet-private-b"].ID}
	if svc.DesiredCount != 2 || svc.LaunchType != ecstypes.LaunchTypeFargate || nc.AssignPublicIp != ecstypes.AssignPublicIpDisabled ||
		!slices.Equal(slices.Sorted(slices.Values(nc.Subnets)), slices.Sorted(slices.Values(wantSubnets))) ||
		!slices.Equal(nc.SecurityGroups, []string{doc.Resources[kit.KeySG(kit.SGECS)].ID}) {
		t.Errorf("service desired %d launch %s network %+v; want 2 FARGATE in %v without public IP", svc.DesiredCount, svc.LaunchType, nc, wantSubnets)
	}
	if len(svc.LoadBalancers) != 1 || aws.ToString(svc.LoadBalancers[0].TargetGroupArn) != doc.Resources[kit.KeyTG].ARN ||
		aws.ToString(svc.LoadBalancers[0].ContainerName) != "app" || aws.ToInt32(svc.LoadBalancers[0].ContainerPort) != 8000 {
		t.Errorf("service load balancers %+v", svc.LoadBalancers)
	}
	if aws.ToString(svc.TaskDefinition) != tds.TaskDefinitionArns[0] {
		t.Errorf("service runs %s, want %s", aws.ToString(svc.TaskDefinition), tds.TaskDefinitionArns[0])
	}

	aas := in.AWS.AutoScaling()
	targets, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets.ScalableTargets) != 1 || aws.ToString(targets.ScalableTargets[0].ResourceId) != "service/fastapi-vars-prod/fastapi-vars-prod" ||
		aws.ToInt32(targets.ScalableTargets[0].MinCapacity) != 2 || aws.ToInt32(targets.ScalableTargets[0].MaxCapacity) != 6 {
		t.Fatalf("scalable targets %+v; want one, 2..6", targets.ScalableTargets)
	}
	policies, err := aas.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	if err != nil {
		t.Fatal(err)
	}
	if len(policies.ScalingPolicies) != 1 || policies.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration == nil ||
		aws.ToFloat64(policies.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.TargetValue) != 60 ||
		policies.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType != aastypes.MetricTypeECSServiceAverageCPUUtilization {
		t.Fatalf("scaling policies %+v; want one tracking CPU at 60", policies.ScalingPolicies)
	}

	// The service-linked role was ensured before the service was created.
	if i, j := phasetest.CallIndex(rec, 0, "IAM.CreateServiceLinkedRole"), phasetest.CallIndex(rec, 0, "ECS.CreateService"); i < 0 || i > j {
		t.Errorf("CreateServiceLinkedRole at %d, CreateService at %d: the role must come first", i, j)
	}

	// ---- a second run changes nothing, and reads little ----
	from := len(rec.Calls())
	res := phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Fatalf("second apply made mutating calls: %v", m)
	}
	if res.Changed() {
		t.Fatalf("second apply reports changes: %+v", res.Items)
	}
	// The rotation's rule takes 4 reads (the rule, its targets and tags, the function's policy).
	if reads, n := len(rec.Calls())-from, len(res.Items); float64(reads) > 1.5*float64(n-1)+4 {
		t.Errorf("no-op apply made %d read calls for %d resources (budget 1.5 per resource, 4 for the rotation rule)", reads, n)
	}
	if plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster"); plan.Changed() {
		t.Fatalf("plan on a converged environment: %+v", plan.Items)
	}

	// With no image given, a plan keeps what runs instead of failing or rolling back.
	in.Image = imagechoice.Keep()
	if plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster"); plan.Changed() {
		t.Fatalf("plan without --image on a converged environment: %+v", plan.Items)
	}
	in.Image = imagechoice.Use(phasetest.TestImage)

	// ---- drift: desired count out of band ----
	if _, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("fastapi-vars-prod"), Service: aws.String("fastapi-vars-prod"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	it := phasetest.Item(plan, kit.KeyService)
	if it.Action != engine.Update || !slices.ContainsFunc(it.Changes, func(c engine.Change) bool { return c.Field == "desired_count" && c.From == "0" && c.To == "2" }) {
		t.Fatalf("plan after desired count drift: %+v", it)
	}
	// 9 resources, 3 for prod's canary (the alternate target group, the rule, the role) and
	// 5 for its secret rotation (log group, role, function, rule, schedule); the
	// environment's KMS key is the network phase's.
	if len(plan.Items) != 17 || slices.ContainsFunc(plan.Items, func(i engine.Item) bool { return i.Key != kit.KeyService && i.Action != engine.NoOp }) {
		t.Fatalf("plan touches more than the service: %+v", plan.Items)
	}
	from = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"ECS.UpdateService"}) {
		t.Errorf("restoring the desired count took %v, want one UpdateService", m)
	}
	if svc := describeService(t, in); svc.DesiredCount != 2 {
		t.Fatalf("desired count after apply: %d, want 2", svc.DesiredCount)
	}
	// Inside [min, max] the count is autoscaling's: no drift.
	if _, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("fastapi-vars-prod"), Service: aws.String("fastapi-vars-prod"), DesiredCount: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	if plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster"); plan.Changed() {
		t.Fatalf("a desired count inside [min, max] read as drift: %+v", phasetest.Item(plan, kit.KeyService))
	}

	// ---- drift: the execution role's policy widened out of band ----
	if _, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("fastapi-vars-prod-exec"), PolicyName: aws.String(kinds.InlinePolicyName),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets", "cluster"), kit.KeyExecRole); it.Action != engine.Update {
		t.Fatalf("plan after widening the execution policy: %+v", it)
	}
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	assertExecutionPolicy(t, in, secretARN)

	// ---- a new image registers one revision and rolls the service to it ----
	in.Image = imagechoice.Use(strings.Replace(phasetest.TestImage, "@sha256:0f", "@sha256:1f", 1))
	from = len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); !slices.Equal(m, []string{"ECS.RegisterTaskDefinition", "ECS.UpdateService"}) {
		t.Errorf("a new image took %v, want RegisterTaskDefinition then UpdateService", m)
	}
	if svc := describeService(t, in); aws.ToString(svc.TaskDefinition) != doc.Resources[clusterphase.KeyTaskDef].ARN || !strings.HasSuffix(doc.Resources[clusterphase.KeyTaskDef].ARN, ":2") {
		t.Errorf("service runs %s, state records %s; want revision 2 in both", aws.ToString(svc.TaskDefinition), doc.Resources[clusterphase.KeyTaskDef].ARN)
	}

	// ---- destroy: everything gone, in dependency order ----
	from = len(rec.Calls())
	destroyCluster(t, in, doc, netKeys)
	order := [][2]string{
		{"Application Auto Scaling.DeleteScalingPolicy", "Application Auto Scaling.DeregisterScalableTarget"},
		{"Application Auto Scaling.DeregisterScalableTarget", "ECS.DeleteService"},
		{"ECS.DeleteService", "ECS.DeleteCluster"},
		{"ECS.DeleteService", "ECS.DeregisterTaskDefinition"},
		// The canary's objects outlive the service that uses them.
		{"ECS.DeleteService", "Elastic Load Balancing v2.DeleteRule"},
		{"Elastic Load Balancing v2.DeleteRule", "Elastic Load Balancing v2.DeleteTargetGroup"},
	}
	for _, o := range order {
		if i, j := phasetest.LastCallIndex(rec, from, o[0]), phasetest.CallIndex(rec, from, o[1]); i < 0 || j < 0 || i > j {
			t.Errorf("destroy: %s (at %d) must come before %s (at %d)", o[0], i, o[1], j)
		}
	}
	// The task definition's two roles go after it; the traffic-shifting and rotation roles,
	// which it does not name, may go before it.
	if i := phasetest.LastCallIndex(rec, from, "ECS.DeregisterTaskDefinition"); i < 0 || phasetest.CountCalls(rec, i, "IAM.DeleteRole") < 2 {
		t.Errorf("destroy: the execution or task role went before the task definition (last deregistered at %d)", i)
	}
	if n := phasetest.CountCalls(rec, from, "IAM.DeleteRole"); n != 4 {
		t.Errorf("destroy deleted %d roles, want 4 (execution, task, traffic shifting, secret rotation)", n)
	}
	// Rotation stops before its function goes, and the secret after both.
	for _, o := range [][2]string{
		{"Secrets Manager.CancelRotateSecret", "Lambda.DeleteFunction"},
		{"EventBridge.DeleteRule", "Lambda.DeleteFunction"},
		{"Lambda.DeleteFunction", "Secrets Manager.DeleteSecret"},
	} {
		if i, j := phasetest.LastCallIndex(rec, from, o[0]), phasetest.CallIndex(rec, from, o[1]); i < 0 || j < 0 || i > j {
			t.Errorf("destroy: %s (at %d) must come before %s (at %d)", o[0], i, o[1], j)
		}
	}
	assertClusterGone(t, in)
}

func assertExecutionPolicy(t *testing.T, in *kit.Inputs, secretARN string) {
	t.Helper()
	out, err := in.AWS.IAM().GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String("fastapi-vars-prod-exec"), PolicyName: aws.String(kinds.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := kit.DecodePolicy(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("execution policy is not JSON: %v\n%s", err, doc)
	}
	grants := map[string][]string{} // action -> resources
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			t.Errorf("unexpected effect %q", s.Effect)
		}
		for _, a := range kit.AsList(s.Action) {
			for _, r := range kit.AsList(s.Resource) {
				grants[a.(string)] = append(grants[a.(string)], r.(string))
			}
		}
	}
	want := map[string][]string{
		"ecr:GetAuthorizationToken":       {"*"},
		"ecr:BatchCheckLayerAvailability": {"arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars"},
		"ecr:GetDownloadUrlForLayer":      {"arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars"},
		"ecr:BatchGetImage":               {"arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars"},
		"logs:CreateLogStream":            {"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/fastapi-vars-prod:*"},
		"logs:PutLogEvents":               {"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/fastapi-vars-prod:*"},
		"secretsmanager:GetSecretValue":   {secretARN},
	}
	if fmt.Sprint(grants) != fmt.Sprint(want) {
		t.Fatalf("execution policy grants\n%v\nwant\n%v", grants, want)
	}
}

func describeTaskDef(t *testing.T, in *kit.Inputs, arn string) *ecstypes.TaskDefinition {
	t.Helper()
	out, err := in.AWS.ECS().DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return out.TaskDefinition
}

func describeService(t *testing.T, in *kit.Inputs) ecstypes.Service {
	t.Helper()
	out, err := in.AWS.ECS().DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(in.Prefix()), Services: []string{in.Prefix()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("services: %+v failures %+v", out.Services, out.Failures)
	}
	return out.Services[0]
}

// assertClusterGone checks, service by service, that nothing of the secrets and cluster
// phases is left; the emulator keeps deleted ECS objects as INACTIVE, which is gone.
func assertClusterGone(t *testing.T, in *kit.Inputs) {
	t.Helper()
	ctx := context.Background()
	if out, err := in.AWS.SecretsManager().ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)}); err != nil || len(out.SecretList) != 0 {
		t.Errorf("secrets left: %v %v", out, err)
	}
	ecsc := in.AWS.ECS()
	if out, err := ecsc.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{in.Prefix()}}); err != nil {
		t.Error(err)
	} else {
		for _, c := range out.Clusters {
			if aws.ToString(c.Status) != "INACTIVE" {
				t.Errorf("cluster %s is %s", aws.ToString(c.ClusterName), aws.ToString(c.Status))
			}
		}
	}
	if out, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(in.Prefix()), Services: []string{in.Prefix()}}); err == nil {
		for _, s := range out.Services {
			if aws.ToString(s.Status) != "INACTIVE" {
				t.Errorf("service %s is %s", aws.ToString(s.ServiceName), aws.ToString(s.Status))
			}
		}
	} else if !kit.IsNotFound(err) {
		t.Error(err)
	}
	if out, err := ecsc.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusActive}); err != nil || len(out.TaskDefinitionArns) != 0 {
		t.Errorf("active task definitions left: %v %v", out.TaskDefinitionArns, err)
	}
	if out, err := in.AWS.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{}); err != nil || len(out.LogGroups) != 0 {
		t.Errorf("log groups left: %v %v", out, err)
	}
	for _, name := range []string{in.Prefix() + "-exec", in.Prefix() + "-task"} {
		if _, err := in.AWS.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); !kit.IsNotFound(err) {
			t.Errorf("role %s: %v, want NoSuchEntity", name, err)
		}
	}
	aas := in.AWS.AutoScaling()
	if out, err := aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}); err != nil || len(out.ScalableTargets) != 0 {
		t.Errorf("scalable targets left: %v %v", out, err)
	}
	if out, err := aas.DescribeScalingPolicies(ctx, &applicationautoscaling.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}); err != nil || len(out.ScalingPolicies) != 0 {
		t.Errorf("scaling policies left: %v %v", out, err)
	}
}

// A destroy works from state alone, with both IAM roles handled by whichever role
// resource the Deleters map holds, and a second destroy is a clean no-op.
func TestClusterDestroyFromStateOnlyIsRerunnable(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	doc := phasetest.NewDoc(in)
	netKeys := phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	snapshot, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// Without an image the phase still declares, and destroy still works.
	in.Image = imagechoice.Keep()
	destroyCluster(t, in, doc, netKeys)
	assertClusterGone(t, in)
	// The same state again: every object is already gone.
	var again state.Document
	if err := json.Unmarshal(snapshot, &again); err != nil {
		t.Fatal(err)
	}
	destroyCluster(t, in, &again, netKeys)
}

// Without an image and with nothing deployed, the task definition says what to do.
func TestClusterNoImageIsAClearError(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	in.Image = imagechoice.Keep()
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	resources := phasetest.Declared(t, in, "secrets", "cluster") // declaring never fails
	res, err := phasetest.ScopedEngine(t, in, "secrets", "cluster").Apply(context.Background(), resources, doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "no image to run: pass --image URI or run the image phase") {
		t.Fatalf("apply without an image: %v", err)
	}
	if it := phasetest.Item(res, clusterphase.KeyTaskDef); it.Err == nil {
		t.Fatalf("task definition item: %+v", it)
	}
}

func TestClusterDevSettings(t *testing.T) {
	ctx := context.Background()
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	dc, err := in.AWS.ECS().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"fastapi-vars-dev"}, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldSettings}})
	if err != nil {
		t.Fatal(err)
	}
	if s := dc.Clusters[0].Settings; len(s) != 1 || aws.ToString(s[0].Value) != "disabled" {
		t.Errorf("dev cluster settings %+v, want containerInsights disabled", s)
	}
	if svc := describeService(t, in); svc.DesiredCount != 1 {
		t.Errorf("dev desired count %d, want 1", svc.DesiredCount)
	}
	groups, err := in.AWS.Logs().DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 7 {
		t.Errorf("dev retention %d, want 7", aws.ToInt32(groups.LogGroups[0].RetentionInDays))
	}
	// Config drift in the other direction: retention and insights change with the config.
	in.Config.Logs.RetentionDays = 14
	in.Config.Observability.ContainerInsights = true
	plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster")
	if it := phasetest.Item(plan, clusterphase.KeyLogGroup); it.Action != engine.Update {
		t.Errorf("log group after a retention change: %+v", it)
	}
	if it := phasetest.Item(plan, kit.KeyCluster); it.Action != engine.Update {
		t.Errorf("cluster after an insights change: %+v", it)
	}
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if plan := phasetest.PlanPhases(t, in, doc, "secrets", "cluster"); plan.Changed() {
		t.Errorf("not converged after the config change: %+v", plan.Items)
	}
}

// ---- pure functions ----

func TestClusterECRRepositoryARN(t *testing.T) {
	for image, want := range map[string]string{
		phasetest.TestImage: "arn:aws:ecr:us-east-1:123456789012:repository/fastapi-vars",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:v1.2":  "arn:aws:ecr:eu-west-1:123456789012:repository/team/api",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/api":            "arn:aws:ecr:us-east-1:123456789012:repository/api",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api:latest": "arn:aws-cn:ecr:cn-north-1:123456789012:repository/api",
		"210987654321.dkr.ecr.us-east-1.amazonaws.com/api:latest":     "", // another account
		"ghcr.io/org/api:latest":                                      "",
		"python:3.11-slim":                                            "",
		"localhost:5000/api:latest":                                   "",
		"":                                                            "",
	} {
		if got := kit.ECRRepositoryARN(image, "123456789012"); got != want {
			t.Errorf("ecrRepositoryARN(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestClusterPolicyDiffIsSemantic(t *testing.T) {
	want := kit.PolicyJSON(kit.PolicyStatement{Sid: "A", Effect: "Allow", Action: []string{"b:Y", "a:X"}, Resource: []string{"*"}},
		kit.PolicyStatement{Effect: "Allow", Principal: map[string]string{"Service": "ecs-tasks.amazonaws.com"}, Action: []string{"sts:AssumeRole"}})
	same := `%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22ecs-tasks.amazonaws.com%22%5D%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%2C%7B%22Sid%22%3A%22A%22%2C%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22a%3AX%22%2C%22b%3AY%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D`
	if d, err := kit.PolicyDiff(same, want); err != nil || d != nil {
		t.Fatalf("URL-encoded, reordered, collapsed policy read as different: %+v %v", d, err)
	}
	wider := `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":["a:X","b:Y","c:Z"],"Resource":"*"},{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if d, err := kit.PolicyDiff(wider, want); err != nil || d == nil || d.To != want {
		t.Fatalf("a wider policy read as equal: %+v %v", d, err)
	}
}

func TestClusterBoundedName(t *testing.T) {
	long := strings.Repeat("a", 70) + "-prod-exec"
	got := kit.BoundedName(long, 64)
	if len(got) > 64 || got != kit.BoundedName(long, 64) || got == kit.BoundedName(strings.Repeat("a", 70)+"-prod-task", 64) {
		t.Fatalf("boundedName: %q (%d chars)", got, len(got))
	}
	if kit.BoundedName("short", 64) != "short" {
		t.Fatal("a short name changed")
	}
}

// The rendering compares equal definitions as equal however ECS echoes the defaults.
func TestClusterTaskDefRenderingNormalizes(t *testing.T) {
	a := &ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), RequiresCompatibilities: []ecstypes.Compatibility{"FARGATE", "EC2"},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Essential: aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8000), Protocol: "tcp"}},
			Secrets:      []ecstypes.Secret{{Name: aws.String("B"), ValueFrom: aws.String("y")}, {Name: aws.String("A"), ValueFrom: aws.String("x")}}}}}
	b := &ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), RequiresCompatibilities: []ecstypes.Compatibility{"EC2", "FARGATE"},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8000), HostPort: aws.Int32(8000)}},
			Secrets:      []ecstypes.Secret{{Name: aws.String("A"), ValueFrom: aws.String("x")}, {Name: aws.String("B"), ValueFrom: aws.String("y")}}}}}
	if d := clusterphase.DiffRendered(clusterphase.RenderTaskDef(a), clusterphase.RenderTaskDef(b)); len(d) != 0 {
		t.Fatalf("equal definitions differ: %v", d)
	}
	b.ContainerDefinitions[0].Environment = []ecstypes.KeyValuePair{{Name: aws.String("ADMIN_PASS"), Value: aws.String("hunter2")}}
	d := clusterphase.DiffRendered(clusterphase.RenderTaskDef(a), clusterphase.RenderTaskDef(b))
	if len(d) != 1 || d[0].Field != "container.environment" || strings.Contains(fmt.Sprint(d), "hunter2") {
		t.Fatalf("an added variable: %v (its value must not show)", d)
	}
}
