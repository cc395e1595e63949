// Package iampolicy evaluates IAM identity policies the way AWS does, for the requests
// a test can name: explicit Deny wins, then an Allow, else the implicit deny. It exists
// to prove a policy sufficient (and no wider than needed) where the emulator evaluates
// no IAM at all. It knows the condition operators fvdeploy's policies use and refuses
// any other rather than guess.
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Policy is a parsed identity policy document.
type Policy struct {
	Name       string // where it came from, for messages
	Statements []Statement
}

// Statement is one statement, each list element normalised to a list of strings.
type Statement struct {
	Sid         string
	Effect      string // "Allow" or "Deny"
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
	// Condition is operator -> key -> values, as in the document.
	Condition map[string]map[string][]string
}

// Request is what a caller asks to do: one action on one resource, with the request's
// condition context (key -> values; a key is absent when it is not in the map).
type Request struct {
	Action   string
	Resource string
	Context  map[string][]string
}

// Decision is the outcome of an evaluation.
type Decision int

const (
	ImplicitDeny Decision = iota // no statement allows it
	Allow
	ExplicitDeny
)

func (d Decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

// Result is a decision and the statements that made it (Sid, or "#index" without one).
type Result struct {
	Decision   Decision
	Statements []string
}

// Parse reads a policy document, as JSON or URL-encoded JSON (IAM answers GetRolePolicy
// with the latter).
func Parse(name, doc string) (*Policy, error) {
	if strings.HasPrefix(strings.TrimSpace(doc), "%7B") {
		dec, err := url.QueryUnescape(doc)
		if err != nil {
			return nil, fmt.Errorf("parsing policy %s: decoding it: %w", name, err)
		}
		doc = dec
	}
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("parsing policy %s: %w", name, err)
	}
	if len(raw.Statement) == 0 {
		return nil, fmt.Errorf("parsing policy %s: no Statement", name)
	}
	var list []map[string]json.RawMessage
	if raw.Statement[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("parsing policy %s: Statement: %w", name, err)
		}
		list = []map[string]json.RawMessage{one}
	} else if err := json.Unmarshal(raw.Statement, &list); err != nil {
		return nil, fmt.Errorf("parsing policy %s: Statement: %w", name, err)
	}
	p := &Policy{Name: name}
	for i, fields := range list {
		s, err := parseStatement(fields)
		if err != nil {
			return nil, fmt.Errorf("parsing policy %s: statement %d: %w", name, i, err)
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(fields map[string]json.RawMessage) (Statement, error) {
	var s Statement
	for k, v := range fields {
		var err error
		switch k {
		case "Sid":
			err = json.Unmarshal(v, &s.Sid)
		case "Effect":
			err = json.Unmarshal(v, &s.Effect)
		case "Action":
			s.Action, err = stringList(v)
		case "NotAction":
			s.NotAction, err = stringList(v)
		case "Resource":
			s.Resource, err = stringList(v)
		case "NotResource":
			s.NotResource, err = stringList(v)
		case "Condition":
			s.Condition, err = conditions(v)
		default:
			// Principal has no place in an identity policy; anything else is unknown.
			return s, fmt.Errorf("unsupported element %q in an identity policy", k)
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", k, err)
		}
	}
	if s.Effect != "Allow" && s.Effect != "Deny" {
		return s, fmt.Errorf("Effect %q is neither Allow nor Deny", s.Effect)
	}
	if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
		return s, errors.New("needs exactly one of Action and NotAction")
	}
	if (len(s.Resource) == 0) == (len(s.NotResource) == 0) {
		return s, errors.New("needs exactly one of Resource and NotResource")
	}
	for _, r := range append(append([]string(nil), s.Resource...), s.NotResource...) {
		// Policy variables would need the request's identity to expand: refuse them
		// rather than match them as text.
		if strings.Contains(r, "${") {
			return s, fmt.Errorf("policy variable in resource %q is not supported", r)
		}
	}
	for op := range s.Condition {
		if _, err := operatorOf(op); err != nil {
			return s, err
		}
	}
	return s, nil
}

// stringList reads an element that may be a string or a list of strings.
func stringList(v json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("neither a string nor a list of strings: %s", v)
	}
	return list, nil
}

