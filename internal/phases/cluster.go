package phases

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The cluster phase's keys.
const (
	keyLogGroup       = "cluster/log-group"
	keyCluster        = "cluster/cluster"
	keyExecRole       = "cluster/execution-role"
	keyTaskRole       = "cluster/task-role"
	keyTaskDef        = "cluster/taskdef"
	keyService        = "cluster/service"
	keyScalableTarget = "cluster/scalable-target"
	keyScalingPolicy  = "cluster/scaling-policy"
)

// privateSubnetKeys are the private subnets, one per configured AZ.
func privateSubnetKeys(in *Inputs) []string {
	var keys []string
	for i := range in.Config.Network.AZCount {
		keys = append(keys, keySubnet(false, i))
	}
	return keys
}

// declareCluster is the cluster phase: where the service's logs go, the ECS cluster,
// the two roles its tasks use, the task definition, the Fargate service behind the
// target group, and CPU target tracking on its task count.
func declareCluster(in *Inputs) ([]engine.Resource, error) {
	ecsc, iamc, aas := in.AWS.ECS(), in.AWS.IAM(), in.AWS.AutoScaling()
	trust := ecsTasksTrustPolicy(in)
	out := append([]engine.Resource{
		&logGroup{in: in, api: in.AWS.Logs(), kms: in.AWS.KMS(), key: keyLogGroup, name: logGroupName(in)},
		&cluster{in: in, api: ecsc},
		&role{in: in, api: iamc, key: keyExecRole, name: boundedName(in.prefix()+"-exec", 64), trust: trust,
			deps: slices.Concat([]string{keySecretAdmin, keyLogGroup}, secretRefKeys(in), imageDeps(in)), policy: executionPolicy,
			description: "ECS task execution role of " + in.prefix() + ": pull the image, write logs, read the admin secret"},
		&role{in: in, api: iamc, key: keyTaskRole, name: boundedName(in.prefix()+"-task", 64), trust: trust, policy: taskPolicy,
			description: "ECS task role of " + in.prefix() + ": what the application itself may call (nothing by default; X-Ray with tracing on)"},
		&taskDef{in: in, api: ecsc},
		&service{in: in, api: ecsc, iam: iamc, elb: in.AWS.ELB()},
		&scalableTarget{in: in, api: aas},
		&scalingPolicy{in: in, api: aas},
	}, declareStrategy(in)...)
	if rotationOn(in) {
		out = append(out, rotationResources(in)...)
	}
	return out, nil
}

// ---- log group ----

type logsAPI interface {
	DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	PutRetentionPolicy(ctx context.Context, in *cloudwatchlogs.PutRetentionPolicyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
	DeleteLogGroup(ctx context.Context, in *cloudwatchlogs.DeleteLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DeleteLogGroupOutput, error)
	ListTagsForResource(ctx context.Context, in *cloudwatchlogs.ListTagsForResourceInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.ListTagsForResourceOutput, error)
	AssociateKmsKey(ctx context.Context, in *cloudwatchlogs.AssociateKmsKeyInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.AssociateKmsKeyOutput, error)
}

// logGroup is a log group with the environment's retention (CloudWatch keeps logs
// forever otherwise, and bills for it): /ecs/<app>-<env>, where the tasks' awslogs
// driver writes, and the alarm relay function's. It is encrypted with the environment's
// KMS key (kms_key.go), whose policy lets CloudWatch Logs use it for these groups only.
type logGroup struct {
	in        *Inputs
	api       logsAPI
	kms       kmsDescribeAPI
	key, name string
}

func (r *logGroup) Key() string         { return r.key }
func (r *logGroup) Type() string        { return "logs:log-group" }
func (r *logGroup) DependsOn() []string { return envKeyDeps(r.in) }

// keyToCreate stands for the environment's key in a plan that creates it.
const keyToCreate = "(the environment's key, to be created)"

func logGroupName(in *Inputs) string { return "/ecs/" + in.prefix() }

// logGroupARN is the group's ARN without the ":*" that DescribeLogGroups appends.
func logGroupARN(in *Inputs, name string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", awsPartition(in.Region), in.Region, in.Account, name)
}

func (r *logGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(recID(rec), r.name)
	// The name is unique in the account and region: it is the lookup, no tags needed.
	out, err := r.api.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describing log group %s: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != name {
			continue
		}
		if rec == nil {
			if err := r.claim(ctx, name); err != nil {
				return nil, err
			}
		}
		found := &engine.Found{Record: state.Resource{ID: name, ARN: logGroupARN(r.in, name)}}
		if got, want := aws.ToInt32(g.RetentionInDays), int32(r.in.Config.Logs.RetentionDays); got != want {
			found.Changes = append(found.Changes, engine.Change{Field: "retention_days", From: retentionText(got), To: retentionText(want)})
		}
		// A group made before the key existed is found all the same: it gains the key.
		key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
		if err != nil {
			return nil, err
		}
		if !ok {
			key = keyToCreate
		}
		if got := aws.ToString(g.KmsKeyId); got != key {
			if got == "" {
				got = "(none)"
			}
			found.Changes = append(found.Changes, engine.Change{Field: "kms_key", From: got, To: key})
		}
		return found, nil
	}
	return nil, nil
}

