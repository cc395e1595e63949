package phases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// DeployResources are what `deploy` reconciles before it rolls the service: the image
// phase (unless an image is given), the execution role (its pull grant follows the
// image's repository) and the task definition, which gets a new revision only when its
// rendering differs. in.Image says whether to build.
func DeployResources(in *Inputs) ([]engine.Resource, error) {
	var out []engine.Resource
	if in.Image.Builds() {
		image, err := declareImage(in)
		if err != nil {
			return nil, err
		}
		out = append(out, image...)
	}
	cluster, err := declareCluster(in)
	if err != nil {
		return nil, err
	}
	for _, r := range cluster {
		if r.Key() == keyExecRole || r.Key() == keyTaskDef {
			out = append(out, r)
		}
	}
	return out, nil
}

// DeployedTaskDefinition is the task definition revision that state records.
func DeployedTaskDefinition(doc *state.Document) string {
	if td := doc.Resources[keyTaskDef]; td != nil {
		return td.ARN
	}
	return ""
}

type rolloutAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	serviceDeploymentsAPI
}

// RolloutOptions say how to roll and how long to wait.
type RolloutOptions struct {
	// Wait, when false, returns once ECS has accepted the new task definition.
	Wait bool
	// Timeout bounds the wait.
	Timeout time.Duration
	// Status is told the deployment's counts whenever they change; Event each new
	// service event, once.
	Status func(RolloutStatus)
	Event  func(at time.Time, message string)
	// Stage is told each new stage once, in order: new tasks starting, healthy, traffic
	// shifted, baking, cleaning up, done.
	Stage func(RolloutStage)
}

// RolloutStatus is where the new deployment stands.
type RolloutStatus struct {
	Deployment                      string
	Desired, Pending, Running, Fail int32
	State                           string
	// Stage is the current stage with the time left in a bake.
	Stage string
}

func (s RolloutStatus) String() string {
	out := fmt.Sprintf("desired %d, pending %d, running %d, failed %d, rollout %s", s.Desired, s.Pending, s.Running, s.Fail, s.State)
	if s.Stage != "" {
		out = s.Stage + "; " + out
	}
	return out
}

// RolloutResult is what a rollout did.
type RolloutResult struct {
	Service        string `json:"service"`
	Cluster        string `json:"cluster"`
	TaskDefinition string `json:"task_definition"`
	Previous       string `json:"previous_task_definition,omitempty"`
	// Updated says UpdateService was called; false when the service already ran it.
	Updated bool `json:"updated"`
	// Completed says the wait saw the rollout complete; false with --no-wait.
	Completed bool `json:"completed"`
}

// RolloutError is a rollout that did not complete: rolled back by the circuit breaker or
// a deployment alarm, failed, or still going when the wait ran out. It carries what a
// person needs to find out why.
type RolloutError struct {
	Service string
	// Kind is "rolled back", "failed" or "timed out".
	Kind   string
	Detail string
	// Alarm names the deployment alarm that failed the rollout; "" when none did.
	Alarm        string
	Events       []string
	StoppedTasks []string
}

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment of ECS service %s %s: %s", e.Service, e.Kind, e.Detail)
	if len(e.Events) > 0 {
		b.WriteString("\nlast service events:")
		for _, ev := range e.Events {
			b.WriteString("\n  " + ev)
		}
	}
	if len(e.StoppedTasks) > 0 {
		b.WriteString("\nstopped tasks:")
		for _, t := range e.StoppedTasks {
			b.WriteString("\n  " + t)
		}
	}
	return b.String()
}

