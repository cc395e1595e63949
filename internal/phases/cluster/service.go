package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type serviceAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	CreateService(ctx context.Context, in *ecs.CreateServiceInput, opts ...func(*ecs.Options)) (*ecs.CreateServiceOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	DeleteService(ctx context.Context, in *ecs.DeleteServiceInput, opts ...func(*ecs.Options)) (*ecs.DeleteServiceOutput, error)
	TagResource(ctx context.Context, in *ecs.TagResourceInput, opts ...func(*ecs.Options)) (*ecs.TagResourceOutput, error)
}

// Service is the Fargate service <app>-<env>: tasks in the private subnets without
// public addresses, behind the target group, rolled back by the circuit breaker and by
// its deployment alarms.
type Service struct {
	In  *kit.Inputs
	API serviceAPI
	IAM kit.ServiceLinkedRoleAPI
	// ELB reads the production listener rule before a switch back to rolling.
	ELB ruleReader
}

func (r *Service) Key() string  { return kit.KeyService }
func (r *Service) Type() string { return "ecs:service" }
func (r *Service) DependsOn() []string {
	// The rules too: tasks must be reachable from the ALB as soon as they start, and
	// teardown removes the service before it revokes them.
	return slices.Concat([]string{kit.KeyCluster, KeyTaskDef, kit.KeySG(kit.SGECS), kit.KeySGRules(kit.SGECS), kit.KeyTG, kit.KeyListenerHTTP}, PrivateSubnetKeys(r.In), strategyDeps(r.In))
}

func ServiceName(in *kit.Inputs) string { return in.Prefix() }

// serviceWant is what the service should be, from the dependencies' records.
type serviceWant struct {
	cluster, taskDef, targetGroup string
	subnets, groups               []string
	// The traffic-shifting strategies' objects; "" under rolling.
	altTargetGroup, prodRule, lbRole string
}

func (r *Service) want(deps engine.Deps) (serviceWant, bool) {
	var w serviceWant
	c, td, sg, tg := deps.Get(kit.KeyCluster), deps.Get(KeyTaskDef), deps.Get(kit.KeySG(kit.SGECS)), deps.Get(kit.KeyTG)
	if c == nil || td == nil || sg == nil || tg == nil || deps.Get(kit.KeyListenerHTTP) == nil {
		return w, false
	}
	w.cluster, w.taskDef, w.targetGroup, w.groups = c.ID, td.ARN, tg.ARN, []string{sg.ID}
	for _, k := range PrivateSubnetKeys(r.In) {
		s := deps.Get(k)
		if s == nil {
			return w, false
		}
		w.subnets = append(w.subnets, s.ID)
	}
	return w, strategyWant(r.In, deps, &w)
}

