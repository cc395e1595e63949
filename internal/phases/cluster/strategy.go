package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The resources ECS's traffic-shifting strategies (blue_green, canary, linear) need on
// top of the rolling service: a second target group for the new revision's tasks, a
// listener rule whose weighted forward ECS moves from one group to the other, and a role
// ECS assumes to move it. Rolling declares none of them; switching back prunes them after
// the service has let go of them.
const (
	KeyProdRule = "cluster/listener-rule"
	KeyLBRole   = "cluster/lb-role"
)

// prodRulePriority puts the production rule before the listener's default action, which
// it shadows: path /* matches every request.
const prodRulePriority = 10

// productionListenerKey is the listener that serves the service: 443 with a domain (port
// 80 then redirects, and a rule there would bypass the redirect), 80 without.
func productionListenerKey(in *kit.Inputs) string {
	if in.Config.Edge.Domain != "" {
		return kit.KeyListenerHTTPS
	}
	return kit.KeyListenerHTTP
}

// declareStrategy is the traffic-shifting strategies' part of the cluster phase.
func declareStrategy(in *kit.Inputs) []engine.Resource {
	if !kit.ShiftsTraffic(in) {
		return nil
	}
	return strategyResources(in)
}

// strategyResources are those resources under any strategy: their Delete needs only a
// state record, so they also delete what a traffic-shifting strategy left behind.
func strategyResources(in *kit.Inputs) []engine.Resource {
	elbc := in.AWS.ELB()
	return []engine.Resource{
		&kinds.TargetGroup{In: in, API: elbc, Alternate: true},
		&listenerRule{in: in, api: elbc},
		&kinds.Role{In: in, API: in.AWS.IAM(), ResourceKey: KeyLBRole, Name: kit.BoundedName(in.Prefix()+"-ecs-lb", 64), Trust: kit.ECSTrustPolicy(in),
			Deps: []string{kit.KeyTG, kit.KeyAltTG, KeyProdRule, productionListenerKey(in)}, Policy: lbRolePolicy,
			Description: "Role ECS assumes to shift " + in.Prefix() + "'s traffic between its two target groups"},
	}
}

// ecsStrategy is the strategy as ECS names it.
func ecsStrategy(s string) ecstypes.DeploymentStrategy {
	switch s {
	case config.StrategyCanary:
		return ecstypes.DeploymentStrategyCanary
	case config.StrategyLinear:
		return ecstypes.DeploymentStrategyLinear
	case config.StrategyBlueGreen:
		return ecstypes.DeploymentStrategyBlueGreen
	}
	return ecstypes.DeploymentStrategyRolling
}

// withStrategy adds the configured strategy to a deployment configuration. The circuit
// breaker and the alarms stay: ECS applies both to rolling and to the blue/green family.
func withStrategy(in *kit.Inputs, dc *ecstypes.DeploymentConfiguration) *ecstypes.DeploymentConfiguration {
	d := in.Config.Deploy
	dc.Strategy = ecsStrategy(d.Strategy)
	switch d.Strategy {
	case config.StrategyCanary:
		dc.CanaryConfiguration = &ecstypes.CanaryConfiguration{CanaryPercent: aws.Float64(float64(d.CanaryPercent)), CanaryBakeTimeInMinutes: aws.Int32(int32(d.CanaryBakeMinutes))}
	case config.StrategyLinear:
		dc.LinearConfiguration = &ecstypes.LinearConfiguration{StepPercent: aws.Float64(float64(d.LinearStepPercent)), StepBakeTimeInMinutes: aws.Int32(int32(d.LinearStepBakeMinutes))}
	}
	if kit.ShiftsTraffic(in) {
		dc.BakeTimeInMinutes = aws.Int32(int32(d.BakeMinutes))
	}
	return dc
}

// StrategyField renders a deployment configuration's strategy for comparison and plans;
// what ECS leaves out is rolling.
func StrategyField(dc *ecstypes.DeploymentConfiguration) string {
	s := dc.Strategy
	if s == "" {
		s = ecstypes.DeploymentStrategyRolling
	}
	out := string(s)
	if c := dc.CanaryConfiguration; s == ecstypes.DeploymentStrategyCanary && c != nil {
		out += fmt.Sprintf(" %g%% for %d min", aws.ToFloat64(c.CanaryPercent), aws.ToInt32(c.CanaryBakeTimeInMinutes))
	}
	if c := dc.LinearConfiguration; s == ecstypes.DeploymentStrategyLinear && c != nil {
		out += fmt.Sprintf(" %g%% steps %d min apart", aws.ToFloat64(c.StepPercent), aws.ToInt32(c.StepBakeTimeInMinutes))
	}
	if s != ecstypes.DeploymentStrategyRolling {
		out += fmt.Sprintf(", bake %d min", aws.ToInt32(dc.BakeTimeInMinutes))
	}
	return out
}

// advancedConfiguration is what a traffic-shifting service's load balancer entry adds:
// where the new revision starts, the rule ECS moves, and the role it moves it with.
func advancedConfiguration(w serviceWant) *ecstypes.AdvancedConfiguration {
	if w.altTargetGroup == "" {
		return nil
	}
	return &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(w.altTargetGroup),
		ProductionListenerRule: aws.String(w.prodRule), RoleArn: aws.String(w.lbRole)}
}