// Rollout puts taskDef on the service that state records and, with opts.Wait, waits
// until it has rolled out. Success is the service's PRIMARY deployment running taskDef
// with running = desired and rollout COMPLETED; a deployment the circuit breaker rolled
// back is a failure, however "steady" the service then is. A service already running
// taskDef gets no call that changes anything.
func Rollout(ctx context.Context, in *Inputs, doc *state.Document, taskDef string, opts RolloutOptions) (*RolloutResult, error) {
	rec := doc.Resources[keyService]
	if rec == nil {
		return nil, fmt.Errorf("no ECS service in state: run `fvdeploy up --env %s` first", in.Config.Env)
	}
	w := &rolloutWatch{in: in, api: in.AWS.ECS(), opts: opts, cluster: rec.Attrs["cluster"], service: rec.ID, target: taskDef, seen: map[string]bool{}}
	res := &RolloutResult{Service: w.service, Cluster: w.cluster, TaskDefinition: taskDef}
	svc, err := w.describe(ctx)
	if err != nil {
		return nil, err
	}
	// The alarms the service watches, as ECS has them; the configured ones where ECS does
	// not say (the emulator drops them).
	w.alarms = deploymentAlarmNames(in)
	if dc := svc.DeploymentConfiguration; dc != nil && dc.Alarms != nil && len(dc.Alarms.AlarmNames) > 0 {
		w.alarms = dc.Alarms.AlarmNames
	}
	for _, ev := range svc.Events {
		w.seen[aws.ToString(ev.Id)] = true // only what happens from now on is news
	}
	res.Previous = aws.ToString(svc.TaskDefinition)
	deployment := ""
	if res.Previous != taskDef {
		out, err := w.api.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(w.cluster), Service: aws.String(w.service), TaskDefinition: aws.String(taskDef)})
		if err != nil {
			return nil, fmt.Errorf("updating ECS service %s to %s: %w", w.service, revisionName(taskDef), err)
		}
		res.Updated = true
		p := primary(out.Service)
		// ECS answers UpdateService with the new deployment as PRIMARY. An emulator that
		// starts none (moto) must not be mistaken for a rollout under way.
		if p == nil || aws.ToString(p.TaskDefinition) != taskDef {
			if !opts.Wait {
				return res, nil
			}
			return nil, &RolloutError{Service: w.service, Kind: "failed", Detail: fmt.Sprintf("ECS accepted %s but started no deployment of it", revisionName(taskDef))}
		}
		deployment = aws.ToString(p.Id)
		w.sdARN = aws.ToString(out.Service.CurrentServiceDeployment)
	} else {
		res.Previous = ""
		if p := primary(svc); p != nil && aws.ToString(p.TaskDefinition) == taskDef {
			deployment = aws.ToString(p.Id)
			w.sdARN = aws.ToString(svc.CurrentServiceDeployment)
		}
	}
	if !opts.Wait {
		return res, nil
	}
	if err := w.wait(ctx, deployment); err != nil {
		return nil, err
	}
	res.Completed = true
	return res, nil
}

type rolloutWatch struct {
	in                       *Inputs
	api                      rolloutAPI
	opts                     RolloutOptions
	cluster, service, target string
	seen                     map[string]bool
	last                     RolloutStatus
	// alarms are the deployment alarms' names; news the service events since the start.
	alarms []string
	news   []string
	// sdARN is ECS's service deployment of the rollout ("" when ECS names none); noSD
	// is set once the endpoint has shown it cannot describe one.
	sdARN string
	noSD  bool
	// current is the stage now, lastStage the last one passed on; since when each bake
	// was first seen.
	current   RolloutStage
	lastStage string
	since     map[string]time.Time
}

func (w *rolloutWatch) describe(ctx context.Context) (*ecstypes.Service, error) {
	out, err := w.api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(w.cluster), Services: []string{w.service}})
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s: %w", w.service, err)
	}
	for i := range out.Services {
		if aws.ToString(out.Services[i].ServiceName) == w.service && aws.ToString(out.Services[i].Status) == "ACTIVE" {
			return &out.Services[i], nil
		}
	}
	return nil, fmt.Errorf("ECS service %s is not active in cluster %s: run `fvdeploy up --env %s`", w.service, w.cluster, w.in.Config.Env)
}

func primary(s *ecstypes.Service) *ecstypes.Deployment {
	if s == nil {
		return nil
	}
	for i := range s.Deployments {
		if aws.ToString(s.Deployments[i].Status) == "PRIMARY" {
			return &s.Deployments[i]
		}
	}
	return nil
}

