package kinds

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type lambdaAPI interface {
	GetFunction(ctx context.Context, in *lambda.GetFunctionInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	CreateFunction(ctx context.Context, in *lambda.CreateFunctionInput, opts ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error)
	UpdateFunctionCode(ctx context.Context, in *lambda.UpdateFunctionCodeInput, opts ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput, opts ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	TagResource(ctx context.Context, in *lambda.TagResourceInput, opts ...func(*lambda.Options)) (*lambda.TagResourceOutput, error)
	DeleteFunction(ctx context.Context, in *lambda.DeleteFunctionInput, opts ...func(*lambda.Options)) (*lambda.DeleteFunctionOutput, error)
}

// LambdaFunction is a Lambda function whose Python handler ships inside fvdeploy (the
// chat relay, the secret rotation): arm64, its code from zip, its role and environment
// from what it depends on.
type LambdaFunction struct {
	In  *kit.Inputs
	API lambdaAPI

	ResourceKey, Name, Description string
	// RoleKey is its execution role's key; deps are the other keys it depends on.
	RoleKey string
	Deps    []string

	Runtime, Handler          string
	TimeoutSeconds, MemoryMiB int
	Zip                       func() ([]byte, error)
	// Environment is what the handler reads, or nil while something it names does not
	// exist (missing says what, for the error).
	Environment func(deps engine.Deps) map[string]string
	Missing     string
}

func (r *LambdaFunction) Key() string         { return r.ResourceKey }
func (r *LambdaFunction) Type() string        { return "lambda:function" }
func (r *LambdaFunction) DependsOn() []string { return append([]string{r.RoleKey}, r.Deps...) }

// functionSettings are the function's settings that fvdeploy manages, as text for diffs.
type functionSettings map[string]string

func (r *LambdaFunction) want(deps engine.Deps, code []byte) functionSettings {
	var roleARN string
	if rec := deps.Get(r.RoleKey); rec != nil {
		roleARN = rec.ARN
	}
	sum := sha256.Sum256(code)
	return functionSettings{
		"code": base64.StdEncoding.EncodeToString(sum[:]), "runtime": r.Runtime, "handler": r.Handler,
		"role": roleARN, "timeout": strconv.Itoa(r.TimeoutSeconds), "memory": strconv.Itoa(r.MemoryMiB),
		"environment": environmentText(r.Environment(deps)),
	}
}

func liveFunctionSettings(c *lambdatypes.FunctionConfiguration) functionSettings {
	var env map[string]string
	if c.Environment != nil {
		env = c.Environment.Variables
	}
	return functionSettings{
		"code": aws.ToString(c.CodeSha256), "runtime": string(c.Runtime), "handler": aws.ToString(c.Handler),
		"role": aws.ToString(c.Role), "timeout": strconv.Itoa(int(aws.ToInt32(c.Timeout))), "memory": strconv.Itoa(int(aws.ToInt32(c.MemorySize))),
		"environment": environmentText(env),
	}
}

// environmentText is KEY=value pairs, sorted, comma-separated.
func environmentText(env map[string]string) string {
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

func (r *LambdaFunction) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	out, err := r.API.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(r.Name)})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Lambda function %s: %w", r.Name, err)
	}
	code, err := r.Zip()
	if err != nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: r.Name, ARN: aws.ToString(out.Configuration.FunctionArn)}}
	live, want := liveFunctionSettings(out.Configuration), r.want(deps, code)
	for _, field := range []string{"code", "runtime", "handler", "role", "timeout", "memory", "environment"} {
		if live[field] != want[field] {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: live[field], To: want[field]})
		}
	}
	if from, to, drift := kit.TagDrift(r.In.Tags(r.ResourceKey), out.Tags); drift {
		found.Changes = append(found.Changes, engine.Change{Field: "tags", From: from, To: to})
	}
	return found, nil
}

func (r *LambdaFunction) configuration(deps engine.Deps) (*lambdatypes.Environment, *string, error) {
	role, env := deps.Get(r.RoleKey), r.Environment(deps)
	if role == nil || env == nil {
		return nil, nil, fmt.Errorf("Lambda function %s: %s does not exist", r.Name, r.Missing)
	}
	return &lambdatypes.Environment{Variables: env}, aws.String(role.ARN), nil
}

func (r *LambdaFunction) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	env, role, err := r.configuration(deps)
	if err != nil {
		return nil, err
	}
	code, err := r.Zip()
	if err != nil {
		return nil, err
	}
	var arn string
	// A role just created is not assumable by Lambda for some seconds: IAM is eventually
	// consistent, and CreateFunction says so with InvalidParameterValueException.
	err = r.In.WaitFor(ctx, "IAM role "+aws.ToString(role)+" to be usable by Lambda", func(ctx context.Context) (bool, string, error) {
		out, err := r.API.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName:  aws.String(r.Name),
			Description:   aws.String(r.Description),
			Runtime:       lambdatypes.Runtime(r.Runtime),
			Handler:       aws.String(r.Handler),
			Role:          role,
			Code:          &lambdatypes.FunctionCode{ZipFile: code},
			Timeout:       aws.Int32(int32(r.TimeoutSeconds)),
			MemorySize:    aws.Int32(int32(r.MemoryMiB)),
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
			Environment:   env,
			Tags:          r.In.Tags(r.ResourceKey),
		})
		switch {
		case kit.ErrorCode(err) == "InvalidParameterValueException" && strings.Contains(err.Error(), "cannot be assumed"):
			return false, "the role is not assumable yet", nil
		case err != nil:
			return false, "", err
		}
		arn = aws.ToString(out.FunctionArn)
		return true, "", nil
	})
	if kit.ErrorCode(err) == "ResourceConflictException" {
		// Created by a run whose answer or state was lost: bring it in line.
		found, ferr := r.Find(ctx, deps, nil)
		if ferr != nil || found == nil {
			return nil, fmt.Errorf("adopting Lambda function %s: %w", r.Name, ferr)
		}
		return r.Update(ctx, deps, found)
	}
	if err != nil {
		return nil, fmt.Errorf("creating Lambda function %s: %w", r.Name, err)
	}
	if err := functionReady(ctx, r.API, r.Name); err != nil {
		return nil, err
	}
	return &state.Resource{ID: r.Name, ARN: arn}, nil
}

