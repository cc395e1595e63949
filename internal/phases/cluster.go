package phases

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// clusterPhase says what the cluster phase is.
func clusterPhase() Phase {
	return Phase{Name: "cluster", Summary: "ECS cluster, roles, task definition (optional tracing sidecar), Fargate service and autoscaling", Resources: declareCluster, EveryKind: clusterDeleters}
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
	if err := r.in.claim(rec, "ECS cluster", aws.ToString(c.ClusterName), keyCluster, ecsTagMap(c.Tags)); err != nil {
		return nil, err
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