// claim checks the ownership tags of a group found by name alone.
func (r *logGroup) claim(ctx context.Context, name string) error {
	out, err := r.api.ListTagsForResource(ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(logGroupARN(r.in, name))})
	if err != nil {
		return fmt.Errorf("reading the tags of log group %s: %w", name, err)
	}
	return r.in.claim("log group", name, r.key, out.Tags)
}

func retentionText(days int32) string {
	if days == 0 {
		return "never expire"
	}
	return strconv.Itoa(int(days))
}

func (r *logGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	name := r.name
	key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("creating log group %s: the environment's KMS key does not exist", name)
	}
	if _, err := r.api.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key), Tags: r.in.tags(r.key)}); err != nil {
		return nil, fmt.Errorf("creating log group %s: %w", name, err)
	}
	if err := r.setRetention(ctx, name); err != nil {
		return nil, err
	}
	return &state.Resource{ID: name, ARN: logGroupARN(r.in, name)}, nil
}

func (r *logGroup) setRetention(ctx context.Context, name string) error {
	days := int32(r.in.Config.Logs.RetentionDays)
	if _, err := r.api.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(days)}); err != nil {
		return fmt.Errorf("setting the retention of log group %s to %d days: %w", name, days, err)
	}
	return nil
}

func (r *logGroup) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	for _, c := range found.Changes {
		switch c.Field {
		case "retention_days":
			if err := r.setRetention(ctx, name); err != nil {
				return nil, err
			}
		case "kms_key":
			// The key read now, not the plan's: a plan may only have known it as to be created.
			key, ok, err := envKeyARN(ctx, r.in, r.kms, deps)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("encrypting log group %s: the environment's KMS key does not exist", name)
			}
			// New events are encrypted with the key; those already stored stay readable.
			if _, err := r.api.AssociateKmsKey(ctx, &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String(name), KmsKeyId: aws.String(key)}); err != nil {
				return nil, fmt.Errorf("encrypting log group %s with KMS key %s: %w", name, key, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *logGroup) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(rec.ID)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting log group %s: %w", rec.ID, err)
	}
	return nil
}

// ---- ECS cluster ----

