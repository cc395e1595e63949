package edge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type wafAPI interface {
	GetWebACL(ctx context.Context, in *wafv2.GetWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.GetWebACLOutput, error)
	ListWebACLs(ctx context.Context, in *wafv2.ListWebACLsInput, opts ...func(*wafv2.Options)) (*wafv2.ListWebACLsOutput, error)
	ListTagsForResource(ctx context.Context, in *wafv2.ListTagsForResourceInput, opts ...func(*wafv2.Options)) (*wafv2.ListTagsForResourceOutput, error)
	CreateWebACL(ctx context.Context, in *wafv2.CreateWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.CreateWebACLOutput, error)
	UpdateWebACL(ctx context.Context, in *wafv2.UpdateWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.UpdateWebACLOutput, error)
	DeleteWebACL(ctx context.Context, in *wafv2.DeleteWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.DeleteWebACLOutput, error)
	GetWebACLForResource(ctx context.Context, in *wafv2.GetWebACLForResourceInput, opts ...func(*wafv2.Options)) (*wafv2.GetWebACLForResourceOutput, error)
	AssociateWebACL(ctx context.Context, in *wafv2.AssociateWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.AssociateWebACLOutput, error)
	DisassociateWebACL(ctx context.Context, in *wafv2.DisassociateWebACLInput, opts ...func(*wafv2.Options)) (*wafv2.DisassociateWebACLOutput, error)
}

// WAFNotFound reports WAF's way of saying an ACL or resource does not exist.
func WAFNotFound(err error) bool {
	return kit.ErrorCode(err) == "WAFNonexistentItemException" || kit.IsNotFound(err)
}

// WebACL is the regional web ACL in front of the ALB: AWS's managed common, known bad
// inputs and SQL injection rule groups, and a per-IP rate limit, with metrics and
// sampled requests on. Rule changes update it in place (its ARN is what the ALB holds).
type WebACL struct {
	In  *kit.Inputs
	api wafAPI
}

func (r *WebACL) Key() string         { return KeyWAFACL }
func (r *WebACL) Type() string        { return "wafv2:web-acl" }
func (r *WebACL) DependsOn() []string { return nil }

// name fits WAF's 128 characters: the prefix is the ALB's name, which fits 32.
func (r *WebACL) name() string { return r.In.Prefix() }

func (r *WebACL) visibility(metric string) *waftypes.VisibilityConfig {
	return &waftypes.VisibilityConfig{CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: aws.String(metric)}
}

// Rules are the ACL's rules in evaluation order: the rate limit first, so that a flood is
// dropped before the managed groups spend capacity on it.
func (r *WebACL) Rules() []waftypes.Rule {
	managed := func(priority int32, group string) waftypes.Rule {
		return waftypes.Rule{
			Name:     aws.String("AWS-" + group),
			Priority: priority,
			Statement: &waftypes.Statement{ManagedRuleGroupStatement: &waftypes.ManagedRuleGroupStatement{
				VendorName: aws.String("AWS"), Name: aws.String(group),
			}},
			OverrideAction:   &waftypes.OverrideAction{None: &waftypes.NoneAction{}},
			VisibilityConfig: r.visibility(r.name() + "-" + group),
		}
	}
	return []waftypes.Rule{
		{
			Name:     aws.String("rate-limit-per-ip"),
			Priority: 0,
			Statement: &waftypes.Statement{RateBasedStatement: &waftypes.RateBasedStatement{
				Limit: aws.Int64(int64(r.In.Config.Edge.WAFRateLimit)), AggregateKeyType: waftypes.RateBasedStatementAggregateKeyTypeIp,
				EvaluationWindowSec: 300,
			}},
			Action:           &waftypes.RuleAction{Block: &waftypes.BlockAction{}},
			VisibilityConfig: r.visibility(r.name() + "-rate-limit"),
		},
		managed(1, "AWSManagedRulesCommonRuleSet"),
		managed(2, "AWSManagedRulesKnownBadInputsRuleSet"),
		managed(3, "AWSManagedRulesSQLiRuleSet"),
	}
}