func (r *Service) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	w, ok := r.want(deps)
	if !ok {
		return nil, nil
	}
	s, err := r.describe(ctx, w.cluster, ServiceName(r.In))
	if err != nil || s == nil || aws.ToString(s.Status) != "ACTIVE" {
		// DRAINING is a service on its way out, INACTIVE one that is gone.
		return nil, err
	}
	found := &engine.Found{Record: ServiceRecord(s, w.cluster)}
	add := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	add("task_definition", aws.ToString(s.TaskDefinition), w.taskDef)
	// Inside [min, max] the desired count belongs to Application Auto Scaling: resetting
	// it to the configured value would undo every scale-out at each `up`. Outside, it was
	// changed by hand (or the range moved): bring it back to the nearest bound.
	svc := r.In.Config.Service
	if n := int(s.DesiredCount); n < svc.Min || n > svc.Max {
		add("desired_count", strconv.Itoa(n), strconv.Itoa(min(max(n, svc.Min), svc.Max)))
	}
	var subnets, groups []string
	publicIP := ""
	if nc := s.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		subnets, groups = slices.Sorted(slices.Values(nc.AwsvpcConfiguration.Subnets)), slices.Sorted(slices.Values(nc.AwsvpcConfiguration.SecurityGroups))
		publicIP = string(nc.AwsvpcConfiguration.AssignPublicIp)
	}
	add("subnets", strings.Join(subnets, ","), strings.Join(slices.Sorted(slices.Values(w.subnets)), ","))
	add("security_groups", strings.Join(groups, ","), strings.Join(slices.Sorted(slices.Values(w.groups)), ","))
	// DISABLED is the default, and what AWS echoes when it was left out.
	if publicIP == "" {
		publicIP = string(ecstypes.AssignPublicIpDisabled)
	}
	add("assign_public_ip", publicIP, string(ecstypes.AssignPublicIpDisabled))
	add("load_balancers", loadBalancersField(s.LoadBalancers, w.targetGroup, w.altTargetGroup), loadBalancersField(r.loadBalancers(w), w.targetGroup, w.altTargetGroup))
	// AWS always reports these; the emulator drops them on CreateService. Compare what
	// is reported, so that the emulator's silence does not read as drift forever.
	if dc := s.DeploymentConfiguration; dc != nil {
		want := DeploymentConfiguration(r.In)
		add("minimum_healthy_percent", strconv.Itoa(int(aws.ToInt32(dc.MinimumHealthyPercent))), strconv.Itoa(int(*want.MinimumHealthyPercent)))
		add("maximum_percent", strconv.Itoa(int(aws.ToInt32(dc.MaximumPercent))), strconv.Itoa(int(*want.MaximumPercent)))
		if cb := dc.DeploymentCircuitBreaker; cb != nil {
			add("circuit_breaker", fmt.Sprintf("enable=%t rollback=%t", cb.Enable, cb.Rollback), "enable=true rollback=true")
		}
		add("deployment_alarms", AlarmsField(dc.Alarms), AlarmsField(want.Alarms))
		add("deployment_strategy", StrategyField(dc), StrategyField(want))
	}
	if g := s.HealthCheckGracePeriodSeconds; g != nil {
		add("health_check_grace_period", strconv.Itoa(int(*g)), strconv.Itoa(svc.HealthCheckGracePeriod))
	}
	if s.PropagateTags != "" {
		add("propagate_tags", string(s.PropagateTags), string(ecstypes.PropagateTagsService))
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(kit.KeyService), ecsTagMap(s.Tags)); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func ServiceRecord(s *ecstypes.Service, cluster string) state.Resource {
	return state.Resource{ID: aws.ToString(s.ServiceName), ARN: aws.ToString(s.ServiceArn), Attrs: map[string]string{"cluster": cluster}}
}

// describe returns the service, nil when ECS does not know it (or the cluster).
func (r *Service) describe(ctx context.Context, cluster, name string) (*ecstypes.Service, error) {
	out, err := r.API.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String(cluster), Services: []string{name}, Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags},
	})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s in cluster %s: %w", name, cluster, err)
	}
	for i := range out.Services {
		if aws.ToString(out.Services[i].ServiceName) == name {
			return &out.Services[i], nil
		}
	}
	return nil, nil
}

func (r *Service) networkConfiguration(w serviceWant) *ecstypes.NetworkConfiguration {
	return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
		Subnets: w.subnets, SecurityGroups: w.groups, AssignPublicIp: ecstypes.AssignPublicIpDisabled,
	}}
}

func (r *Service) loadBalancers(w serviceWant) []ecstypes.LoadBalancer {
	return []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(w.targetGroup), ContainerName: aws.String(containerName), ContainerPort: aws.Int32(int32(r.In.Config.Service.ContainerPort)),
		AdvancedConfiguration: advancedConfiguration(w)}}
}

// The rolling update's bounds: never below the desired count, at most twice it.
const (
	minimumHealthyPercent = 100
	maximumPercent        = 200
)

// DeploymentConfiguration is a rolling update that never drops below the desired count
// (min 100 %, max 200 %), rolled back by the circuit breaker when new tasks keep failing
// to start, and by the service's 5xx and p95 latency alarms when a revision that looks
// healthy misbehaves under traffic.
//
// The service does not depend on those alarms, although the observability phase creates
// them after it: ECS takes alarm names that do not exist yet (it reads their state only
// while a deployment rolls), and the first deployment has no earlier one to roll back
// to. A dependency would instead make `phase cluster` on a clean account need the
// observability phase, whose other alarms need the service.
func DeploymentConfiguration(in *kit.Inputs) *ecstypes.DeploymentConfiguration {
	return withStrategy(in, &ecstypes.DeploymentConfiguration{
		MinimumHealthyPercent:    aws.Int32(minimumHealthyPercent),
		MaximumPercent:           aws.Int32(maximumPercent),
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		Alarms:                   &ecstypes.DeploymentAlarms{AlarmNames: kit.DeploymentAlarmNames(in), Enable: true, Rollback: true},
	})
}

// AlarmsField renders deployment alarms for comparison and plans; nil is what AWS means
// by none.
func AlarmsField(a *ecstypes.DeploymentAlarms) string {
	if a == nil {
		a = &ecstypes.DeploymentAlarms{}
	}
	return fmt.Sprintf("enable=%t rollback=%t alarms=%s", a.Enable, a.Rollback, strings.Join(slices.Sorted(slices.Values(a.AlarmNames)), ","))
}

