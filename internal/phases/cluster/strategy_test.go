package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	clusterphase "github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
)

// Each strategy reaches ECS as its native one, with the circuit breaker and the alarms
// kept, and the traffic-shifting ones with the alternate group, rule and role.
func TestServiceStrategies(t *testing.T) {
	tests := map[string]struct {
		strategy string
		want     string
		advanced bool
	}{
		"rolling":    {strategy: config.StrategyRolling, want: "ROLLING"},
		"canary":     {strategy: config.StrategyCanary, want: "CANARY 10% for 5 min, bake 2 min", advanced: true},
		"linear":     {strategy: config.StrategyLinear, want: "LINEAR 25% steps 2 min apart, bake 2 min", advanced: true},
		"blue_green": {strategy: config.StrategyBlueGreen, want: "BLUE_GREEN, bake 2 min", advanced: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			echo := &ecsEcho{}
			r, deps := stubbedService(t, "prod", echo)
			r.In.Config.Deploy.Strategy = tc.strategy
			if got := strings.Contains(strings.Join(r.DependsOn(), ","), clusterphase.KeyProdRule); got != tc.advanced {
				t.Errorf("depends on the listener rule: %t, want %t", got, tc.advanced)
			}
			rec, err := r.Create(context.Background(), deps)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			in := echo.created[0]
			dc := in.DeploymentConfiguration
			if got := clusterphase.StrategyField(dc); got != tc.want {
				t.Errorf("strategy %q, want %q", got, tc.want)
			}
			if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
				t.Errorf("circuit breaker %+v, want on with rollback", cb)
			}
			if a := dc.Alarms; a == nil || !a.Enable || !a.Rollback || len(a.AlarmNames) != 2 {
				t.Errorf("alarms %s", clusterphase.AlarmsField(a))
			}
			a := in.LoadBalancers[0].AdvancedConfiguration
			if !tc.advanced {
				if a != nil {
					t.Errorf("rolling sent advancedConfiguration %+v", a)
				}
			} else if a == nil || aws.ToString(a.AlternateTargetGroupArn) != altTGARN || aws.ToString(a.ProductionListenerRule) != prodRuleARN ||
				aws.ToString(a.RoleArn) != lbRoleARN || a.TestListenerRule != nil {
				t.Errorf("advancedConfiguration %+v", a)
			}
			found, err := r.Find(context.Background(), deps, rec)
			if err != nil || found == nil || len(found.Changes) != 0 {
				t.Errorf("a second run: %+v, %v; want no change", found, err)
			}
		})
	}
}

