package kit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The lookups every resource's Find starts with: the object state recorded, else the one
// that its tags or its name identify, then what to do with none, one or several.

// ByRecord returns the object whose ID (or ARN) state recorded, nil when state recorded
// none or the object is gone (byID answers "not found" or lists nothing).
func ByRecord[T any](ctx context.Context, what, id string, byID func(ctx context.Context, id string) ([]T, error)) (*T, error) {
	if id == "" {
		return nil, nil
	}
	items, err := byID(ctx, id)
	if err != nil && !IsNotFound(err) {
		return nil, fmt.Errorf("describing %s %s: %w", what, id, err)
	}
	if err == nil && len(items) == 1 {
		return &items[0], nil
	}
	return nil, nil
}

// FindByName looks an object up by the ARN state recorded, else by its name, which is
// unique in the account and region: one found by name alone must pass owned (carry the
// ownership tags of its key), or the lookup fails naming it.
func FindByName[T any](ctx context.Context, what, arn, name string,
	byARN, byName func(ctx context.Context, s string) ([]T, error),
	owned func(ctx context.Context, item T) error,
) (*T, error) {
	if item, err := ByRecord(ctx, what, arn, byARN); err != nil || item != nil {
		return item, err
	}
	items, err := byName(ctx, name)
	if IsNotFound(err) || err == nil && len(items) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s %s: %w", what, name, err)
	}
	if err := owned(ctx, items[0]); err != nil {
		return nil, err
	}
	return &items[0], nil
}

// FindEC2 looks an object up by the ID recorded in state, then, when state has none or
// that object is gone, by its fvdeploy tags (what names the kind of object in errors).
// Several objects with the tags of one key are duplicates a lost answer left: the one
// with the lowest ID is kept, and the others come back as extras (records for Delete),
// which the engine removes.
func FindEC2[T any](ctx context.Context, what, key, id string, idOf func(T) string,
	byID func(ctx context.Context, id string) ([]T, error),
	byTags func(ctx context.Context) ([]T, error),
) (*T, []state.Resource, error) {
	if item, err := ByRecord(ctx, what, id, byID); err != nil || item != nil {
		return item, nil, err
	}
	items, err := byTags(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("looking up the %s of %s by its tags: %w", what, key, err)
	}
	if len(items) == 0 {
		return nil, nil, nil
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(idOf(a), idOf(b)) })
	var extras []state.Resource
	for _, x := range items[1:] {
		extras = append(extras, state.Resource{ID: idOf(x)})
	}
	return &items[0], extras, nil
}

// FindTagged is findEC2 for objects one Describe call finds both ways: describe is
// given the recorded ID, or else the filters for the key's ownership tags.
func FindTagged[T any](ctx context.Context, in *Inputs, what, key, id string, idOf func(T) string,
	describe func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]T, error),
) (*T, []state.Resource, error) {
	return FindEC2(ctx, what, key, id, idOf,
		func(ctx context.Context, id string) ([]T, error) { return describe(ctx, []string{id}, nil) },
		func(ctx context.Context) ([]T, error) { return describe(ctx, nil, EC2TagFilters(in.Tags(key))) })
}

// RecID is the ID state recorded, or "" when there is no record.
func RecID(rec *state.Resource) string {
	if rec == nil {
		return ""
	}
	return rec.ID
}

// RecARN is the ARN state recorded, or "" when there is no record.
func RecARN(rec *state.Resource) string {
	if rec == nil {
		return ""
	}
	return rec.ARN
}
