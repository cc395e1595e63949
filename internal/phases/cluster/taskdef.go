package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/imagechoice"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/rollout"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type taskDefAPI interface {
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, opts ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	DeleteTaskDefinitions(ctx context.Context, in *ecs.DeleteTaskDefinitionsInput, opts ...func(*ecs.Options)) (*ecs.DeleteTaskDefinitionsOutput, error)
}

// containerName is the service's container; the service's load balancer entry names it.
const containerName = "app"

// The AWS Distro for OpenTelemetry collector that runs beside the app with tracing on,
// with the image's own configuration that receives OTLP and exports to X-Ray only.
const (
	CollectorName      = "aws-otel-collector"
	CollectorImage     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
	collectorConfig    = "/etc/ecs/ecs-xray.yaml"
	collectorMemoryMiB = 64
)

// errNoImage is what Find and Create say when there is nothing to run yet.
var errNoImage = errors.New("no image to run: pass --image URI or run the image phase")

// TaskDef is the task definition family <app>-<env>. A revision is immutable: a change
// registers a new one (an update, not a replacement), and only when the rendering
// differs from the latest ACTIVE revision, so a converged `up` registers nothing.
type TaskDef struct {
	In  *kit.Inputs
	api taskDefAPI
}

func (r *TaskDef) Key() string  { return KeyTaskDef }
func (r *TaskDef) Type() string { return "ecs:task-definition" }
func (r *TaskDef) DependsOn() []string {
	deps := append([]string{kit.KeyExecRole, kit.KeyTaskRole, kit.KeySecretAdmin, KeyLogGroup}, kit.SecretRefKeys(r.In)...)
	return append(deps, kit.ImageDeps(r.In)...)
}

func (r *TaskDef) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	family := kit.TaskFamily(r.In)
	live, err := r.latest(ctx, family)
	if err != nil {
		return nil, err
	}
	// Nothing registered yet: Create says if there is no image to register with.
	if live == nil {
		return nil, nil
	}
	// A build yet to push shows as such in the plan's change of image.
	image := r.In.ResolvedImage(deps).Text()
	if r.In.Image.Kind == imagechoice.KeepRunning {
		// No image given: keep the one the latest revision runs, so that a plain `up`
		// after a deploy neither fails nor rolls the service back.
		if c := AppContainer(live.ContainerDefinitions); c != nil {
			image = aws.ToString(c.Image)
		}
	}
	want, ok := r.render(deps, image)
	if !ok {
		return nil, nil
	}
	found := &engine.Found{Record: TaskDefRecord(live)}
	found.Changes = DiffRendered(RenderTaskDef(&ecs.RegisterTaskDefinitionInput{
		Family: live.Family, TaskRoleArn: live.TaskRoleArn, ExecutionRoleArn: live.ExecutionRoleArn,
		NetworkMode: live.NetworkMode, RequiresCompatibilities: live.RequiresCompatibilities,
		Cpu: live.Cpu, Memory: live.Memory, ContainerDefinitions: live.ContainerDefinitions, RuntimePlatform: live.RuntimePlatform,
	}), RenderTaskDef(want))
	return found, nil
}

func TaskDefRecord(td *ecstypes.TaskDefinition) state.Resource {
	rec := state.Resource{ID: aws.ToString(td.Family), ARN: aws.ToString(td.TaskDefinitionArn)}
	if c := AppContainer(td.ContainerDefinitions); c != nil {
		rec.Attrs = map[string]string{"image": aws.ToString(c.Image)}
	}
	return rec
}