// A live rolling service switched to canary gets one UpdateService with the strategy
// and the load balancer's advanced configuration; ECS's swap of the two groups after a
// deployment is no drift; back to rolling is refused while the traffic is in the
// alternate group, and done once it is not.
func TestServiceStrategySwitch(t *testing.T) {
	ctx := context.Background()
	echo := &ecsEcho{}
	r, deps := stubbedService(t, "prod", echo)
	r.In.Config.Deploy.Strategy = config.StrategyRolling
	rec, err := r.Create(ctx, deps)
	if err != nil {
		t.Fatal(err)
	}

	r.In.Config.Deploy.Strategy = config.StrategyCanary
	found, err := r.Find(ctx, deps, rec)
	if err != nil || found == nil {
		t.Fatalf("find: %v %v", found, err)
	}
	var fields []string
	for _, c := range found.Changes {
		fields = append(fields, c.Field)
	}
	if strings.Join(fields, ",") != "load_balancers,deployment_strategy" {
		t.Fatalf("changes %v, want load_balancers and deployment_strategy", found.Changes)
	}
	if _, err := r.Update(ctx, deps, found); err != nil {
		t.Fatalf("update: %v", err)
	}
	u := echo.updated[0]
	if got := clusterphase.StrategyField(u.DeploymentConfiguration); got != "CANARY 10% for 5 min, bake 2 min" {
		t.Errorf("UpdateService strategy %q", got)
	}
	if a := u.LoadBalancers[0].AdvancedConfiguration; a == nil || aws.ToString(a.AlternateTargetGroupArn) != altTGARN {
		t.Errorf("UpdateService load balancers %+v", u.LoadBalancers)
	}
	live := *echo.svc
	live.DeploymentConfiguration = u.DeploymentConfiguration
	live.LoadBalancers = u.LoadBalancers
	echo.svc = &live

	// ECS has moved production to the alternate group and names it first.
	swapped := live
	swapped.LoadBalancers = []ecstypes.LoadBalancer{live.LoadBalancers[0]}
	swapped.LoadBalancers[0].TargetGroupArn = aws.String(altTGARN)
	adv := *live.LoadBalancers[0].AdvancedConfiguration
	adv.AlternateTargetGroupArn = live.LoadBalancers[0].TargetGroupArn
	swapped.LoadBalancers[0].AdvancedConfiguration = &adv
	echo.svc = &swapped
	if found, err := r.Find(ctx, deps, rec); err != nil || len(found.Changes) != 0 {
		t.Errorf("the groups swapped by ECS read as %v, %v; want no change", found.Changes, err)
	}

	r.In.Config.Deploy.Strategy = config.StrategyRolling
	found, err = r.Find(ctx, deps, rec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Update(ctx, deps, found)
	if err == nil || !strings.Contains(err.Error(), "deploy once more with the current strategy") || !strings.Contains(err.Error(), altTGARN) {
		t.Fatalf("switch to rolling with traffic in the alternate group: %v, want a refusal saying what to do", err)
	}
	if len(echo.updated) != 1 {
		t.Errorf("the refused switch sent UpdateService")
	}

	// The service names the primary group first, but the rule sends the traffic to the
	// alternate one: refused all the same.
	echo.svc = &live
	echo.altWeight = 100
	if _, err := r.Update(ctx, deps, found); err == nil || !strings.Contains(err.Error(), "deploy once more with the current strategy") {
		t.Fatalf("switch to rolling with the rule's traffic in the alternate group: %v, want a refusal", err)
	}
	echo.altWeight = 0
	if _, err := r.Update(ctx, deps, found); err != nil {
		t.Fatalf("switch to rolling with traffic in the primary group: %v", err)
	}
	if u := echo.updated[1]; u.LoadBalancers[0].AdvancedConfiguration != nil || clusterphase.StrategyField(u.DeploymentConfiguration) != "ROLLING" {
		t.Errorf("back to rolling sent %+v, %s", u.LoadBalancers, clusterphase.StrategyField(u.DeploymentConfiguration))
	}
}

// The deployment alarms follow the new revision: per target group while it rolls in the
// one group, on the whole load balancer when it may serve from either.
func TestDeploymentAlarmsWatchTheNewRevision(t *testing.T) {
	for strategy, byTG := range map[string]bool{config.StrategyRolling: true, config.StrategyCanary: false, config.StrategyLinear: false, config.StrategyBlueGreen: false} {
		cfg, err := config.Defaults("prod")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Deploy.Strategy = strategy
		for _, spec := range observability.AlarmSpecs(&kit.Inputs{Config: cfg}) {
			if spec.Name != kit.Alarm5xxTarget && spec.Name != kit.AlarmP95Latency {
				continue
			}
			if got := strings.Contains(strings.Join(spec.Deps, ","), kit.KeyTG); got != byTG {
				t.Errorf("%s: alarm %s depends on the target group: %t, want %t", strategy, spec.Name, got, byTG)
			}
		}
	}
}

// The production rule against the emulator: created forwarding all traffic to the primary
// group; weights ECS moved are not drift; a rule changed by hand (one group dropped) is
// put back with one ModifyRule, all traffic on the primary group as at creation.
func TestProductionListenerRule(t *testing.T) {
	ctx := context.Background()
	in, rec := phasetest.NewTestInputs(t, "prod", nil)
	doc := phasetest.NewDoc(in)
	phasetest.FakeNetwork(t, in, doc)
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	elb := in.AWS.ELB()
	tg, alt, rule := doc.Resources[kit.KeyTG].ARN, doc.Resources[kit.KeyAltTG].ARN, doc.Resources[clusterphase.KeyProdRule].ARN
	weights := func() string {
		out, err := elb.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{rule}})
		if err != nil || len(out.Rules) != 1 {
			t.Fatalf("describing the rule: %v", err)
		}
		r := out.Rules[0]
		var parts []string
		for _, g := range r.Actions[0].ForwardConfig.TargetGroups {
			name := "primary"
			if aws.ToString(g.TargetGroupArn) == alt {
				name = "alternate"
			}
			parts = append(parts, fmt.Sprintf("%s=%d", name, aws.ToInt32(g.Weight)))
		}
		return aws.ToString(r.Priority) + " " + clusterphase.PathPatterns(r.Conditions) + " " + strings.Join(parts, ",")
	}
	if got := weights(); got != "10 path-pattern=/* primary=100,alternate=0" {
		t.Fatalf("rule %s", got)
	}

	// ECS moved the traffic during a deployment.
	if _, err := elb.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(rule), Actions: clusterphase.Weighted([]string{tg, alt}, []int32{0, 100})}); err != nil {
		t.Fatal(err)
	}
	if it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets", "cluster"), clusterphase.KeyProdRule); it.Action != engine.NoOp {
		t.Errorf("weights moved by ECS plan as %+v", it)
	}

	// Someone pointed the rule at the alternate group alone.
	if _, err := elb.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(rule), Actions: kit.ForwardTo(alt)}); err != nil {
		t.Fatal(err)
	}
	if it := phasetest.Item(phasetest.PlanPhases(t, in, doc, "secrets", "cluster"), clusterphase.KeyProdRule); it.Action != engine.Update || it.Changes[0].Field != "target_groups" {
		t.Fatalf("a rule with one group plans as %+v", it)
	}
	from := len(rec.Calls())
	phasetest.ApplyScoped(t, in, doc, "secrets", "cluster")
	if m := phasetest.Mutations(rec, from); strings.Join(m, ",") != "Elastic Load Balancing v2.ModifyRule" {
		t.Errorf("the repair took %v, want one ModifyRule", m)
	}
	if got := weights(); got != "10 path-pattern=/* primary=100,alternate=0" {
		t.Errorf("repaired rule %s", got)
	}
}
