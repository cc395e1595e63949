package validate

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
)

// policy is an IAM, bucket or secret policy document as the audit reads it: the parts
// that decide who may do what, and under which conditions.
type policy struct {
	Statement statements
}

type statement struct {
	Sid       string
	Effect    string
	Principal any
	Action    any
	Resource  any
	// Condition is operator -> condition key -> value(s).
	Condition map[string]map[string]any
}

// statements reads Statement as AWS writes it: one object or a list.
type statements []statement

func (s *statements) UnmarshalJSON(data []byte) error {
	var one statement
	if err := json.Unmarshal(data, &one); err == nil {
		*s = statements{one}
		return nil
	}
	var many []statement
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// parsePolicy reads a policy document; IAM returns them URL-encoded (RFC 3986).
func parsePolicy(raw string) (policy, error) {
	if strings.HasPrefix(raw, "%") {
		if dec, err := url.PathUnescape(raw); err == nil {
			raw = dec
		}
	}
	var p policy
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return policy{}, fmt.Errorf("policy is not JSON: %w", err)
	}
	return p, nil
}

// principals are the statement's principals of one kind ("Service", "AWS",
// "Federated"); Principal "*" counts as AWS "*".
func (s statement) principals(kind string) []string {
	switch p := s.Principal.(type) {
	case string:
		if p == "*" && kind == "AWS" {
			return []string{"*"}
		}
	case map[string]any:
		return strs(p[kind])
	}
	return nil
}

// everyone reports whether the statement applies to any principal.
func (s statement) everyone() bool { return slices.Contains(s.principals("AWS"), "*") }

// allows reports whether one of the statement's action patterns matches action.
func (s statement) allows(action string) bool {
	return slices.ContainsFunc(strs(s.Action), func(pattern string) bool { return globMatch(pattern, action) })
}

// condition returns the values the statement's condition gives key under one of ops
// (operators, exact; keys are case-insensitive as in IAM), and whether it has any.
func (s statement) condition(key string, ops ...string) []string {
	var out []string
	for op, keys := range s.Condition {
		if !slices.Contains(ops, op) {
			continue
		}
		for k, v := range keys {
			if strings.EqualFold(k, key) {
				out = append(out, strs(v)...)
			}
		}
	}
	return out
}

// globMatch is IAM's case-insensitive wildcard match (* and ?).
func globMatch(pattern, s string) bool {
	// path.Match treats / as a separator and [ as a class; IAM does neither.
	p := strings.NewReplacer("/", "\x00", "[", "\\[", "\\", "\\\\").Replace(strings.ToLower(pattern))
	ok, err := path.Match(p, strings.ReplaceAll(strings.ToLower(s), "/", "\x00"))
	return err == nil && ok
}

// The condition operators that pin a key to values; their ...IfExists forms are left
// out on purpose, as they hold when the key is absent.
var (
	stringOps = []string{"StringEquals", "StringLike", "StringEqualsIgnoreCase"}
	arnOps    = []string{"ArnEquals", "ArnLike", "StringEquals", "StringLike"}
	notOps    = []string{"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
)