// latest is the family's latest ACTIVE revision, nil when it has none.
func (r *TaskDef) latest(ctx context.Context, family string) (*ecstypes.TaskDefinition, error) {
	out, err := r.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
	if IsTaskDefNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing task definition %s: %w", family, err)
	}
	if out.TaskDefinition.Status == ecstypes.TaskDefinitionStatusActive {
		return out.TaskDefinition, nil
	}
	// AWS answers a family name with its latest ACTIVE revision; the emulator answers
	// with the latest of any status. Look for an older ACTIVE one then.
	arns, err := rollout.Revisions(ctx, r.api, family, ecstypes.TaskDefinitionStatusActive)
	if err != nil || len(arns) == 0 {
		return nil, err
	}
	out, err = r.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arns[len(arns)-1])})
	if err != nil {
		return nil, fmt.Errorf("describing task definition %s: %w", arns[len(arns)-1], err)
	}
	return out.TaskDefinition, nil
}

// IsTaskDefNotFound: ECS says "ClientException: Unable to describe task definition" for
// a family that has no revision.
func IsTaskDefNotFound(err error) bool {
	return err != nil && (kit.IsNotFound(err) || kit.ErrorCode(err) == "ClientException" && strings.Contains(err.Error(), "Unable to describe task definition"))
}

// render is the definition to register, with image; ok is false while a dependency does
// not exist yet.
func (r *TaskDef) render(deps engine.Deps, image string) (*ecs.RegisterTaskDefinitionInput, bool) {
	exec, task, secret, logs := deps.Get(kit.KeyExecRole), deps.Get(kit.KeyTaskRole), deps.Get(kit.KeySecretAdmin), deps.Get(KeyLogGroup)
	if exec == nil || task == nil || secret == nil || logs == nil {
		return nil, false
	}
	secrets, ok := containerSecrets(r.In, deps, secret.ARN)
	if !ok {
		return nil, false
	}
	svc := r.In.Config.Service
	port := int32(svc.ContainerPort)
	health := fmt.Sprintf("import urllib.request;urllib.request.urlopen('http://127.0.0.1:%d%s', timeout=3)", port, svc.HealthCheckPath)
	logOptions := func(prefix string) *ecstypes.LogConfiguration {
		return &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": logs.ID, "awslogs-region": r.In.Region, "awslogs-stream-prefix": prefix,
		}}
	}
	app := ecstypes.ContainerDefinition{
		Name:      aws.String(containerName),
		Image:     aws.String(image),
		Essential: aws.Bool(true),
		// The task's memory as the container's hard limit: Fargate does not need it,
		// but RunTask in the emulator fails without it, and it costs nothing.
		Memory:       aws.Int32(int32(svc.Memory)),
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(port), Protocol: ecstypes.TransportProtocolTcp}},
		// By reference only: ECS reads the values at task start with the execution
		// role; they never appear in the definition.
		Secrets:          secrets,
		Environment:      containerEnv(r.In),
		Command:          r.In.Config.Service.Command,
		LogConfiguration: logOptions(containerName),
		// The slim image has no curl: Python itself asks the unauthenticated health
		// endpoint, and urlopen raises (exit 1) on an error or a non-2xx answer.
		HealthCheck: &ecstypes.HealthCheck{
			Command:     []string{"CMD", "python", "-c", health},
			Interval:    aws.Int32(15),
			Timeout:     aws.Int32(5),
			Retries:     aws.Int32(3),
			StartPeriod: aws.Int32(20),
		},
		ReadonlyRootFilesystem: aws.Bool(true),
	}
	containers := []ecstypes.ContainerDefinition{app}
	if r.In.Config.Observability.Tracing {
		// The app exports OTLP/HTTP to the collector on the task's loopback (api/tracing.py).
		containers[0].Environment = append(containers[0].Environment,
			ecstypes.KeyValuePair{Name: aws.String("FVDEPLOY_TRACING"), Value: aws.String("true")},
			ecstypes.KeyValuePair{Name: aws.String("OTEL_SERVICE_NAME"), Value: aws.String(r.In.Prefix())},
		)
		// The collector's reservation comes out of the app's limit: together they must
		// fit the task.
		containers[0].Memory = aws.Int32(int32(svc.Memory - collectorMemoryMiB))
		containers = append(containers, ecstypes.ContainerDefinition{
			Name:    aws.String(CollectorName),
			Image:   aws.String(CollectorImage),
			Command: []string{"--config=" + collectorConfig},
			// Tracing must never take the service down: a failed collector costs traces only.
			Essential:              aws.Bool(false),
			MemoryReservation:      aws.Int32(collectorMemoryMiB),
			LogConfiguration:       logOptions(CollectorName),
			ReadonlyRootFilesystem: aws.Bool(true),
		})
	}
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(kit.TaskFamily(r.In)),
		TaskRoleArn:             aws.String(task.ARN),
		ExecutionRoleArn:        aws.String(exec.ARN),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String(strconv.Itoa(svc.CPU)),
		Memory:                  aws.String(strconv.Itoa(svc.Memory)),
		// The architecture the image phase builds for (image.platform).
		RuntimePlatform:      RuntimePlatform(r.In.Config.Image.Platform),
		ContainerDefinitions: containers,
		Tags:                 ECSTags(r.In.Tags(KeyTaskDef)),
	}, true
}

