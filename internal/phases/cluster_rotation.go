package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/secretrotation"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Automatic rotation of the admin secret (secrets.rotation_days > 0): a Lambda function
// running internal/secretrotation/handler.py, which Secrets Manager calls on the schedule
// (stage A: the new password stored with the previous one kept, the service rolled) and
// an EventBridge rule calls when a deployment of the service completes (stage B: the
// previous password cleared, the service rolled again). They live in the cluster phase
// because the function rolls the service.
const (
	keyRotationLogs     = "cluster/secret-rotation-logs"
	keyRotationRole     = "cluster/secret-rotation-role"
	keyRotationFunction = "cluster/secret-rotation"
	keyRotationRule     = "cluster/secret-rotation-rule"
	keyRotationSchedule = "cluster/secret-rotation-schedule"

	rotationTimeoutSeconds = 60
	rotationMemoryMiB      = 128
	// The function policy's statements: Secrets Manager for the admin secret, EventBridge
	// for the rule.
	rotationSecretsSid = "admin-secret-rotation"
	rotationEventsSid  = "service-deployment-completed"
	// rotationTargetID is the rule's one target, the function.
	rotationTargetID = "secret-rotation"
)

// rotationOn says whether the admin secret rotates automatically.
func rotationOn(in *Inputs) bool { return in.Config.Secrets.RotationDays > 0 }

// rotationEnvironment is what the rotation's handler reads: the secret it rotates and the
// service it rolls; nil while the secret does not exist.
func rotationEnvironment(in *Inputs, deps engine.Deps) map[string]string {
	secret := deps.Get(keySecretAdmin)
	if secret == nil {
		return nil
	}
	return map[string]string{
		secretrotation.SecretEnv:  secret.ARN,
		secretrotation.ClusterEnv: clusterName(in),
		secretrotation.ServiceEnv: serviceName(in),
	}
}

func rotationFunctionName(in *Inputs) string { return boundedName(in.prefix()+"-secret-rotation", 64) }
func rotationLogGroupName(in *Inputs) string { return "/aws/lambda/" + rotationFunctionName(in) }
func rotationRuleName(in *Inputs) string     { return boundedName(in.prefix()+"-secret-rotation", 64) }

// rotationResources are the function, its log group and role, the rule that starts stage
// B, and the secret's rotation schedule, in that dependency order.
func rotationResources(in *Inputs) []engine.Resource {
	lc := in.AWS.Lambda()
	return []engine.Resource{
		&logGroup{in: in, api: in.AWS.Logs(), kms: in.AWS.KMS(), key: keyRotationLogs, name: rotationLogGroupName(in)},
		&role{in: in, api: in.AWS.IAM(), key: keyRotationRole, name: rotationRoleName(in),
			// aws:SourceAccount only: AWS does not document that Lambda sends a source ARN
			// when it assumes an execution role, and a condition on a key not sent never matches.
			trust: lambdaTrustPolicy(in),
			deps:  []string{keySecretAdmin, keyRotationLogs, keyService}, policy: rotationPolicy,
			description: "Admin secret rotation of " + in.prefix() + ": store new passwords in its secret, roll its service, write its logs"},
		&lambdaFunction{in: in, api: lc, key: keyRotationFunction, name: rotationFunctionName(in),
			description: "Rotates the admin password of " + in.prefix() + " and rolls its service (fvdeploy)",
			roleKey:     keyRotationRole, deps: []string{keySecretAdmin, keyRotationLogs},
			runtime: secretrotation.Runtime, handler: secretrotation.Handler, timeoutSeconds: rotationTimeoutSeconds, memoryMiB: rotationMemoryMiB,
			zip: secretrotation.Zip, environment: func(deps engine.Deps) map[string]string { return rotationEnvironment(in, deps) },
			missing: "its role or the admin secret"},
		&rotationRule{in: in, api: in.AWS.EventBridge(), lambda: lc},
		&rotationSchedule{in: in, api: in.AWS.SecretsManager(), lambda: lc},
	}
}