// revisionName is family:revision of a task definition ARN.
func revisionName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// wait polls the service until deployment (the one UpdateService started; "" when the
// service already ran the target) has completed, failed or been rolled back.
func (w *rolloutWatch) wait(ctx context.Context, deployment string) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	delay := w.in.PollInterval
	if delay == 0 {
		delay = 5 * time.Second
	}
	for {
		svc, err := w.describe(ctx)
		if ctx.Err() != nil {
			return w.failure(context.WithoutCancel(ctx), "timed out", "", fmt.Sprintf("still not rolled out after %s (last seen: %s)", w.opts.Timeout, w.last))
		}
		if err != nil {
			return err
		}
		w.record(svc)
		p := primary(svc)
		if deployment == "" && p != nil && aws.ToString(p.TaskDefinition) == w.target {
			deployment = aws.ToString(p.Id)
		}
		var d *ecstypes.Deployment
		for i := range svc.Deployments {
			if aws.ToString(svc.Deployments[i].Id) == deployment {
				d = &svc.Deployments[i]
			}
		}
		sd, err := w.serviceDeployment(ctx)
		if err != nil {
			continue // the wait ran out; the next round says so
		}
		w.showStage(w.stage(d, sd, time.Now()))
		if d != nil {
			w.status(d)
		}
		runsTarget := p != nil && aws.ToString(p.TaskDefinition) == w.target
		if back, alarm, why := rolledBack(sd); back {
			if alarm == "" {
				alarm = w.triggeredAlarm(d)
			}
			if why != "" {
				why = ": " + why
			}
			if alarm != "" {
				return w.failure(ctx, "rolled back", alarm, fmt.Sprintf("alarm %s went into ALARM and ECS rolled the service back%s", alarm, why))
			}
			return w.failure(ctx, "rolled back", "", "the circuit breaker rolled the service back"+why)
		}
		switch {
		case sd != nil && sd.Status == ecstypes.ServiceDeploymentStatusStopped:
			return w.failure(ctx, "failed", "", "ECS stopped the deployment of "+revisionName(w.target)+": "+aws.ToString(sd.StatusReason))
		case sd != nil && sd.Status == ecstypes.ServiceDeploymentStatusSuccessful && runsTarget:
			w.showStage(RolloutStage{Name: StageDone})
			return nil
		case p != nil && aws.ToString(p.TaskDefinition) != w.target && deployment != "":
			back := revisionName(aws.ToString(p.TaskDefinition))
			if alarm := w.triggeredAlarm(d); alarm != "" {
				return w.failure(ctx, "rolled back", alarm, fmt.Sprintf("alarm %s went into ALARM and ECS rolled the service back to %s%s", alarm, back, reason(d)))
			}
			return w.failure(ctx, "rolled back", "", fmt.Sprintf("the circuit breaker rolled the service back to %s%s", back, reason(d)))
		case d != nil && d.RolloutState == ecstypes.DeploymentRolloutStateFailed:
			alarm := w.triggeredAlarm(d)
			detail := "the rollout of " + revisionName(w.target) + " failed"
			if alarm != "" {
				detail += " on alarm " + alarm
			}
			return w.failure(ctx, "failed", alarm, detail+reason(d))
		case d != nil && d == p && d.RolloutState == ecstypes.DeploymentRolloutStateCompleted && d.RunningCount == d.DesiredCount &&
			(sd == nil || sd.Status == ecstypes.ServiceDeploymentStatusSuccessful):
			w.showStage(RolloutStage{Name: StageDone})
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// triggeredAlarm is the deployment alarm that ECS names in the failed deployment's
// reason or in a service event since the rollout began ("… alarm <name> in ALARM
// state"); "" when none is named, which is the circuit breaker's doing.
func (w *rolloutWatch) triggeredAlarm(d *ecstypes.Deployment) string {
	texts := w.news
	if d != nil {
		texts = append([]string{aws.ToString(d.RolloutStateReason)}, texts...)
	}
	for _, text := range texts {
		for _, name := range w.alarms {
			if strings.Contains(text, name) {
				return name
			}
		}
	}
	return ""
}

func reason(d *ecstypes.Deployment) string {
	if d == nil || aws.ToString(d.RolloutStateReason) == "" {
		return ""
	}
	return ": " + aws.ToString(d.RolloutStateReason)
}

// record passes on each service event not seen before, oldest first, and keeps its message.
func (w *rolloutWatch) record(svc *ecstypes.Service) {
	for _, ev := range slices.Backward(svc.Events) {
		id := aws.ToString(ev.Id)
		if w.seen[id] {
			continue
		}
		w.seen[id] = true
		w.news = append(w.news, aws.ToString(ev.Message))
		if w.opts.Event != nil {
			w.opts.Event(aws.ToTime(ev.CreatedAt), aws.ToString(ev.Message))
		}
	}
}

func (w *rolloutWatch) status(d *ecstypes.Deployment) {
	s := RolloutStatus{Deployment: aws.ToString(d.Id), Desired: d.DesiredCount, Pending: d.PendingCount, Running: d.RunningCount,
		Fail: d.FailedTasks, State: string(d.RolloutState), Stage: w.current.String()}
	if s != w.last && w.opts.Status != nil {
		w.opts.Status(s)
	}
	w.last = s
}

// failure is a RolloutError with the service's last events and why its tasks stopped.
func (w *rolloutWatch) failure(ctx context.Context, kind, alarm, detail string) error {
	e := &RolloutError{Service: w.service, Kind: kind, Alarm: alarm, Detail: detail}
	if svc, err := w.describe(ctx); err == nil {
		for _, ev := range svc.Events[:min(5, len(svc.Events))] {
			e.Events = append(e.Events, aws.ToTime(ev.CreatedAt).UTC().Format(time.RFC3339)+" "+aws.ToString(ev.Message))
		}
	}
	tasks, err := w.stoppedTasks(ctx)
	if err != nil {
		tasks = []string{"(could not read them: " + err.Error() + ")"}
	}
	e.StoppedTasks = tasks
	return e
}

// stoppedTasks says why the service's recently stopped tasks of the new revision stopped.
func (w *rolloutWatch) stoppedTasks(ctx context.Context) ([]string, error) {
	list, err := w.api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(w.cluster), ServiceName: aws.String(w.service), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(list.TaskArns) == 0 {
		return nil, err
	}
	out, err := w.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(w.cluster), Tasks: list.TaskArns[:min(10, len(list.TaskArns))]})
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, t := range out.Tasks {
		if aws.ToString(t.TaskDefinitionArn) != w.target {
			continue
		}
		line := revisionName(aws.ToString(t.TaskArn)) + ": " + aws.ToString(t.StoppedReason)
		for _, c := range t.Containers {
			if r := aws.ToString(c.Reason); r != "" {
				line += "; " + aws.ToString(c.Name) + ": " + r
			} else if c.ExitCode != nil {
				line += fmt.Sprintf("; %s exited %d", aws.ToString(c.Name), *c.ExitCode)
			}
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// ErrNoPreviousRevision means there is nothing to roll back to.
var ErrNoPreviousRevision = errors.New("no earlier ACTIVE revision of the task definition to roll back to")

// PreviousTaskDefinition is the ACTIVE revision of the service's family just before the
// one the service runs now.
func PreviousTaskDefinition(ctx context.Context, in *Inputs, doc *state.Document) (current, previous string, err error) {
	rec := doc.Resources[keyService]
	if rec == nil {
		return "", "", fmt.Errorf("no ECS service in state: run `fvdeploy up --env %s` first", in.Config.Env)
	}
	w := &rolloutWatch{in: in, api: in.AWS.ECS(), cluster: rec.Attrs["cluster"], service: rec.ID}
	svc, err := w.describe(ctx)
	if err != nil {
		return "", "", err
	}
	current = aws.ToString(svc.TaskDefinition)
	td := &taskDef{in: in, api: in.AWS.ECS()}
	arns, err := td.revisions(ctx, taskFamily(in), ecstypes.TaskDefinitionStatusActive)
	if err != nil {
		return "", "", err
	}
	i := slices.Index(arns, current)
	if i <= 0 {
		return current, "", ErrNoPreviousRevision
	}
	return current, arns[i-1], nil
}

// ForgetRevision deregisters a task definition revision rolled back from, so that a plain
// `up` keeps the service where the rollback put it, and records the revision that runs.
func ForgetRevision(ctx context.Context, in *Inputs, doc *state.Document, abandoned, running string, save engine.Saver) error {
	if _, err := in.AWS.ECS().DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(abandoned)}); err != nil && !isTaskDefNotFound(err) {
		return fmt.Errorf("deregistering %s: %w", revisionName(abandoned), err)
	}
	out, err := in.AWS.ECS().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(running)})
	if err != nil {
		return fmt.Errorf("describing %s: %w", revisionName(running), err)
	}
	rec := doc.Resources[keyTaskDef]
	if rec == nil {
		return nil
	}
	next := taskDefRecord(out.TaskDefinition)
	next.Type, next.DependsOn = rec.Type, rec.DependsOn
	doc.Resources[keyTaskDef] = &next
	doc.Outputs = Outputs(doc)
	return save(ctx, doc)
}

// HasService reports whether state records the ECS service that deploy rolls.
func HasService(doc *state.Document) bool { return doc.Resources[keyService] != nil }
