package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The emulator drops a service's deploymentConfiguration, so what fvdeploy sends to ECS
// is captured here at the SDK (a stub in the client's stack, nothing on the network) and
// what AWS would echo back is fed to Find.

const newTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/fastapi-vars-prod:7"

// serviceDeps are the records the service is built from.
func serviceDeps(in *kit.Inputs) *state.Document {
	doc := state.New("fastapi-vars", in.Config.Env, "us-east-1", "123456789012")
	doc.Resources[kit.KeyCluster] = &state.Resource{ID: "fastapi-vars-" + in.Config.Env}
	doc.Resources[clusterphase.KeyTaskDef] = &state.Resource{ARN: newTD}
	doc.Resources[kit.KeySG(kit.SGECS)] = &state.Resource{ID: "sg-1"}
	doc.Resources[kit.KeyTG] = &state.Resource{ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"}
	doc.Resources[kit.KeyListenerHTTP] = &state.Resource{ID: "listener"}
	doc.Resources[kit.KeyAltTG] = &state.Resource{ARN: altTGARN}
	doc.Resources[clusterphase.KeyProdRule] = &state.Resource{ARN: prodRuleARN}
	doc.Resources[clusterphase.KeyLBRole] = &state.Resource{ARN: lbRoleARN}
	for i, k := range clusterphase.PrivateSubnetKeys(in) {
		doc.Resources[k] = &state.Resource{ID: "subnet-" + string(rune('a'+i))}
	}
	return doc
}

const (
	altTGARN    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-alt/2"
	prodRuleARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/l1/r1"
	lbRoleARN   = "arn:aws:iam::123456789012:role/fastapi-vars-prod-ecs-lb"
)

type docDeps struct{ doc *state.Document }

func (d docDeps) Get(key string) *state.Resource { return d.doc.Resources[key] }

// ecsEcho plays ECS for one service: CreateService and UpdateService keep what they were
// sent, and DescribeServices answers with it, as AWS would; live, when set, is what
// DescribeServices answers instead (the service as someone left it).
type ecsEcho struct {
	mu      sync.Mutex
	svc     *ecstypes.Service
	live    *ecstypes.Service
	created []*ecs.CreateServiceInput
	updated []*ecs.UpdateServiceInput
	// altWeight is the production listener rule's weight on the alternate group.
	altWeight int32
}

func (e *ecsEcho) option(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ecsEcho",
		func(ctx context.Context, in middleware.InitializeInput, _ middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			var out any
			switch p := in.Parameters.(type) {
			case *iam.CreateServiceLinkedRoleInput:
				out = &iam.CreateServiceLinkedRoleOutput{}
			case *ecs.CreateServiceInput:
				e.created = append(e.created, p)
				svc := echoed(p)
				e.svc = &svc
				out = &ecs.CreateServiceOutput{Service: e.svc}
			case *ecs.UpdateServiceInput:
				e.updated = append(e.updated, p)
				if e.live != nil {
					e.svc = e.live
				}
				e.live = nil
				e.svc.DeploymentConfiguration = p.DeploymentConfiguration
				out = &ecs.UpdateServiceOutput{Service: e.svc}
			case *elbv2.DescribeRulesInput:
				out = &elbv2.DescribeRulesOutput{Rules: []elbtypes.Rule{{RuleArn: aws.String(prodRuleARN), Actions: clusterphase.Weighted(
					[]string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1", altTGARN}, []int32{100 - e.altWeight, e.altWeight})}}}
			case *ecs.DescribeServicesInput:
				svc := e.svc
				if e.live != nil {
					svc = e.live
				}
				out = &ecs.DescribeServicesOutput{Services: []ecstypes.Service{*svc}}
			default:
				return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("unscripted call %T", p)
			}
			return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
		}), middleware.Before)
}

func stubbedService(t *testing.T, env string, echo *ecsEcho) (*clusterphase.Service, engine.Deps) {
	t.Helper()
	cfg, err := config.Defaults(env)
	if err != nil {
		t.Fatal(err)
	}
	in := &kit.Inputs{Config: cfg, Account: "123456789012", Region: "us-east-1", Progress: t.Logf, PollInterval: time.Millisecond,
		AWS: &awsclients.Clients{Config: aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{},
			APIOptions: []func(*middleware.Stack) error{echo.option}}}}
	return &clusterphase.Service{In: in, API: in.AWS.ECS(), IAM: in.AWS.IAM(), ELB: in.AWS.ELB()}, docDeps{serviceDeps(in)}
}

// echoed is the service as ECS describes it after being created with in.
func echoed(in *ecs.CreateServiceInput) ecstypes.Service {
	return ecstypes.Service{
		ServiceName: in.ServiceName, ServiceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/" + aws.ToString(in.Cluster) + "/" + aws.ToString(in.ServiceName)),
		Status: aws.String("ACTIVE"), TaskDefinition: in.TaskDefinition, DesiredCount: aws.ToInt32(in.DesiredCount),
		NetworkConfiguration: in.NetworkConfiguration, LoadBalancers: in.LoadBalancers, DeploymentConfiguration: in.DeploymentConfiguration,
		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds, PropagateTags: in.PropagateTags, Tags: in.Tags,
		Deployments: []ecstypes.Deployment{{Id: aws.String("d-1"), TaskDefinition: in.TaskDefinition, Status: aws.String("PRIMARY"),
			RolloutState: ecstypes.DeploymentRolloutStateCompleted, DesiredCount: aws.ToInt32(in.DesiredCount), RunningCount: aws.ToInt32(in.DesiredCount)}},
	}
}

// checkDeploymentConfiguration fails unless dc rolls with min 100 %, max 200 %, the
// circuit breaker and the env's alarms, both with rollback.
func checkDeploymentConfiguration(t *testing.T, call, env string, dc *ecstypes.DeploymentConfiguration) {
	t.Helper()
	if dc == nil {
		t.Fatalf("%s sent no deployment configuration", call)
	}
	if a := dc.Alarms; a == nil || !a.Enable || !a.Rollback || strings.Join(a.AlarmNames, ",") != strings.Join(phasetest.DeploymentAlarmsOf(env), ",") {
		t.Errorf("%s deployment alarms %s, want %v enabled with rollback", call, clusterphase.AlarmsField(dc.Alarms), phasetest.DeploymentAlarmsOf(env))
	}
	if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
		t.Errorf("%s circuit breaker %+v, want enabled with rollback", call, cb)
	}
	if aws.ToInt32(dc.MinimumHealthyPercent) != 100 || aws.ToInt32(dc.MaximumPercent) != 200 {
		t.Errorf("%s min/max percent %d/%d, want 100/200", call, aws.ToInt32(dc.MinimumHealthyPercent), aws.ToInt32(dc.MaximumPercent))
	}
	// Prod reaches its traffic by a 10 % canary baked 5 minutes; dev and hml roll.
	want := "ROLLING"
	if env == "prod" {
		want = "CANARY 10% for 5 min, bake 2 min"
	}
	if got := clusterphase.StrategyField(dc); got != want {
		t.Errorf("%s strategy %q, want %q", call, got, want)
	}
}

// The service is created rolling with the circuit breaker and with this environment's
// 5xx and latency alarms rolling it back; described back as AWS keeps it, it is in sync,
// so a second run sends nothing.
func TestServiceCreateSendsDeploymentAlarms(t *testing.T) {
	for _, env := range []string{"dev", "hml", "prod"} {
		t.Run(env, func(t *testing.T) {
			echo := &ecsEcho{}
			r, deps := stubbedService(t, env, echo)
			rec, err := r.Create(context.Background(), deps)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if len(echo.created) != 1 {
				t.Fatalf("CreateService called %d times", len(echo.created))
			}
			checkDeploymentConfiguration(t, "CreateService", env, echo.created[0].DeploymentConfiguration)
			found, err := r.Find(context.Background(), deps, rec)
			if err != nil || found == nil {
				t.Fatalf("find after create: %v, %v", found, err)
			}
			if len(found.Changes) != 0 {
				t.Errorf("a second run would change %v", found.Changes)
			}
		})
	}
}

// Drift of the deployment alarms is found, and repaired by UpdateService with the whole
// deployment configuration (the circuit breaker kept); the moto case is the emulator's
// silence, which must not read as drift.
func TestServiceDeploymentAlarmsDrift(t *testing.T) {
	want := "enable=true rollback=true alarms=" + strings.Join(phasetest.DeploymentAlarmsOf("prod"), ",")
	withAlarms := func(a *ecstypes.DeploymentAlarms) *ecstypes.DeploymentConfiguration {
		cfg, _ := config.Defaults("prod")
		dc := clusterphase.DeploymentConfiguration(&kit.Inputs{Config: cfg})
		dc.Alarms = a
		return dc
	}
	tests := map[string]struct {
		live *ecstypes.DeploymentConfiguration
		from string // "" means in sync
	}{
		"as configured": {live: withAlarms(&ecstypes.DeploymentAlarms{Enable: true, Rollback: true, AlarmNames: phasetest.DeploymentAlarmsOf("prod")})},
		"names in another order": {live: withAlarms(&ecstypes.DeploymentAlarms{Enable: true, Rollback: true,
			AlarmNames: []string{phasetest.DeploymentAlarmsOf("prod")[1], phasetest.DeploymentAlarmsOf("prod")[0]}})},
		"no alarms (a service from before)": {live: withAlarms(nil), from: "enable=false rollback=false alarms="},
		"alarms switched off":               {live: withAlarms(&ecstypes.DeploymentAlarms{Rollback: true, AlarmNames: phasetest.DeploymentAlarmsOf("prod")}), from: "enable=false rollback=true alarms=" + strings.Join(phasetest.DeploymentAlarmsOf("prod"), ",")},
		"no rollback":                       {live: withAlarms(&ecstypes.DeploymentAlarms{Enable: true, AlarmNames: phasetest.DeploymentAlarmsOf("prod")}), from: "enable=true rollback=false alarms=" + strings.Join(phasetest.DeploymentAlarmsOf("prod"), ",")},
		"another environment's alarms": {live: withAlarms(&ecstypes.DeploymentAlarms{Enable: true, Rollback: true, AlarmNames: phasetest.DeploymentAlarmsOf("hml")}),
			from: "enable=true rollback=true alarms=" + strings.Join(phasetest.DeploymentAlarmsOf("hml"), ",")},
		"one alarm missing": {live: withAlarms(&ecstypes.DeploymentAlarms{Enable: true, Rollback: true, AlarmNames: phasetest.DeploymentAlarmsOf("prod")[:1]}),
			from: "enable=true rollback=true alarms=" + phasetest.DeploymentAlarmsOf("prod")[0]},
		"not reported (the emulator)": {live: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			echo := &ecsEcho{}
			r, deps := stubbedService(t, "prod", echo)
			rec, err := r.Create(context.Background(), deps)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			live := *echo.svc
			live.DeploymentConfiguration = tc.live
			echo.live = &live
			found, err := r.Find(context.Background(), deps, rec)
			if err != nil || found == nil {
				t.Fatalf("find: %v, %v", found, err)
			}
			if tc.from == "" {
				if len(found.Changes) != 0 {
					t.Errorf("changes %v, want none", found.Changes)
				}
				return
			}
			wantChange := engine.Change{Field: "deployment_alarms", From: tc.from, To: want}
			if len(found.Changes) != 1 || found.Changes[0] != wantChange {
				t.Fatalf("changes %v, want [%v]", found.Changes, wantChange)
			}
			if _, err := r.Update(context.Background(), deps, found); err != nil {
				t.Fatalf("update: %v", err)
			}
			if len(echo.updated) != 1 {
				t.Fatalf("UpdateService called %d times, want 1", len(echo.updated))
			}
			u := echo.updated[0]
			checkDeploymentConfiguration(t, "UpdateService", "prod", u.DeploymentConfiguration)
			if u.DesiredCount != nil || u.ForceNewDeployment {
				t.Errorf("UpdateService also sent desired count %v, force %v", u.DesiredCount, u.ForceNewDeployment)
			}
			again, err := r.Find(context.Background(), deps, rec)
			if err != nil || again == nil || len(again.Changes) != 0 {
				t.Errorf("after the repair: %v, %v", again, err)
			}
		})
	}
}