// ruleString describes a rule for a plan and for comparison, covering what fvdeploy sets.
func ruleString(rule waftypes.Rule) string {
	s := "priority " + strconv.Itoa(int(rule.Priority))
	if st := rule.Statement; st != nil {
		switch {
		case st.RateBasedStatement != nil:
			rb := st.RateBasedStatement
			window := rb.EvaluationWindowSec
			if window == 0 {
				window = 300 // AWS's default when unset
			}
			s += fmt.Sprintf(", at most %d requests per %ds per %s", aws.ToInt64(rb.Limit), window, rb.AggregateKeyType)
		case st.ManagedRuleGroupStatement != nil:
			s += ", managed group " + aws.ToString(st.ManagedRuleGroupStatement.VendorName) + "/" + aws.ToString(st.ManagedRuleGroupStatement.Name)
		default:
			s += ", another statement"
		}
	}
	switch {
	case rule.Action != nil && rule.Action.Block != nil:
		s += ", block"
	case rule.Action != nil:
		s += ", not block"
	case rule.OverrideAction != nil && rule.OverrideAction.None != nil:
		s += ", the group's own actions"
	case rule.OverrideAction != nil:
		s += ", the group's actions overridden"
	}
	return s + ", " + visibilityString(rule.VisibilityConfig)
}

func visibilityString(v *waftypes.VisibilityConfig) string {
	if v == nil {
		return "metrics off, sampling off"
	}
	onOff := func(b bool) string { return map[bool]string{true: "on", false: "off"}[b] }
	return "metrics " + onOff(v.CloudWatchMetricsEnabled) + " (" + aws.ToString(v.MetricName) + "), sampling " + onOff(v.SampledRequestsEnabled)
}

func (r *WebACL) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	acl, err := r.get(ctx, rec)
	if err != nil || acl == nil {
		return nil, err
	}
	found := &engine.Found{Record: aclRecord(acl)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	live := map[string]string{}
	for _, rule := range acl.Rules {
		live[aws.ToString(rule.Name)] = ruleString(rule)
	}
	want := map[string]string{}
	for _, rule := range r.Rules() {
		want[aws.ToString(rule.Name)] = ruleString(rule)
	}
	names := slices.Collect(maps.Keys(live))
	for name := range want {
		if _, ok := live[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		change("rule "+name, live[name], want[name])
	}
	allow := acl.DefaultAction != nil && acl.DefaultAction.Allow != nil
	change("default_action", map[bool]string{true: "allow", false: "block"}[allow], "allow")
	change("visibility", visibilityString(acl.VisibilityConfig), visibilityString(r.visibility(r.name())))
	return found, nil
}

func aclRecord(acl *waftypes.WebACL) state.Resource {
	return state.Resource{ID: aws.ToString(acl.Id), ARN: aws.ToString(acl.ARN), Attrs: map[string]string{"name": aws.ToString(acl.Name)}}
}

// get finds the ACL by its recorded name and ID, else by its name (unique per region),
// checking that one found by name carries this resource's tags.
func (r *WebACL) get(ctx context.Context, rec *state.Resource) (*waftypes.WebACL, error) {
	if id := kit.RecID(rec); id != "" {
		acl, _, err := getWebACL(ctx, r.api, rec)
		if err != nil || acl != nil {
			return acl, err
		}
	}
	var marker *string
	for {
		out, err := r.api.ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional, NextMarker: marker, Limit: aws.Int32(100)})
		if err != nil {
			return nil, fmt.Errorf("listing web ACLs: %w", err)
		}
		for _, s := range out.WebACLs {
			if aws.ToString(s.Name) != r.name() {
				continue
			}
			if err := r.owned(ctx, aws.ToString(s.ARN)); err != nil {
				return nil, err
			}
			acl, _, err := getWebACL(ctx, r.api, &state.Resource{ID: aws.ToString(s.Id), Attrs: map[string]string{"name": r.name()}})
			return acl, err
		}
		if marker = out.NextMarker; marker == nil || len(out.WebACLs) == 0 {
			return nil, nil
		}
	}
}