// clusterDeleters are the cluster phase's resources of every type it can declare, those
// of a config it no longer has among them.
func clusterDeleters(in *Inputs) []engine.Resource {
	return append(strategyResources(in), rotationResources(in)...)
}

// rotationPolicy is all the function may do: read and store versions of the admin secret
// (the secret's default key, aws/secretsmanager, needs no grant), have Secrets Manager
// make a password, roll this one service, and write its own logs.
func rotationPolicy(_ *Inputs, deps engine.Deps, _ string) (string, bool) {
	secret, logs, svc := deps.Get(keySecretAdmin), deps.Get(keyRotationLogs), deps.Get(keyService)
	if secret == nil || logs == nil || svc == nil || secret.ARN == "" || svc.ARN == "" {
		return "", false
	}
	return policyJSON(
		policyStatement{Sid: "RotateAdminSecret", Effect: "Allow", Action: []string{
			"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
		}, Resource: []string{secret.ARN}},
		// GetRandomPassword acts on no resource: "*" is its only form.
		policyStatement{Sid: "MakePassword", Effect: "Allow", Action: []string{"secretsmanager:GetRandomPassword"}, Resource: []string{"*"}},
		policyStatement{Sid: "RollService", Effect: "Allow", Action: []string{"ecs:DescribeServices", "ecs:UpdateService"}, Resource: []string{svc.ARN}},
		policyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logs.ARN + ":*"}},
	), true
}

// ---- the function's permissions ----

// ---- the rule that starts stage B ----

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
	in     *Inputs
	api    eventsAPI
	lambda lambdaPermissionAPI
}

func (r *rotationRule) Key() string         { return keyRotationRule }
func (r *rotationRule) Type() string        { return "events:rule" }
func (r *rotationRule) DependsOn() []string { return []string{keyService, keyRotationFunction} }

// rulePattern matches ECS's event for a completed deployment of this service only.
func rulePattern(serviceARN string) string {
	b, _ := json.Marshal(map[string]any{ // cannot fail
		"source":      []string{"aws.ecs"},
		"detail-type": []string{"ECS Deployment State Change"},
		"resources":   []string{serviceARN},
		"detail":      map[string]any{"eventName": []string{"SERVICE_DEPLOYMENT_COMPLETED"}},
	})
	return string(b)
}

// canonicalJSON re-encodes a JSON document with sorted keys and no spaces, so that two
// spellings of one pattern compare equal.
func canonicalJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func ruleARN(in *Inputs) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", awsPartition(in.Region), in.Region, in.Account, rotationRuleName(in))
}

func (r *rotationRule) ends(deps engine.Deps) (serviceARN, functionARN string, ok bool) {
	s, f := deps.Get(keyService), deps.Get(keyRotationFunction)
	if s == nil || f == nil || s.ARN == "" || f.ARN == "" {
		return "", "", false
	}
	return s.ARN, f.ARN, true
}

func (r *rotationRule) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	name := rotationRuleName(r.in)
	out, err := r.api.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
	if isNotFound(err) {
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
	if live, want := canonicalJSON(aws.ToString(out.EventPattern)), rulePattern(serviceARN); live != canonicalJSON(want) {
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
	p := invokePermission{sid: rotationEventsSid, principal: "events.amazonaws.com", sourceARN: arn}
	if ok, err := p.permitted(ctx, r.lambda, functionARN, r.in.Account); err != nil {
		return nil, err
	} else if !ok {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "events.amazonaws.com from " + arn})
	}
	tags, err := r.api.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of EventBridge rule %s: %w", name, err)
	}
	if from, to, drift := tagDrift(r.in.tags(keyRotationRule), eventTagMap(tags.Tags)); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func eventTagMap(tags []ebtypes.Tag) map[string]string {
	return tagMap(tags, func(t ebtypes.Tag) (*string, *string) { return t.Key, t.Value })
}