// loadBalancersField renders the service's load balancer entries for comparison. ECS
// alternates the two target groups from one blue/green-family deployment to the next, so
// an entry whose groups are the wanted ones swapped is rendered as the wanted order.
func loadBalancersField(lbs []ecstypes.LoadBalancer, tg, alt string) string {
	var out []string
	for _, lb := range lbs {
		primary, other := aws.ToString(lb.TargetGroupArn), ""
		s := fmt.Sprintf("%s:%d", aws.ToString(lb.ContainerName), aws.ToInt32(lb.ContainerPort))
		if a := lb.AdvancedConfiguration; a != nil {
			other = aws.ToString(a.AlternateTargetGroupArn)
			s += fmt.Sprintf(" rule=%s role=%s", aws.ToString(a.ProductionListenerRule), aws.ToString(a.RoleArn))
		}
		if alt != "" && primary == alt && other == tg {
			primary, other = other, primary
		}
		if other != "" {
			s = "alternate=" + other + " " + s
		}
		out = append(out, primary+" "+s)
	}
	return strings.Join(out, ";")
}

// liveOrder keeps the primary and alternate groups in the order ECS has them now, so an
// update does not swap them under a live deployment's traffic.
func liveOrder(s *ecstypes.Service, w serviceWant) serviceWant {
	if s == nil || len(s.LoadBalancers) == 0 || w.altTargetGroup == "" {
		return w
	}
	if aws.ToString(s.LoadBalancers[0].TargetGroupArn) == w.altTargetGroup {
		w.targetGroup, w.altTargetGroup = w.altTargetGroup, w.targetGroup
	}
	return w
}

type ruleReader interface {
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
}

// altServes reports whether ECS serves production from the alternate group: the service
// names it first, or the production rule (still in state, pruned after the switch) gives
// it weight. Either reading alone would do on AWS; both are cheap, and which one ECS
// updates after a deployment is not documented.
func altServes(ctx context.Context, api ruleReader, live *ecstypes.Service, alt, rule *state.Resource) (bool, error) {
	if alt == nil {
		return false, nil
	}
	if live != nil && len(live.LoadBalancers) > 0 && aws.ToString(live.LoadBalancers[0].TargetGroupArn) == alt.ARN {
		return true, nil
	}
	if rule == nil || rule.ARN == "" {
		return false, nil
	}
	out, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{rule.ARN}})
	if kit.IsNotFound(err) || kit.ErrorCode(err) == "RuleNotFound" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the production listener rule %s: %w", rule.ARN, err)
	}
	for _, r := range out.Rules {
		for _, a := range r.Actions {
			if a.ForwardConfig == nil {
				continue
			}
			for _, t := range a.ForwardConfig.TargetGroups {
				if aws.ToString(t.TargetGroupArn) == alt.ARN && aws.ToInt32(t.Weight) > 0 {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// errStrandedTraffic is the switch to rolling refused while ECS serves production from
// the alternate group: the rolling service would start its tasks in the primary group
// and the pruned rule would take the traffic with it.
func errStrandedTraffic(in *kit.Inputs, service, alt, tg string) error {
	return fmt.Errorf("switching ECS service %s to deploy.strategy rolling: its production traffic is in the alternate target group %s since the last %s deployment, "+
		"and a rolling service uses %s only; deploy once more with the current strategy (traffic then returns to %s), or run `fvdeploy rollback --env %s`, then switch",
		service, alt, in.Config.Deploy.Strategy, tg, tg, in.Config.Env)
}

// ---- the role ECS shifts traffic with ----

// lbRolePolicy is AmazonECSInfrastructureRolePolicyForLoadBalancers narrowed to this
// service's objects: reads (which take no resource), (de)registering tasks in its two
// groups, and moving its production rule and listener.
func lbRolePolicy(in *kit.Inputs, deps engine.Deps, _ string) (string, bool) {
	tg, alt, rule, l := deps.Get(kit.KeyTG), deps.Get(kit.KeyAltTG), deps.Get(KeyProdRule), deps.Get(productionListenerKey(in))
	if tg == nil || alt == nil || rule == nil || l == nil || rule.ARN == "" {
		return "", false
	}
	return kit.PolicyJSON(
		kit.PolicyStatement{Sid: "ReadLoadBalancing", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
			"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"}},
		kit.PolicyStatement{Sid: "RegisterTasks", Effect: "Allow", Resource: []string{tg.ARN, alt.ARN}, Action: []string{
			"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"}},
		kit.PolicyStatement{Sid: "ShiftTraffic", Effect: "Allow", Resource: []string{rule.ARN, l.ARN}, Action: []string{
			"elasticloadbalancing:ModifyRule", "elasticloadbalancing:ModifyListener"}},
	), true
}

// strategyDeps are what a traffic-shifting service depends on besides the rolling one's.
func strategyDeps(in *kit.Inputs) []string {
	if !kit.ShiftsTraffic(in) {
		return nil
	}
	return []string{kit.KeyAltTG, KeyProdRule, KeyLBRole}
}

// strategyWant fills the traffic-shifting part of the service's want; false while one of
// its objects does not exist yet.
func strategyWant(in *kit.Inputs, deps engine.Deps, w *serviceWant) bool {
	if !kit.ShiftsTraffic(in) {
		return true
	}
	alt, rule, role := deps.Get(kit.KeyAltTG), deps.Get(KeyProdRule), deps.Get(KeyLBRole)
	if alt == nil || rule == nil || role == nil {
		return false
	}
	w.altTargetGroup, w.prodRule, w.lbRole = alt.ARN, rule.ARN, role.ARN
	return true
}