// containerSecrets are the app's secret variables by valueFrom, sorted by name: the admin
// credentials and service.secrets, each a JSON key (<arn>:KEY::) of the admin secret
// (secretARN) or of a named one; ok is false while a named one is not found yet.
func containerSecrets(in *kit.Inputs, deps engine.Deps, secretARN string) ([]ecstypes.Secret, bool) {
	from := map[string]string{
		kit.EnvAdminPass:         secretARN + ":" + kit.EnvAdminPass + "::",
		kit.EnvAdminPassPrevious: secretARN + ":" + kit.EnvAdminPassPrevious + "::",
		kit.EnvAdminUser:         secretARN + ":" + kit.EnvAdminUser + "::",
	}
	for name, ref := range in.Config.Service.Secrets {
		arn := secretARN
		if ref.Secret != "" {
			rec := deps.Get(kit.KeySecretRef(ref.Secret))
			if rec == nil || rec.ARN == "" {
				return nil, false
			}
			arn = rec.ARN
		}
		from[name] = arn + ":" + ref.Key + "::"
	}
	out := make([]ecstypes.Secret, 0, len(from))
	for _, name := range slices.Sorted(maps.Keys(from)) {
		out = append(out, ecstypes.Secret{Name: aws.String(name), ValueFrom: aws.String(from[name])})
	}
	return out, true
}

// containerEnv is service.env, sorted by name; nil when it is empty.
func containerEnv(in *kit.Inputs) []ecstypes.KeyValuePair {
	env := in.Config.Service.Env
	var out []ecstypes.KeyValuePair
	for _, name := range slices.Sorted(maps.Keys(env)) {
		out = append(out, ecstypes.KeyValuePair{Name: aws.String(name), Value: aws.String(env[name])})
	}
	return out
}

func (r *TaskDef) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	image := r.In.ResolvedImage(deps)
	if !image.Known() {
		return nil, errNoImage
	}
	want, ok := r.render(deps, image.URI)
	if !ok {
		return nil, fmt.Errorf("task definition %s: a role, the secret or the log group it names does not exist", kit.TaskFamily(r.In))
	}
	return r.register(ctx, want)
}

func (r *TaskDef) register(ctx context.Context, want *ecs.RegisterTaskDefinitionInput) (*state.Resource, error) {
	out, err := r.api.RegisterTaskDefinition(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("registering task definition %s: %w", aws.ToString(want.Family), err)
	}
	rec := TaskDefRecord(out.TaskDefinition)
	return &rec, nil
}

func (r *TaskDef) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	image := r.In.ResolvedImage(deps).URI
	if r.In.Image.Kind == imagechoice.KeepRunning {
		image = found.Record.Attrs["image"]
	}
	if image == "" {
		return nil, errNoImage
	}
	want, ok := r.render(deps, image)
	if !ok {
		return nil, fmt.Errorf("task definition %s: a role, the secret or the log group it names does not exist", kit.TaskFamily(r.In))
	}
	return r.register(ctx, want)
}