func eventTags(tags map[string]string) []ebtypes.Tag {
	return tagList(tags, func(k, v *string) ebtypes.Tag { return ebtypes.Tag{Key: k, Value: v} })
}

func (r *rotationRule) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	// PutRule is idempotent by name: a repeat after a lost answer updates the same rule.
	return r.put(ctx, deps, true)
}

func (r *rotationRule) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	for _, c := range found.Changes {
		if c.Field == "tags" {
			if _, err := r.api.TagResource(ctx, &eventbridge.TagResourceInput{ResourceARN: aws.String(found.Record.ARN), Tags: eventTags(r.in.tags(keyRotationRule))}); err != nil {
				return nil, fmt.Errorf("tagging EventBridge rule %s: %w", found.Record.ID, err)
			}
		}
	}
	return r.put(ctx, deps, false)
}

// put sets the rule, its target and the function's permission for it, each idempotent.
func (r *rotationRule) put(ctx context.Context, deps engine.Deps, tag bool) (*state.Resource, error) {
	name := rotationRuleName(r.in)
	serviceARN, functionARN, ok := r.ends(deps)
	if !ok {
		return nil, fmt.Errorf("EventBridge rule %s: the service or the rotation function does not exist", name)
	}
	in := &eventbridge.PutRuleInput{
		Name: aws.String(name), EventPattern: aws.String(rulePattern(serviceARN)), State: ebtypes.RuleStateEnabled,
		Description: aws.String("Completed deployments of " + serviceName(r.in) + ": the admin secret rotation's second stage (fvdeploy)"),
	}
	if tag {
		in.Tags = eventTags(r.in.tags(keyRotationRule))
	}
	out, err := r.api.PutRule(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("putting EventBridge rule %s: %w", name, err)
	}
	arn := aws.ToString(out.RuleArn)
	p := invokePermission{sid: rotationEventsSid, principal: "events.amazonaws.com", sourceARN: arn}
	if err := p.put(ctx, r.lambda, functionARN, r.in.Account); err != nil {
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
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing the targets of EventBridge rule %s: %w", rec.ID, err)
	}
	if _, err := r.api.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rec.ID)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting EventBridge rule %s: %w", rec.ID, err)
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return removePermission(ctx, r.lambda, fn, rotationEventsSid)
	}
	return nil
}

// ---- the secret's rotation schedule ----

type rotationAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
}

// rotationSchedule is the admin secret's rotation configuration (the function, every
// secrets.rotation_days days) with the function's permission for Secrets Manager. Its
// record's ID is the secret's ARN.
type rotationSchedule struct {
	in     *Inputs
	api    rotationAPI
	lambda lambdaPermissionAPI
}

func (r *rotationSchedule) Key() string  { return keyRotationSchedule }
func (r *rotationSchedule) Type() string { return "secretsmanager:rotation" }

// It depends on the rule too: stage A must never start without what ends it.
func (r *rotationSchedule) DependsOn() []string {
	return []string{keySecretAdmin, keyRotationFunction, keyRotationRule}
}

func rotationText(enabled bool, days int64, function string) string {
	if !enabled {
		return "off"
	}
	return fmt.Sprintf("every %d days by %s", days, function)
}