// getWebACL returns the ACL and its lock token, or nil when it does not exist.
func getWebACL(ctx context.Context, api wafAPI, rec *state.Resource) (*waftypes.WebACL, *string, error) {
	out, err := api.GetWebACL(ctx, &wafv2.GetWebACLInput{Name: aws.String(rec.Attrs["name"]), Id: &rec.ID, Scope: waftypes.ScopeRegional})
	if WAFNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading web ACL %s: %w", rec.Attrs["name"], err)
	}
	return out.WebACL, out.LockToken, nil
}

func (r *WebACL) owned(ctx context.Context, arn string) error {
	out, err := r.api.ListTagsForResource(ctx, &wafv2.ListTagsForResourceInput{ResourceARN: &arn})
	if err != nil {
		return fmt.Errorf("reading the tags of web ACL %s: %w", arn, err)
	}
	got := map[string]string{}
	if out.TagInfoForResource != nil {
		for _, t := range out.TagInfoForResource.TagList {
			got[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return r.In.Claim(nil, "web ACL", arn, KeyWAFACL, got)
}

func (r *WebACL) description() *string {
	return aws.String("fvdeploy " + r.In.Prefix() + ": AWS managed rules and a per-IP rate limit")
}

func (r *WebACL) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	tags := kit.TagList(r.In.Tags(KeyWAFACL), func(k, v *string) waftypes.Tag { return waftypes.Tag{Key: k, Value: v} })
	out, err := r.api.CreateWebACL(ctx, &wafv2.CreateWebACLInput{
		Name:             aws.String(r.name()),
		Scope:            waftypes.ScopeRegional,
		DefaultAction:    &waftypes.DefaultAction{Allow: &waftypes.AllowAction{}},
		Rules:            r.Rules(),
		VisibilityConfig: r.visibility(r.name()),
		Description:      r.description(),
		Tags:             tags,
	})
	if err != nil {
		return nil, fmt.Errorf("creating web ACL %s: %w", r.name(), err)
	}
	s := out.Summary
	return &state.Resource{ID: aws.ToString(s.Id), ARN: aws.ToString(s.ARN), Attrs: map[string]string{"name": aws.ToString(s.Name)}}, nil
}

// Update replaces the rules under the lock token just read: WAF refuses the update if
// someone changed the ACL in between, rather than silently undoing their change.
func (r *WebACL) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	acl, token, err := getWebACL(ctx, r.api, &rec)
	if err != nil {
		return nil, err
	}
	if acl == nil {
		return nil, fmt.Errorf("web ACL %s disappeared while being updated", rec.Attrs["name"])
	}
	_, err = r.api.UpdateWebACL(ctx, &wafv2.UpdateWebACLInput{
		Name:             acl.Name,
		Id:               acl.Id,
		Scope:            waftypes.ScopeRegional,
		LockToken:        token,
		DefaultAction:    &waftypes.DefaultAction{Allow: &waftypes.AllowAction{}},
		Rules:            r.Rules(),
		VisibilityConfig: r.visibility(r.name()),
		Description:      r.description(),
	})
	if err != nil {
		return nil, fmt.Errorf("updating web ACL %s: %w", rec.Attrs["name"], err)
	}
	return &rec, nil
}

// Delete retries while WAF still sees the ACL associated (the association is deleted
// just before; AWS takes a moment to notice) or its lock token went stale.
func (r *WebACL) Delete(ctx context.Context, rec *state.Resource) error {
	err := r.In.RetryWhileInUse(ctx, "web ACL "+rec.Attrs["name"]+" to be disassociated", 5*time.Minute, func(ctx context.Context) error {
		acl, token, err := getWebACL(ctx, r.api, rec)
		if err != nil || acl == nil {
			return err
		}
		_, err = r.api.DeleteWebACL(ctx, &wafv2.DeleteWebACLInput{Name: acl.Name, Id: acl.Id, Scope: waftypes.ScopeRegional, LockToken: token})
		if WAFNotFound(err) {
			return nil
		}
		return kit.InUseAs(err, "WAFAssociatedItemException", "WAFOptimisticLockException")
	})
	if err != nil {
		return fmt.Errorf("deleting web ACL %s: %w", rec.Attrs["name"], err)
	}
	return nil
}