// Delete deregisters every ACTIVE revision of the family, then asks ECS to delete them
// all (DeleteTaskDefinitions; where it is not supported the revisions stay INACTIVE,
// which is how ECS shows a removed task definition anyway).
func (r *TaskDef) Delete(ctx context.Context, rec *state.Resource) error {
	family := rec.ID
	active, err := rollout.Revisions(ctx, r.api, family, ecstypes.TaskDefinitionStatusActive)
	if err != nil {
		return err
	}
	for _, arn := range active {
		_, err := r.api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)})
		if err != nil && !IsTaskDefNotFound(err) {
			return fmt.Errorf("deregistering task definition %s: %w", arn, err)
		}
	}
	inactive, err := rollout.Revisions(ctx, r.api, family, ecstypes.TaskDefinitionStatusInactive)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(inactive, 10) {
		_, err := r.api.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: chunk})
		if code := kit.ErrorCode(err); code == "UnknownOperationException" || code == "InvalidAction" || code == "NotImplemented" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deleting the inactive revisions of task definition %s: %w", family, err)
		}
	}
	return nil
}

func AppContainer(cs []ecstypes.ContainerDefinition) *ecstypes.ContainerDefinition {
	return FindContainer(cs, containerName)
}

func FindContainer(cs []ecstypes.ContainerDefinition, name string) *ecstypes.ContainerDefinition {
	for i := range cs {
		if aws.ToString(cs[i].Name) == name {
			return &cs[i]
		}
	}
	return nil
}

// renderedField is one compared field of a task definition.
type renderedField struct{ name, value string }