func (r *LambdaFunction) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	name := found.Record.ID
	var code, config, tags bool
	for _, c := range found.Changes {
		switch c.Field {
		case "code":
			code = true
		case "tags":
			tags = true
		default:
			config = true
		}
	}
	if code {
		zip, err := r.Zip()
		if err != nil {
			return nil, err
		}
		if _, err := r.API.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip}); err != nil {
			return nil, fmt.Errorf("updating the code of Lambda function %s: %w", name, err)
		}
		if err := functionReady(ctx, r.API, name); err != nil {
			return nil, err
		}
	}
	if config {
		env, role, err := r.configuration(deps)
		if err != nil {
			return nil, err
		}
		if _, err := r.API.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name), Runtime: lambdatypes.Runtime(r.Runtime), Handler: aws.String(r.Handler),
			Role: role, Timeout: aws.Int32(int32(r.TimeoutSeconds)), MemorySize: aws.Int32(int32(r.MemoryMiB)), Environment: env,
		}); err != nil {
			return nil, fmt.Errorf("updating the configuration of Lambda function %s: %w", name, err)
		}
		if err := functionReady(ctx, r.API, name); err != nil {
			return nil, err
		}
	}
	if tags {
		if _, err := r.API.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(found.Record.ARN), Tags: r.In.Tags(r.ResourceKey)}); err != nil {
			return nil, fmt.Errorf("tagging Lambda function %s: %w", name, err)
		}
	}
	rec := found.Record
	return &rec, nil
}

func (r *LambdaFunction) Delete(ctx context.Context, rec *state.Resource) error {
	_, err := r.API.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(rec.ID)})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting Lambda function %s: %w", rec.ID, err)
	}
	return nil
}

// functionReady waits until the function is active and its last update applied: Lambda
// refuses another update until then.
func functionReady(ctx context.Context, api lambdaAPI, name string) error {
	client, ok := api.(lambda.GetFunctionAPIClient)
	if !ok {
		return nil
	}
	in := &lambda.GetFunctionInput{FunctionName: aws.String(name)}
	if err := lambda.NewFunctionActiveV2Waiter(client).Wait(ctx, in, 5*time.Minute); err != nil {
		return fmt.Errorf("waiting for Lambda function %s to become active: %w", name, err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(client).Wait(ctx, in, 5*time.Minute); err != nil {
		return fmt.Errorf("waiting for the update of Lambda function %s: %w", name, err)
	}
	return nil
}

// ---- who may invoke a function ----

type LambdaPermissionAPI interface {
	GetPolicy(ctx context.Context, in *lambda.GetPolicyInput, opts ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
	AddPermission(ctx context.Context, in *lambda.AddPermissionInput, opts ...func(*lambda.Options)) (*lambda.AddPermissionOutput, error)
	RemovePermission(ctx context.Context, in *lambda.RemovePermissionInput, opts ...func(*lambda.Options)) (*lambda.RemovePermissionOutput, error)
}

// InvokePermission is one statement of a function's resource policy: principal may
// invoke it for sourceARN, on behalf of this account.
type InvokePermission struct {
	Sid, Principal, SourceARN string
}

// Permitted reports whether the function's policy holds p as wanted.
func (p InvokePermission) Permitted(ctx context.Context, api LambdaPermissionAPI, function, account string) (bool, error) {
	out, err := api.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(function)})
	if kit.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the policy of Lambda function %s: %w", function, err)
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Principal map[string]any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
		return false, fmt.Errorf("reading the policy of Lambda function %s: %w", function, err)
	}
	for _, s := range doc.Statement {
		if s.Sid == p.Sid {
			return s.Principal["Service"] == p.Principal && s.Condition["ArnLike"]["AWS:SourceArn"] == p.SourceARN &&
				s.Condition["StringEquals"]["AWS:SourceAccount"] == account, nil
		}
	}
	return false, nil
}

// Put replaces the statement of p's ID with p.
func (p InvokePermission) Put(ctx context.Context, api LambdaPermissionAPI, function, account string) error {
	if err := RemovePermission(ctx, api, function, p.Sid); err != nil {
		return err
	}
	if _, err := api.AddPermission(ctx, &lambda.AddPermissionInput{
		FunctionName: aws.String(function), StatementId: aws.String(p.Sid),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String(p.Principal),
		SourceArn: aws.String(p.SourceARN), SourceAccount: aws.String(account),
	}); err != nil {
		return fmt.Errorf("letting %s invoke Lambda function %s for %s: %w", p.Principal, function, p.SourceARN, err)
	}
	return nil
}

func RemovePermission(ctx context.Context, api LambdaPermissionAPI, function, sid string) error {
	_, err := api.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(function), StatementId: aws.String(sid)})
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("removing statement %s from the policy of Lambda function %s: %w", sid, function, err)
	}
	return nil
}
