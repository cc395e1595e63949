package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type eventsAPI interface {
	DescribeRule(ctx context.Context, in *eventbridge.DescribeRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	PutRule(ctx context.Context, in *eventbridge.PutRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	ListTargetsByRule(ctx context.Context, in *eventbridge.ListTargetsByRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error)
	PutTargets(ctx context.Context, in *eventbridge.PutTargetsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
	RemoveTargets(ctx context.Context, in *eventbridge.RemoveTargetsInput, opts ...func(*eventbridge.Options)) (*eventbridge.RemoveTargetsOutput, error)
	DeleteRule(ctx context.Context, in *eventbridge.DeleteRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.DeleteRuleOutput, error)
	ListTagsForResource(ctx context.Context, in *eventbridge.ListTagsForResourceInput, opts ...func(*eventbridge.Options)) (*eventbridge.ListTagsForResourceOutput, error)
	TagResource(ctx context.Context, in *eventbridge.TagResourceInput, opts ...func(*eventbridge.Options)) (*eventbridge.TagResourceOutput, error)
}

// rotationRule is the EventBridge rule (default bus) that calls the function when a
// deployment of the service completes, with the function's permission for it.
type rotationRule struct {
	in     *kit.Inputs
	api    eventsAPI
	lambda kinds.LambdaPermissionAPI
}

func (r *rotationRule) Key() string         { return KeyRotationRule }
func (r *rotationRule) Type() string        { return "events:rule" }
func (r *rotationRule) DependsOn() []string { return []string{kit.KeyService, KeyRotationFunction} }

// RulePattern matches ECS's event for a completed deployment of this service only.
func RulePattern(serviceARN string) string {
	b, _ := json.Marshal(map[string]any{ // cannot fail
		"source":      []string{"aws.ecs"},
		"detail-type": []string{"ECS Deployment State Change"},
		"resources":   []string{serviceARN},
		"detail":      map[string]any{"eventName": []string{"SERVICE_DEPLOYMENT_COMPLETED"}},
	})
	return string(b)
}

// CanonicalJSON re-encodes a JSON document with sorted keys and no spaces, so that two
// spellings of one pattern compare equal.
func CanonicalJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func ruleARN(in *kit.Inputs) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", kit.AWSPartition(in.Region), in.Region, in.Account, rotationRuleName(in))
}

func (r *rotationRule) ends(deps engine.Deps) (serviceARN, functionARN string, ok bool) {
	s, f := deps.Get(kit.KeyService), deps.Get(KeyRotationFunction)
	if s == nil || f == nil || s.ARN == "" || f.ARN == "" {
		return "", "", false
	}
	return s.ARN, f.ARN, true
}

func (r *rotationRule) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := rotationRuleName(r.in)
	out, err := r.api.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading EventBridge rule %s: %w", name, err)
	}
	arn := aws.ToString(out.Arn)
	found := &engine.Found{Record: state.Resource{ID: name, ARN: arn}}
	serviceARN, functionARN, ok := r.ends(deps)
	if !ok {
		return found, nil
	}
	found.Record.Attrs = map[string]string{"function": functionARN}
	if live, want := CanonicalJSON(aws.ToString(out.EventPattern)), RulePattern(serviceARN); live != CanonicalJSON(want) {
		found.Changes = append(found.Changes, engine.Change{Field: "event_pattern", From: live, To: want})
	}
	if out.State != ebtypes.RuleStateEnabled {
		found.Changes = append(found.Changes, engine.Change{Field: "state", From: string(out.State), To: string(ebtypes.RuleStateEnabled)})
	}
	targets, err := r.api.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("listing the targets of EventBridge rule %s: %w", name, err)
	}
	var live []string
	for _, t := range targets.Targets {
		live = append(live, aws.ToString(t.Id)+"="+aws.ToString(t.Arn))
	}
	if want := rotationTargetID + "=" + functionARN; strings.Join(live, ",") != want {
		found.Changes = append(found.Changes, engine.Change{Field: "targets", From: strings.Join(live, ","), To: want})
	}
	p := kinds.InvokePermission{Sid: rotationEventsSid, Principal: "events.amazonaws.com", SourceARN: arn}
	if ok, err := p.Permitted(ctx, r.lambda, functionARN, r.in.Account); err != nil {
		return nil, err
	} else if !ok {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "events.amazonaws.com from " + arn})
	}
	tags, err := r.api.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of EventBridge rule %s: %w", name, err)
	}
	if from, to, drift := kit.TagDrift(r.in.Tags(KeyRotationRule), EventTagMap(tags.Tags)); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func EventTagMap(tags []ebtypes.Tag) map[string]string {
	return kit.TagMap(tags, func(t ebtypes.Tag) (*string, *string) { return t.Key, t.Value })
}

