package iampolicy

import (
	"fmt"
	"strings"
)

// operator is a condition operator: how one policy value and one request value match,
// whether the result is negated, and whether a missing key passes (…IfExists).
type operator struct {
	match    func(policy, request string) bool
	negated  bool
	ifExists bool
	null     bool
}

// matchers are the operators known, by their name without IfExists; the Not forms are
// the negation of their positive twin.
var matchers = map[string]func(policy, request string) bool{
	"StringEquals":           func(p, r string) bool { return p == r },
	"StringEqualsIgnoreCase": strings.EqualFold,
	"StringLike":             glob,
	// ArnEquals and ArnLike are the same test in IAM: part by part, wildcards allowed.
	"ArnEquals": arnMatch,
	"ArnLike":   arnMatch,
	"Bool":      strings.EqualFold,
}

var negations = map[string]string{
	"StringNotEquals":           "StringEquals",
	"StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
	"StringNotLike":             "StringLike",
	"ArnNotEquals":              "ArnEquals",
	"ArnNotLike":                "ArnLike",
}

// operatorOf reads an operator name; an unknown one (numeric, date, IP, the
// ForAnyValue/ForAllValues set forms) is an error, never a silent pass.
func operatorOf(name string) (operator, error) {
	if name == "Null" {
		return operator{null: true}, nil
	}
	base, ifExists := strings.CutSuffix(name, "IfExists")
	if m, ok := matchers[base]; ok {
		return operator{match: m, ifExists: ifExists}, nil
	}
	if pos, ok := negations[base]; ok {
		return operator{match: matchers[pos], negated: true, ifExists: ifExists}, nil
	}
	return operator{}, fmt.Errorf("condition operator %q is not supported by this evaluator", name)
}

// holds says whether the condition on one key holds: several policy values are
// alternatives (OR). A missing key fails a positive operator and passes a negated one
// (as in IAM), and passes any …IfExists.
func (o operator) holds(want, have []string, present bool) bool {
	if o.null {
		for _, w := range want {
			if strings.EqualFold(w, "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		return o.ifExists || o.negated
	}
	matched := false
	for _, h := range have {
		for _, w := range want {
			if o.match(w, h) {
				matched = true
			}
		}
	}
	return matched != o.negated
}

// arnMatch compares the six colon-separated parts of two ARNs each on its own, with *
// and ? within a part (the resource part keeps its own colons).
func arnMatch(pattern, arn string) bool {
	p, a := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(p) != 6 || len(a) != 6 {
		return false
	}
	for i := range p {
		if !glob(p[i], a[i]) {
			return false
		}
	}
	return true
}