// RenderTaskDef flattens the fields fvdeploy sets into comparable strings, normalizing
// what ECS (or the emulator) may echo differently: list order, defaults left out or
// filled in (protocol tcp, hostPort = containerPort under awsvpc, essential true).
func RenderTaskDef(td *ecs.RegisterTaskDefinitionInput) []renderedField {
	compat := make([]string, 0, len(td.RequiresCompatibilities))
	for _, c := range td.RequiresCompatibilities {
		compat = append(compat, string(c))
	}
	slices.Sort(compat)
	out := []renderedField{
		{"family", aws.ToString(td.Family)},
		{"task_role_arn", aws.ToString(td.TaskRoleArn)},
		{"execution_role_arn", aws.ToString(td.ExecutionRoleArn)},
		{"network_mode", string(td.NetworkMode)},
		{"requires_compatibilities", strings.Join(compat, ",")},
		{"cpu", aws.ToString(td.Cpu)},
		{"memory", aws.ToString(td.Memory)},
		{"runtime_platform", RuntimePlatformText(td.RuntimePlatform)},
	}
	var names []string
	for _, c := range td.ContainerDefinitions {
		names = append(names, aws.ToString(c.Name))
	}
	slices.Sort(names)
	out = append(out, renderedField{"containers", strings.Join(names, ",")})
	if col := FindContainer(td.ContainerDefinitions, CollectorName); col != nil {
		out = append(out,
			renderedField{"collector.image", aws.ToString(col.Image)},
			renderedField{"collector.command", strings.Join(col.Command, " ")},
			renderedField{"collector.essential", strconv.FormatBool(col.Essential == nil || *col.Essential)},
			renderedField{"collector.memory_reservation", strconv.Itoa(int(aws.ToInt32(col.MemoryReservation)))},
			renderedField{"collector.readonly_root_filesystem", strconv.FormatBool(aws.ToBool(col.ReadonlyRootFilesystem))},
		)
	}
	c := AppContainer(td.ContainerDefinitions)
	if c == nil {
		return out
	}
	var ports []string
	for _, p := range c.PortMappings {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		ports = append(ports, fmt.Sprintf("%d/%s", aws.ToInt32(p.ContainerPort), proto))
	}
	slices.Sort(ports)
	var secrets []string
	for _, s := range c.Secrets {
		secrets = append(secrets, aws.ToString(s.Name)+"="+aws.ToString(s.ValueFrom))
	}
	slices.Sort(secrets)
	var env []string
	for _, e := range c.Environment {
		// A digest of the value: a plan shows which variable changed, never what it holds.
		sum := sha256.Sum256([]byte(aws.ToString(e.Value)))
		env = append(env, aws.ToString(e.Name)+"="+hex.EncodeToString(sum[:6]))
	}
	slices.Sort(env)
	essential := c.Essential == nil || *c.Essential
	var logDriver, logOpts string
	if c.LogConfiguration != nil {
		logDriver = string(c.LogConfiguration.LogDriver)
		var opts []string
		for _, k := range slices.Sorted(maps.Keys(c.LogConfiguration.Options)) {
			opts = append(opts, k+"="+c.LogConfiguration.Options[k])
		}
		logOpts = strings.Join(opts, ",")
	}
	var health string
	if h := c.HealthCheck; h != nil {
		health = fmt.Sprintf("%q interval=%d timeout=%d retries=%d start=%d", h.Command,
			aws.ToInt32(h.Interval), aws.ToInt32(h.Timeout), aws.ToInt32(h.Retries), aws.ToInt32(h.StartPeriod))
	}
	return append(out,
		renderedField{"container.image", aws.ToString(c.Image)},
		renderedField{"container.essential", strconv.FormatBool(essential)},
		renderedField{"container.memory", strconv.Itoa(int(aws.ToInt32(c.Memory)))},
		renderedField{"container.ports", strings.Join(ports, ",")},
		renderedField{"container.secrets", strings.Join(secrets, ",")},
		renderedField{"container.environment", strings.Join(env, ",")},
		renderedField{"container.command", commandText(c.Command)},
		renderedField{"container.log_driver", logDriver},
		renderedField{"container.log_options", logOpts},
		renderedField{"container.health_check", health},
		renderedField{"container.readonly_root_filesystem", strconv.FormatBool(aws.ToBool(c.ReadonlyRootFilesystem))},
	)
}

// commandText renders a container command, "" for none (the image's CMD).
func commandText(cmd []string) string {
	if len(cmd) == 0 {
		return ""
	}
	return fmt.Sprintf("%q", cmd)
}

func DiffRendered(live, want []renderedField) []engine.Change {
	have := make(map[string]string, len(live))
	for _, f := range live {
		have[f.name] = f.value
	}
	var changes []engine.Change
	for _, f := range want {
		if have[f.name] != f.value {
			changes = append(changes, engine.Change{Field: f.name, From: have[f.name], To: f.value})
		}
	}
	return changes
}

// RuntimePlatform is the task's OS and CPU architecture for an image platform os/arch.
func RuntimePlatform(platform string) *ecstypes.RuntimePlatform {
	arch := ecstypes.CPUArchitectureX8664
	if platform == "linux/arm64" {
		arch = ecstypes.CPUArchitectureArm64
	}
	return &ecstypes.RuntimePlatform{OperatingSystemFamily: ecstypes.OSFamilyLinux, CpuArchitecture: arch}
}

// RuntimePlatformText renders a runtime platform; none given is Fargate's default, Linux
// on x86-64.
func RuntimePlatformText(p *ecstypes.RuntimePlatform) string {
	osFamily, arch := ecstypes.OSFamilyLinux, ecstypes.CPUArchitectureX8664
	if p != nil && p.OperatingSystemFamily != "" {
		osFamily = p.OperatingSystemFamily
	}
	if p != nil && p.CpuArchitecture != "" {
		arch = p.CpuArchitecture
	}
	return string(osFamily) + "/" + string(arch)
}
