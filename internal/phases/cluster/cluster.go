// Package cluster declares the cluster phase: the ECS cluster, its log group and roles,
// the task definition, the Fargate service with its autoscaling, the deployment
// strategy's listener rule and alternate target group, and the secret's rotation.
package cluster

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
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The cluster phase's keys.
const (
	KeyLogGroup = "cluster/log-group"

	KeyTaskDef = "cluster/taskdef"

	KeyScalableTarget = "cluster/scalable-target"
	KeyScalingPolicy  = "cluster/scaling-policy"
)

// PrivateSubnetKeys are the private subnets, one per configured AZ.
func PrivateSubnetKeys(in *kit.Inputs) []string {
	var keys []string
	for i := range in.Config.Network.AZCount {
		keys = append(keys, kit.KeySubnet(false, i))
	}
	return keys
}

// Phase says what the cluster phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "cluster", Summary: "ECS cluster, roles, task definition (optional tracing sidecar), Fargate service and autoscaling", Resources: Declare, EveryKind: clusterDeleters}
}

// Declare is the cluster phase: where the service's logs go, the ECS cluster,
// the two roles its tasks use, the task definition, the Fargate service behind the
// target group, and CPU target tracking on its task count.
func Declare(in *kit.Inputs) ([]engine.Resource, error) {
	ecsc, iamc, aas := in.AWS.ECS(), in.AWS.IAM(), in.AWS.AutoScaling()
	trust := kit.ECSTasksTrustPolicy(in)
	out := append([]engine.Resource{
		&kinds.LogGroup{In: in, API: in.AWS.Logs(), KMS: in.AWS.KMS(), ResourceKey: KeyLogGroup, Name: kit.LogGroupName(in)},
		&cluster{in: in, api: ecsc},
		&kinds.Role{In: in, API: iamc, ResourceKey: kit.KeyExecRole, Name: kit.BoundedName(in.Prefix()+"-exec", 64), Trust: trust,
			Deps: slices.Concat([]string{kit.KeySecretAdmin, KeyLogGroup}, kit.SecretRefKeys(in), kit.ImageDeps(in)), Policy: executionPolicy,
			Description: "ECS task execution role of " + in.Prefix() + ": pull the image, write logs, read the admin secret"},
		&kinds.Role{In: in, API: iamc, ResourceKey: kit.KeyTaskRole, Name: kit.BoundedName(in.Prefix()+"-task", 64), Trust: trust, Policy: taskPolicy,
			Description: "ECS task role of " + in.Prefix() + ": what the application itself may call (nothing by default; X-Ray with tracing on)"},
		&TaskDef{In: in, api: ecsc},
		&Service{In: in, API: ecsc, IAM: iamc, ELB: in.AWS.ELB()},
		&scalableTarget{in: in, api: aas},
		&scalingPolicy{in: in, api: aas},
	}, declareStrategy(in)...)
	if kit.RotationOn(in) {
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
	in  *kit.Inputs
	api clusterAPI
}

func (r *cluster) Key() string         { return kit.KeyCluster }
func (r *cluster) Type() string        { return "ecs:cluster" }
func (r *cluster) DependsOn() []string { return nil }

func ClusterName(in *kit.Inputs) string { return in.Prefix() }

func (r *cluster) insights() string {
	if r.in.Config.Observability.ContainerInsights {
		return "enabled"
	}
	return "disabled"
}

func (r *cluster) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := cmp.Or(kit.RecARN(rec), ClusterName(r.in))
	out, err := r.api.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{name},
		Include:  []ecstypes.ClusterField{ecstypes.ClusterFieldSettings, ecstypes.ClusterFieldTags},
	})
	if err != nil && !kit.IsNotFound(err) {
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
	if err := r.in.Claim(rec, "ECS cluster", aws.ToString(c.ClusterName), kit.KeyCluster, ecsTagMap(c.Tags)); err != nil {
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
	if from, to, drift := kit.TagDrift(r.in.Tags(kit.KeyCluster), ecsTagMap(c.Tags)); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *cluster) settings() []ecstypes.ClusterSetting {
	return []ecstypes.ClusterSetting{{Name: ecstypes.ClusterSettingNameContainerInsights, Value: aws.String(r.insights())}}
}

func (r *cluster) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	name := ClusterName(r.in)
	// CreateCluster is idempotent for an ACTIVE cluster of the same name, so a run that
	// crashed before saving is harmless here.
	out, err := r.api.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String(name),
		Settings:    r.settings(),
		Tags:        ECSTags(r.in.Tags(kit.KeyCluster)),
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
			if _, err := r.api.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: ECSTags(r.in.Tags(kit.KeyCluster))}); err != nil {
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
	err := r.in.WaitFor(ctx, "ECS cluster "+rec.ID+" to have no tasks left", func(ctx context.Context) (bool, string, error) {
		_, err := r.api.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(id)})
		switch code := kit.ErrorCode(err); {
		case err == nil || kit.IsNotFound(err):
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

func ECSTags(tags map[string]string) []ecstypes.Tag {
	return kit.TagList(tags, func(k, v *string) ecstypes.Tag { return ecstypes.Tag{Key: k, Value: v} })
}

func ecsTagMap(tags []ecstypes.Tag) map[string]string {
	return kit.TagMap(tags, func(t ecstypes.Tag) (*string, *string) { return t.Key, t.Value })
}

// clusterDeleters are the cluster phase's resources of every type it can declare, those
// of a config it no longer has among them.
func clusterDeleters(in *kit.Inputs) []engine.Resource {
	return append(strategyResources(in), rotationResources(in)...)
}