func (r *rotationSchedule) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	secret, fn := deps.Get(keySecretAdmin), deps.Get(keyRotationFunction)
	if secret == nil || fn == nil || secret.ARN == "" {
		return nil, nil
	}
	d, err := r.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret.ARN)})
	if err != nil {
		return nil, fmt.Errorf("describing secret %s: %w", secret.ARN, err)
	}
	var days int64
	if d.RotationRules != nil {
		days = aws.ToInt64(d.RotationRules.AutomaticallyAfterDays)
	}
	enabled := aws.ToBool(d.RotationEnabled)
	p := invokePermission{sid: rotationSecretsSid, principal: "secretsmanager.amazonaws.com", sourceARN: secret.ARN}
	permitted, err := p.permitted(ctx, r.lambda, fn.ARN, r.in.Account)
	if err != nil {
		return nil, err
	}
	if !enabled && !permitted && rec == nil {
		return nil, nil
	}
	found := &engine.Found{Record: state.Resource{ID: secret.ARN, Attrs: map[string]string{"function": fn.ARN}}}
	live := rotationText(enabled, days, aws.ToString(d.RotationLambdaARN))
	if want := rotationText(true, int64(r.in.Config.Secrets.RotationDays), fn.ARN); live != want {
		found.Changes = append(found.Changes, engine.Change{Field: "rotation", From: live, To: want})
	}
	if !permitted {
		found.Changes = append(found.Changes, engine.Change{Field: "permission", From: "(none)", To: "secretsmanager.amazonaws.com for " + secret.ARN})
	}
	return found, nil
}

func (r *rotationSchedule) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	return r.Update(ctx, deps, &engine.Found{Changes: []engine.Change{{Field: "permission"}, {Field: "rotation"}}})
}

func (r *rotationSchedule) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	secret, fn := deps.Get(keySecretAdmin), deps.Get(keyRotationFunction)
	if secret == nil || fn == nil {
		return nil, fmt.Errorf("turning rotation on: the admin secret or the rotation function does not exist")
	}
	// The permission first: turning rotation on has Secrets Manager call the function.
	for _, c := range found.Changes {
		if c.Field == "permission" {
			p := invokePermission{sid: rotationSecretsSid, principal: "secretsmanager.amazonaws.com", sourceARN: secret.ARN}
			if err := p.put(ctx, r.lambda, fn.ARN, r.in.Account); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range found.Changes {
		if c.Field != "rotation" {
			continue
		}
		// Not immediately: up turns rotation on, and the first rotation comes on schedule
		// (Secrets Manager runs the function's testSecret step to check the setup).
		if _, err := r.api.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
			SecretId: aws.String(secret.ARN), RotationLambdaARN: aws.String(fn.ARN),
			RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(r.in.Config.Secrets.RotationDays))},
			RotateImmediately: aws.Bool(false),
		}); err != nil {
			return nil, fmt.Errorf("turning rotation on for secret %s (every %d days by %s): %w%s", secret.ARN, r.in.Config.Secrets.RotationDays, fn.ID, err, deniedBySecretPolicy(err))
		}
	}
	return &state.Resource{ID: secret.ARN, Attrs: map[string]string{"function": fn.ARN}}, nil
}

func (r *rotationSchedule) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(rec.ID)}); err != nil && !isNotFound(err) {
		return fmt.Errorf("turning rotation off for secret %s: %w%s", rec.ID, err, deniedBySecretPolicy(err))
	}
	if fn := rec.Attrs["function"]; fn != "" {
		return removePermission(ctx, r.lambda, fn, rotationSecretsSid)
	}
	return nil
}

// listRules finds the environment's EventBridge rules on the default bus, for the sweep.
func listRules(ctx context.Context, in *Inputs) ([]candidate, error) {
	api := in.AWS.EventBridge()
	var rules []ebtypes.Rule
	var next *string
	for {
		out, err := api.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String(in.prefix() + "-"), NextToken: next})
		if err != nil {
			return nil, err
		}
		rules = append(rules, out.Rules...)
		if next = out.NextToken; next == nil {
			break
		}
	}
	return tagEach(ctx, rules,
		func(ctx context.Context, r ebtypes.Rule) (map[string]string, error) {
			out, err := api.ListTagsForResource(ctx, &eventbridge.ListTagsForResourceInput{ResourceARN: r.Arn})
			if err != nil {
				return nil, err
			}
			return eventTagMap(out.Tags), nil
		},
		func(r ebtypes.Rule) state.Resource {
			return state.Resource{ID: aws.ToString(r.Name), ARN: aws.ToString(r.Arn)}
		})
}