func (r *Service) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	w, ok := r.want(deps)
	if !ok {
		return nil, fmt.Errorf("ECS service %s: the cluster, task definition or network it needs does not exist", ServiceName(r.In))
	}
	if err := kit.EnsureServiceLinkedRole(ctx, r.In, r.IAM, "ecs.amazonaws.com", "AWSServiceRoleForECS"); err != nil {
		return nil, err
	}
	name := ServiceName(r.In)
	svc := r.In.Config.Service
	input := &ecs.CreateServiceInput{
		Cluster:                       aws.String(w.cluster),
		ServiceName:                   aws.String(name),
		TaskDefinition:                aws.String(w.taskDef),
		DesiredCount:                  aws.Int32(int32(svc.Desired)),
		LaunchType:                    ecstypes.LaunchTypeFargate,
		PlatformVersion:               aws.String("LATEST"),
		SchedulingStrategy:            ecstypes.SchedulingStrategyReplica,
		DeploymentController:          &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		NetworkConfiguration:          r.networkConfiguration(w),
		LoadBalancers:                 r.loadBalancers(w),
		DeploymentConfiguration:       DeploymentConfiguration(r.In),
		HealthCheckGracePeriodSeconds: aws.Int32(int32(svc.HealthCheckGracePeriod)),
		EnableECSManagedTags:          true,
		PropagateTags:                 ecstypes.PropagateTagsService,
		Tags:                          ECSTags(r.In.Tags(kit.KeyService)),
		ClientToken:                   aws.String(r.In.ClientToken(kit.KeyService)),
	}
	var out *ecs.CreateServiceOutput
	// A service-linked role just created takes a few seconds before ECS can use it.
	deadline := time.Now().Add(2 * time.Minute)
	err := r.In.WaitFor(ctx, "ECS to accept its service-linked role", func(ctx context.Context) (bool, string, error) {
		var err error
		out, err = r.API.CreateService(ctx, input)
		if err != nil && kit.ErrorCode(err) == "InvalidParameterException" && strings.Contains(err.Error(), "service linked role") && time.Now().Before(deadline) {
			return false, "role not usable yet", nil
		}
		return err == nil, "", err
	})
	if err != nil {
		return nil, fmt.Errorf("creating ECS service %s: %w", name, err)
	}
	rec := ServiceRecord(out.Service, w.cluster)
	// On failure the service is not recorded; the next run finds it by name.
	if err := r.waitStable(ctx, w.cluster, name, primaryDeployment(out.Service)); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (r *Service) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	w, ok := r.want(deps)
	if !ok {
		return nil, fmt.Errorf("ECS service %s: the cluster, task definition or network it needs does not exist", ServiceName(r.In))
	}
	name := found.Record.ID
	live, err := r.describe(ctx, w.cluster, name)
	if err != nil {
		return nil, err
	}
	if alt := deps.Get(kit.KeyAltTG); !kit.ShiftsTraffic(r.In) && alt != nil {
		stranded, err := altServes(ctx, r.ELB, live, alt, deps.Get(KeyProdRule))
		if err != nil {
			return nil, err
		}
		if stranded {
			return nil, errStrandedTraffic(r.In, name, alt.ARN, w.targetGroup)
		}
	}
	w = liveOrder(live, w)
	input := &ecs.UpdateServiceInput{
		Cluster:                       aws.String(w.cluster),
		Service:                       aws.String(name),
		TaskDefinition:                aws.String(w.taskDef),
		NetworkConfiguration:          r.networkConfiguration(w),
		LoadBalancers:                 r.loadBalancers(w),
		DeploymentConfiguration:       DeploymentConfiguration(r.In),
		HealthCheckGracePeriodSeconds: aws.Int32(int32(r.In.Config.Service.HealthCheckGracePeriod)),
		EnableECSManagedTags:          aws.Bool(true),
		PropagateTags:                 ecstypes.PropagateTagsService,
	}
	var tags bool
	for _, c := range found.Changes {
		switch c.Field {
		case "desired_count":
			n, err := strconv.Atoi(c.To)
			if err != nil {
				return nil, fmt.Errorf("ECS service %s: desired count %q: %w", name, c.To, err)
			}
			input.DesiredCount = aws.Int32(int32(n))
		case "tags":
			tags = true
		}
	}
	var primary string
	if slices.ContainsFunc(found.Changes, func(c engine.Change) bool { return c.Field != "tags" }) {
		out, err := r.API.UpdateService(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("updating ECS service %s: %w", name, err)
		}
		primary = primaryDeployment(out.Service)
	}
	if tags {
		if _, err := r.API.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(found.Record.ARN), Tags: ECSTags(r.In.Tags(kit.KeyService))}); err != nil {
			return nil, fmt.Errorf("tagging ECS service %s: %w", name, err)
		}
	}
	if primary != "" {
		if err := r.waitStable(ctx, w.cluster, name, primary); err != nil {
			return nil, err
		}
	}
	rec := found.Record
	return &rec, nil
}