// conditions reads a Condition block; values may be strings, booleans or numbers, one
// or a list, and are kept as text, as IAM compares them.
func conditions(v json.RawMessage) (map[string]map[string][]string, error) {
	var raw map[string]map[string]any
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	out := map[string]map[string][]string{}
	for op, keys := range raw {
		out[op] = map[string][]string{}
		for key, val := range keys {
			var vals []any
			if l, ok := val.([]any); ok {
				vals = l
			} else {
				vals = []any{val}
			}
			for _, x := range vals {
				switch x := x.(type) {
				case string:
					out[op][key] = append(out[op][key], x)
				case bool, float64:
					out[op][key] = append(out[op][key], fmt.Sprint(x))
				default:
					return nil, fmt.Errorf("%s: %s: value %v is not a string, boolean or number", op, key, x)
				}
			}
		}
	}
	return out, nil
}

// Evaluate decides a request against a set of identity policies (all of a principal's).
// An error means a policy cannot be evaluated faithfully, never a decision.
func Evaluate(policies []*Policy, req Request) (Result, error) {
	var allows, denies []string
	for _, p := range policies {
		for i, s := range p.Statements {
			ok, err := s.applies(req)
			if err != nil {
				return Result{}, fmt.Errorf("evaluating %s against %s statement %s: %w", req.Action, p.Name, s.name(i), err)
			}
			if !ok {
				continue
			}
			if s.Effect == "Deny" {
				denies = append(denies, p.Name+"/"+s.name(i))
			} else {
				allows = append(allows, p.Name+"/"+s.name(i))
			}
		}
	}
	switch {
	case len(denies) > 0:
		return Result{Decision: ExplicitDeny, Statements: denies}, nil
	case len(allows) > 0:
		return Result{Decision: Allow, Statements: allows}, nil
	}
	return Result{Decision: ImplicitDeny}, nil
}

func (s Statement) name(i int) string {
	if s.Sid != "" {
		return s.Sid
	}
	return fmt.Sprintf("#%d", i)
}

// applies says whether the statement covers the request: action, resource, conditions.
func (s Statement) applies(req Request) (bool, error) {
	if len(s.Action) > 0 && !anyMatch(s.Action, req.Action, actionMatch) {
		return false, nil
	}
	if len(s.NotAction) > 0 && anyMatch(s.NotAction, req.Action, actionMatch) {
		return false, nil
	}
	if len(s.Resource) > 0 && !anyMatch(s.Resource, req.Resource, resourceMatch) {
		return false, nil
	}
	if len(s.NotResource) > 0 && anyMatch(s.NotResource, req.Resource, resourceMatch) {
		return false, nil
	}
	// Every operator, and every key under it, must hold (AND).
	for op, keys := range s.Condition {
		o, err := operatorOf(op)
		if err != nil {
			return false, err
		}
		for key, want := range keys {
			have, present := lookup(req.Context, key)
			if !o.holds(want, have, present) {
				return false, nil
			}
		}
	}
	return true, nil
}

func anyMatch(patterns []string, value string, match func(pattern, value string) bool) bool {
	for _, p := range patterns {
		if match(p, value) {
			return true
		}
	}
	return false
}

// actionMatch compares "service:Action" names, case-insensitively, with * and ?.
func actionMatch(pattern, action string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(action))
}

// resourceMatch compares ARNs case-sensitively; in the Resource element a * may span
// the colons between ARN parts.
func resourceMatch(pattern, arn string) bool { return glob(pattern, arn) }

// lookup finds a condition key in the context: key names are case-insensitive.
func lookup(ctx map[string][]string, key string) ([]string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// glob matches * (any run of characters) and ? (one character).
func glob(pattern, s string) bool {
	p, i := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(i) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == i[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
