package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

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

// ---- listener rule ----

type listenerRuleAPI interface {
	kit.ELBTagsAPI
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, opts ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error)
	ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
	DeleteRule(ctx context.Context, in *elbv2.DeleteRuleInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteRuleOutput, error)
}

// listenerRule is the production listener rule: every path, forwarded to the two target
// groups by weight. It starts with all traffic on the primary group; from then on the
// weights are ECS's, which moves them during a deployment, and are never drift.
type listenerRule struct {
	in  *kit.Inputs
	api listenerRuleAPI
}

func (r *listenerRule) Key() string  { return KeyProdRule }
func (r *listenerRule) Type() string { return "elbv2:listener-rule" }
func (r *listenerRule) DependsOn() []string {
	return []string{productionListenerKey(r.in), kit.KeyTG, kit.KeyAltTG}
}

// listenerOfRule is the listener ARN a rule ARN belongs to:
// …:listener-rule/app/<lb>/<id>/<listener>/<rule> -> …:listener/app/<lb>/<id>/<listener>.
func listenerOfRule(ruleARN string) string {
	i := strings.LastIndex(ruleARN, "/")
	if i < 0 {
		return ""
	}
	return strings.Replace(ruleARN[:i], ":listener-rule/", ":listener/", 1)
}

func forwardGroups(actions []elbtypes.Action) []string {
	var out []string
	for _, a := range actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, t := range a.ForwardConfig.TargetGroups {
				out = append(out, aws.ToString(t.TargetGroupArn))
			}
		} else if a.TargetGroupArn != nil {
			out = append(out, aws.ToString(a.TargetGroupArn))
		}
	}
	slices.Sort(out)
	return out
}

func PathPatterns(conds []elbtypes.RuleCondition) string {
	var out []string
	for _, c := range conds {
		vals := c.Values
		if c.PathPatternConfig != nil {
			vals = c.PathPatternConfig.Values
		}
		out = append(out, aws.ToString(c.Field)+"="+strings.Join(vals, ","))
	}
	return strings.Join(out, ";")
}

func allPaths() []elbtypes.RuleCondition {
	return []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/*"}}}}
}

// Weighted forwards to the groups with the given weights.
func Weighted(groups []string, weights []int32) []elbtypes.Action {
	var tgs []elbtypes.TargetGroupTuple
	for i, g := range groups {
		tgs = append(tgs, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(g), Weight: aws.Int32(weights[i])})
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: tgs}}}
}

func (r *listenerRule) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	l, tg, alt := deps.Get(productionListenerKey(r.in)), deps.Get(kit.KeyTG), deps.Get(kit.KeyAltTG)
	if l == nil || tg == nil || alt == nil {
		return nil, nil
	}
	rule, err := r.describe(ctx, rec, l.ARN, tg.ARN)
	if err != nil || rule == nil {
		return nil, err
	}
	arn := aws.ToString(rule.RuleArn)
	found := &engine.Found{Record: state.Resource{ID: arn, ARN: arn}}
	if from := listenerOfRule(arn); from != l.ARN {
		// A rule cannot move: the domain came or went, and the serving listener with it.
		found.Changes = append(found.Changes, engine.Change{Field: "listener", From: from, To: l.ARN})
		found.Replace = true
		return found, nil
	}
	if got, want := PathPatterns(rule.Conditions), PathPatterns(allPaths()); got != want {
		found.Changes = append(found.Changes, engine.Change{Field: "conditions", From: got, To: want})
	}
	want := []string{tg.ARN, alt.ARN}
	slices.Sort(want)
	if got := forwardGroups(rule.Actions); !slices.Equal(got, want) {
		found.Changes = append(found.Changes, engine.Change{Field: "target_groups", From: strings.Join(got, ","), To: strings.Join(want, ",")})
	}
	return found, nil
}

// describe finds the rule by its recorded ARN, else among the listener's rules the one
// forwarding to the primary group and carrying this resource's tags.
func (r *listenerRule) describe(ctx context.Context, rec *state.Resource, listener, tg string) (*elbtypes.Rule, error) {
	rule, err := kit.ByRecord(ctx, "listener rule", kit.RecARN(rec), func(ctx context.Context, arn string) ([]elbtypes.Rule, error) {
		out, err := r.api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{arn}})
		if kit.ErrorCode(err) == "RuleNotFound" {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return out.Rules, nil
	})
	if err != nil || rule != nil {
		return rule, err
	}
	out, err := r.api.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(listener)})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the rules of listener %s: %w", listener, err)
	}
	for i := range out.Rules {
		rule := &out.Rules[i]
		if aws.ToBool(rule.IsDefault) || !slices.Contains(forwardGroups(rule.Actions), tg) {
			continue
		}
		if kit.ELBOwned(ctx, r.in, r.api, "listener rule", aws.ToString(rule.RuleArn), KeyProdRule) == nil {
			return rule, nil
		}
	}
	return nil, nil
}

func (r *listenerRule) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	l, tg, alt := deps.Get(productionListenerKey(r.in)), deps.Get(kit.KeyTG), deps.Get(kit.KeyAltTG)
	out, err := r.api.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: aws.String(l.ARN),
		Priority:    aws.Int32(prodRulePriority),
		Conditions:  allPaths(),
		Actions:     Weighted([]string{tg.ARN, alt.ARN}, []int32{100, 0}),
		Tags:        kit.ELBTags(r.in.Tags(KeyProdRule)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the production listener rule on %s: %w", l.ARN, err)
	}
	arn := aws.ToString(out.Rules[0].RuleArn)
	return &state.Resource{ID: arn, ARN: arn}, nil
}

// Update puts back the path and the two groups. Weights already on exactly these two
// groups are ECS's and are kept; otherwise all traffic goes to the primary group, as at
// creation.
func (r *listenerRule) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	tg, alt := deps.Get(kit.KeyTG), deps.Get(kit.KeyAltTG)
	groups, weights := []string{tg.ARN, alt.ARN}, []int32{100, 0}
	if out, err := r.api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{found.Record.ARN}}); err == nil && len(out.Rules) == 1 {
		rule := out.Rules[0]
		for _, a := range rule.Actions {
			if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) != 2 {
				continue
			}
			live := a.ForwardConfig.TargetGroups
			if got := forwardGroups(rule.Actions); slices.Equal(got, slices.Sorted(slices.Values(groups))) {
				groups = []string{aws.ToString(live[0].TargetGroupArn), aws.ToString(live[1].TargetGroupArn)}
				weights = []int32{aws.ToInt32(live[0].Weight), aws.ToInt32(live[1].Weight)}
			}
		}
	}
	_, err := r.api.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(found.Record.ARN), Conditions: allPaths(), Actions: Weighted(groups, weights)})
	if err != nil {
		return nil, fmt.Errorf("modifying listener rule %s: %w", found.Record.ARN, err)
	}
	rec := found.Record
	return &rec, nil
}

func (r *listenerRule) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: aws.String(rec.ARN)})
	if err != nil && !kit.IsNotFound(err) && kit.ErrorCode(err) != "RuleNotFound" {
		return fmt.Errorf("deleting listener rule %s: %w", rec.ARN, err)
	}
	return nil
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