func primaryDeployment(s *ecstypes.Service) string {
	if s == nil {
		return ""
	}
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return aws.ToString(d.Id)
		}
	}
	return ""
}

// waitStable waits until the deployment started by the last call (id) has rolled out:
// its rollout COMPLETED and as many tasks running as it wants. It fails when the
// deployment FAILED (the circuit breaker rolled it back) or was replaced by another.
//
// The emulator never starts a new deployment and reports a fixed running count
// (MOTO_ECS_SERVICE_RUNNING) with rolloutState COMPLETED once that count covers the
// desired one; hence "running >= desired", which on AWS holds exactly when it is equal
// except while scaling in.
func (r *Service) waitStable(ctx context.Context, cluster, name, id string) error {
	return r.In.WaitFor(ctx, "ECS service "+name+" to reach a steady state", func(ctx context.Context) (bool, string, error) {
		s, err := r.describe(ctx, cluster, name)
		if err != nil {
			return false, "", err
		}
		if s == nil {
			return false, "", fmt.Errorf("ECS service %s disappeared", name)
		}
		var d *ecstypes.Deployment
		for i := range s.Deployments {
			dep := &s.Deployments[i]
			if (id != "" && aws.ToString(dep.Id) == id) || (id == "" && aws.ToString(dep.Status) == "PRIMARY") {
				d = dep
			}
		}
		if d == nil {
			return false, "", fmt.Errorf("deployment %s of ECS service %s was replaced before it completed (rolled back or superseded)", id, name)
		}
		status := fmt.Sprintf("%d/%d tasks running", d.RunningCount, d.DesiredCount)
		switch d.RolloutState {
		case ecstypes.DeploymentRolloutStateFailed:
			return false, "", fmt.Errorf("deployment %s of ECS service %s failed and is rolled back by the circuit breaker: %s", aws.ToString(d.Id), name, aws.ToString(d.RolloutStateReason))
		case ecstypes.DeploymentRolloutStateInProgress:
			return false, status + ", rollout in progress", nil
		case "":
			// No rollout state (an older deployment controller): the old tasks must be gone.
			if len(s.Deployments) > 1 {
				return false, status + fmt.Sprintf(", %d deployments", len(s.Deployments)), nil
			}
		}
		return d.RunningCount >= d.DesiredCount, status, nil
	})
}

// Delete scales the service to zero, deletes it (forced, so tasks stop now) and waits
// until it is INACTIVE: the cluster, the target group and the subnets it uses cannot go
// before.
func (r *Service) Delete(ctx context.Context, rec *state.Resource) error {
	cluster := rec.Attrs["cluster"]
	if cluster == "" {
		// ARN form arn:aws:ecs:<region>:<acct>:service/<cluster>/<service>.
		if parts := strings.Split(rec.ARN, "/"); len(parts) == 3 {
			cluster = parts[1]
		}
	}
	_, err := r.API.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(rec.ID), DesiredCount: aws.Int32(0)})
	if err != nil && !isGoneService(err) {
		return fmt.Errorf("scaling ECS service %s to 0: %w", rec.ID, err)
	}
	if err == nil {
		_, err = r.API.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(rec.ID), Force: aws.Bool(true)})
		if err != nil && !isGoneService(err) {
			return fmt.Errorf("deleting ECS service %s: %w", rec.ID, err)
		}
	}
	err = r.In.WaitFor(ctx, "ECS service "+rec.ID+" to drain", func(ctx context.Context) (bool, string, error) {
		s, err := r.describe(ctx, cluster, rec.ID)
		if err != nil {
			return false, "", err
		}
		if s == nil || aws.ToString(s.Status) == "INACTIVE" {
			return true, "", nil
		}
		return false, fmt.Sprintf("%s, %d tasks running", aws.ToString(s.Status), s.RunningCount), nil
	})
	if err != nil {
		return fmt.Errorf("deleting ECS service %s: %w", rec.ID, err)
	}
	return nil
}

// isGoneService: the service (or its cluster) no longer exists or is already inactive.
func isGoneService(err error) bool {
	return kit.IsNotFound(err) || kit.ErrorCode(err) == "ServiceNotActiveException"
}
