package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

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