type clusterAPI interface {
	DescribeClusters(ctx context.Context, in *ecs.DescribeClustersInput, opts ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
	CreateCluster(ctx context.Context, in *ecs.CreateClusterInput, opts ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	UpdateCluster(ctx context.Context, in *ecs.UpdateClusterInput, opts ...func(*ecs.Options)) (*ecs.UpdateClusterOutput, error)
	TagResource(ctx context.Context, in *ecs.TagResourceInput, opts ...func(*ecs.Options)) (*ecs.TagResourceOutput, error)
	DeleteCluster(ctx context.Context, in *ecs.DeleteClusterInput, opts ...func(*ecs.Options)) (*ecs.DeleteClusterOutput, error)
}

// cluster is the ECS cluster <app>-<env>; Container Insights per the configuration.
type cluster struct {
	in  *Inputs
	api clusterAPI
}

func (r *cluster) Key() string         { return keyCluster }
func (r *cluster) Type() string        { return "ecs:cluster" }
func (r *cluster) DependsOn() []string { return nil }

func clusterName(in *Inputs) string { return in.prefix() }

func (r *cluster) insights() string {
	if r.in.Config.Observability.ContainerInsights {
		return "enabled"
	}
	return "disabled"
}

func (r *cluster) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(recARN(rec), clusterName(r.in))
	out, err := r.api.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{name},
		Include:  []ecstypes.ClusterField{ecstypes.ClusterFieldSettings, ecstypes.ClusterFieldTags},
	})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("describing ECS cluster %s: %w", name, err)
	}
	if err != nil {
		return nil, nil
	}
	var c *ecstypes.Cluster
	for i := range out.Clusters {
		// A deleted cluster stays visible as INACTIVE for a while; it is gone all the same.
		if aws.ToString(out.Clusters[i].Status) == "ACTIVE" {
			c = &out.Clusters[i]
		}
	}
	if c == nil {
		return nil, nil
	}
	if rec == nil {
		if err := r.in.claim("ECS cluster", aws.ToString(c.ClusterName), keyCluster, ecsTagMap(c.Tags)); err != nil {
			return nil, err
		}
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(c.ClusterName), ARN: aws.ToString(c.ClusterArn)}}
	got := "disabled"
	for _, s := range c.Settings {
		if s.Name == ecstypes.ClusterSettingNameContainerInsights {
			got = aws.ToString(s.Value)
		}
	}
	// "enhanced" is Container Insights with more detail: on is on.
	if want := r.insights(); got != want && (want != "enabled" || got != "enhanced") {
		found.Changes = append(found.Changes, engine.Change{Field: "container_insights", From: got, To: want})
	}
	if from, to, drift := tagDrift(r.in.tags(keyCluster), ecsTagMap(c.Tags)); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *cluster) settings() []ecstypes.ClusterSetting {
	return []ecstypes.ClusterSetting{{Name: ecstypes.ClusterSettingNameContainerInsights, Value: aws.String(r.insights())}}
}

func (r *cluster) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := clusterName(r.in)
	// CreateCluster is idempotent for an ACTIVE cluster of the same name, so a run that
	// crashed before saving is harmless here.
	out, err := r.api.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String(name),
		Settings:    r.settings(),
		Tags:        ecsTags(r.in.tags(keyCluster)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating ECS cluster %s: %w", name, err)
	}
	return &state.Resource{ID: name, ARN: aws.ToString(out.Cluster.ClusterArn)}, nil
}

func (r *cluster) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	for _, c := range found.Changes {
		switch c.Field {
		case "container_insights":
			// UpdateCluster takes the same settings as UpdateClusterSettings, which the
			// emulator does not implement.
			if _, err := r.api.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String(found.Record.ARN), Settings: r.settings()}); err != nil {
				return nil, fmt.Errorf("setting Container Insights to %s on ECS cluster %s: %w", r.insights(), found.Record.ID, err)
			}
		case "tags":
			if _, err := r.api.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: ecsTags(r.in.tags(keyCluster))}); err != nil {
				return nil, fmt.Errorf("tagging ECS cluster %s: %w", found.Record.ID, err)
			}
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *cluster) Delete(ctx context.Context, rec *state.Resource) error {
	id := rec.ARN
	if id == "" {
		id = rec.ID
	}
	// Tasks of a just-deleted service take a while to stop; the cluster refuses to go
	// until they have.
	deadline := time.Now().Add(10 * time.Minute)
	err := r.in.waitFor(ctx, "ECS cluster "+rec.ID+" to have no tasks left", func(ctx context.Context) (bool, string, error) {
		_, err := r.api.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(id)})
		switch code := errorCode(err); {
		case err == nil || isNotFound(err):
			return true, "", nil
		case code == "ClusterContainsTasksException" || code == "ClusterContainsServicesException" || code == "UpdateInProgressException":
			if time.Now().After(deadline) {
				return false, "", err
			}
			return false, code, nil
		default:
			return false, "", err
		}
	})
	if err != nil {
		return fmt.Errorf("deleting ECS cluster %s: %w", rec.ID, err)
	}
	return nil
}

func ecsTags(tags map[string]string) []ecstypes.Tag {
	return tagList(tags, func(k, v *string) ecstypes.Tag { return ecstypes.Tag{Key: k, Value: v} })
}

func ecsTagMap(tags []ecstypes.Tag) map[string]string {
	return tagMap(tags, func(t ecstypes.Tag) (*string, *string) { return t.Key, t.Value })
}
