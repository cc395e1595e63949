package kit

import (
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TagList turns tags into any service's tag list, in key order so that requests (and the
// call traces tests compare) are the same on every run; mk builds one service's tag.
func TagList[T any](tags map[string]string, mk func(k, v *string) T) []T {
	out := make([]T, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, mk(aws.String(k), aws.String(tags[k])))
	}
	return out
}

// TagMap turns any service's tag list into a map.
func TagMap[T any](tags []T, kv func(T) (k, v *string)) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v := kv(t)
		out[aws.ToString(k)] = aws.ToString(v)
	}
	return out
}

// TagDrift describes which of the wanted tags are missing or different on an object, as
// a Change value ("" when none are). Tags someone else added are left alone.
func TagDrift(want, have map[string]string) (from, to string, drift bool) {
	var missing, had []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := have[k]; !ok || v != want[k] {
			missing = append(missing, k+"="+want[k])
			if ok {
				had = append(had, k+"="+v)
			}
		}
	}
	if len(missing) == 0 {
		return "", "", false
	}
	return strings.Join(had, ","), strings.Join(missing, ","), true
}

func IAMTags(tags map[string]string) []iamtypes.Tag {
	return TagList(tags, func(k, v *string) iamtypes.Tag { return iamtypes.Tag{Key: k, Value: v} })
}

func SecretTags(tags map[string]string) []smtypes.Tag {
	return TagList(tags, func(k, v *string) smtypes.Tag { return smtypes.Tag{Key: k, Value: v} })
}
