package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// ErrNoPrevious means there is nothing to roll back to.
var ErrNoPrevious = errors.New("no earlier ACTIVE revision of the task definition to roll back to")

// PreviousAPI is what finding the previous revision needs from ECS.
type PreviousAPI interface {
	serviceAPI
	ecs.ListTaskDefinitionsAPIClient
}

// Previous is the ACTIVE revision of family just before the one the service runs now.
func Previous(ctx context.Context, api PreviousAPI, t Target, family string) (current, previous string, err error) {
	if t.Service == "" {
		return "", "", fmt.Errorf("no ECS service in state: run `fvdeploy up --env %s` first", t.Env)
	}
	svc, err := describeService(ctx, api, t)
	if err != nil {
		return "", "", err
	}
	current = aws.ToString(svc.TaskDefinition)
	arns, err := Revisions(ctx, api, family, ecstypes.TaskDefinitionStatusActive)
	if err != nil {
		return "", "", err
	}
	i := slices.Index(arns, current)
	if i <= 0 {
		return current, "", ErrNoPrevious
	}
	return current, arns[i-1], nil
}

// Revisions lists the ARNs of the family's revisions in a status, oldest first.
// ListTaskDefinitions matches a family prefix, so other families are filtered out.
func Revisions(ctx context.Context, api ecs.ListTaskDefinitionsAPIClient, family string, status ecstypes.TaskDefinitionStatus) ([]string, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(api, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family), Status: status, Sort: ecstypes.SortOrderAsc})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the %s revisions of task definition %s: %w", status, family, err)
		}
		for _, arn := range page.TaskDefinitionArns {
			name := arn[strings.LastIndex(arn, "/")+1:]
			if f, _, _ := strings.Cut(name, ":"); f == family {
				arns = append(arns, arn)
			}
		}
	}
	return arns, nil
}

// ForgetAPI is what forgetting a revision needs from ECS.
type ForgetAPI interface {
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// Forget deregisters the revision rolled back from, so that a plain `up` keeps the
// service where the rollback put it, and describes the revision that runs, for state to
// record.
func Forget(ctx context.Context, api ForgetAPI, abandoned, running string) (*ecstypes.TaskDefinition, error) {
	if _, err := api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(abandoned)}); err != nil && !taskDefGone(err) {
		return nil, fmt.Errorf("deregistering %s: %w", revisionName(abandoned), err)
	}
	out, err := api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(running)})
	if err != nil {
		return nil, fmt.Errorf("describing %s: %w", revisionName(running), err)
	}
	return out.TaskDefinition, nil
}

// taskDefGone reports whether ECS says the revision does not exist: a not-found code,
// or the ClientException ECS answers an unknown revision with.
func taskDefGone(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.ErrorCode()
	return code == "NotFound" || strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, ".NotFound") ||
		code == "ClientException" && strings.Contains(err.Error(), "Unable to describe task definition")
}