func EventTags(tags map[string]string) []ebtypes.Tag {
	return kit.TagList(tags, func(k, v *string) ebtypes.Tag { return ebtypes.Tag{Key: k, Value: v} })
}

func (r *rotationRule) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	// PutRule is idempotent by name: a repeat after a lost answer updates the same rule.
	return r.Put(ctx, deps, true)
}

func (r *rotationRule) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	for _, c := range found.Changes {
		if c.Field == "tags" {
			if _, err := r.api.TagResource(ctx, &eventbridge.TagResourceInput{ResourceARN: aws.String(found.Record.ARN), Tags: EventTags(r.in.Tags(KeyRotationRule))}); err != nil {
				return nil, fmt.Errorf("tagging EventBridge rule %s: %w", found.Record.ID, err)
			}
		}
	}
	return r.Put(ctx, deps, false)
}

// Put sets the rule, its target and the function's permission for it, each idempotent.
func (r *rotationRule) Put(ctx context.Context, deps engine.Deps, tag bool) (*state.Resource, error) {
	name := rotationRuleName(r.in)
	serviceARN, functionARN, ok := r.ends(deps)
	if !ok {
		return nil, fmt.Errorf("EventBridge rule %s: the service or the rotation function does not exist", name)
	}
	in := &eventbridge.PutRuleInput{
		Name: aws.String(name), EventPattern: aws.String(RulePattern(serviceARN)), State: ebtypes.RuleStateEnabled,
		Description: aws.String("Completed deployments of " + ServiceName(r.in) + ": the admin secret rotation's second stage (fvdeploy)"),
	}
	if tag {
		in.Tags = EventTags(r.in.Tags(KeyRotationRule))
	}
	out, err := r.api.PutRule(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("putting EventBridge rule %s: %w", name, err)
	}
	arn := aws.ToString(out.RuleArn)
	p := kinds.InvokePermission{Sid: rotationEventsSid, Principal: "events.amazonaws.com", SourceARN: arn}
	if err := p.Put(ctx, r.lambda, functionARN, r.in.Account); err != nil {
		return nil, err
	}
	t, err := r.api.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String(rotationTargetID), Arn: aws.String(functionARN)}}})
	if err == nil && t.FailedEntryCount > 0 {
		err = fmt.Errorf("%s", aws.ToString(t.FailedEntries[0].ErrorMessage))
	}
	if err != nil {
		return nil, fmt.Errorf("targeting Lambda function %s from EventBridge rule %s: %w", functionARN, name, err)
	}
	return &state.Resource{ID: name, ARN: arn, Attrs: map[string]string{"function": functionARN}}, nil
}

func (r *rotationRule) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.api.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rec.ID), Ids: []string{rotationTargetID}})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("removing the targets of EventBridge rule %s: %w", rec.ID, err)
	}
	if _, err := r.api.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rec.ID)}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting EventBridge rule %s: %w", rec.ID, err)
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return kinds.RemovePermission(ctx, r.lambda, fn, rotationEventsSid)
	}
	return nil
}
