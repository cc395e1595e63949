package kit

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// DecodePolicy undoes the URL encoding IAM applies to documents it returns.
func DecodePolicy(doc string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(doc), "{") {
		return doc, nil
	}
	return url.PathUnescape(doc)
}

// PolicyDiff compares two policy documents by meaning, not by bytes: IAM returns them
// URL-encoded, reformatted, with one-element lists collapsed to strings. nil means
// equal; otherwise a Change from the live to the wanted document (Field left empty).
func PolicyDiff(live, want string) (*engine.Change, error) {
	live, err := DecodePolicy(live)
	if err != nil {
		return nil, err
	}
	a, err := canonicalPolicy(live)
	if err != nil {
		return nil, err
	}
	b, err := canonicalPolicy(want)
	if err != nil {
		return nil, err
	}
	if a == b {
		return nil, nil
	}
	return &engine.Change{From: a, To: want}, nil
}

// canonicalPolicy renders a policy so that equal meanings give equal strings: lists in
// the places where IAM accepts a string or a list, sorted, statements in sorted order.
func canonicalPolicy(doc string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return "", fmt.Errorf("policy is not JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("policy is not a JSON object")
	}
	stmts := AsList(m["Statement"])
	rendered := make([]string, 0, len(stmts))
	for _, s := range stmts {
		sm, ok := s.(map[string]any)
		if !ok {
			return "", fmt.Errorf("policy statement is not a JSON object")
		}
		for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
			if x, ok := sm[k]; ok {
				sm[k] = SortedList(x)
			}
		}
		for _, k := range []string{"Principal", "NotPrincipal"} {
			if p, ok := sm[k].(map[string]any); ok {
				for pk, pv := range p {
					p[pk] = SortedList(pv)
				}
			}
		}
		b, _ := json.Marshal(sm)
		rendered = append(rendered, string(b))
	}
	slices.Sort(rendered)
	version, _ := m["Version"].(string)
	return fmt.Sprintf(`{"Statement":[%s],"Version":%q}`, strings.Join(rendered, ","), version), nil
}

func AsList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func SortedList(v any) []any {
	l := slices.Clone(AsList(v))
	slices.SortFunc(l, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return l
}

// ResourcePolicyDiff is policyDiff for documents with conditions: services may return a
// one-value condition as a string or a list, and list values in any order.
func ResourcePolicyDiff(live, want string) (*engine.Change, error) {
	live, err := DecodePolicy(live)
	if err != nil {
		return nil, err
	}
	a, err := ConditionsAsLists(live)
	if err != nil {
		return nil, err
	}
	b, err := ConditionsAsLists(want)
	if err != nil {
		return nil, err
	}
	d, err := PolicyDiff(a, b)
	if d != nil {
		d.To = want
	}
	return d, err
}

// ConditionsAsLists rewrites every condition value of doc as a sorted list.
func ConditionsAsLists(doc string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return "", err
	}
	for _, s := range AsList(m["Statement"]) {
		sm, _ := s.(map[string]any)
		cond, _ := sm["Condition"].(map[string]any)
		for _, keys := range cond {
			km, _ := keys.(map[string]any)
			for k, v := range km {
				km[k] = SortedList(v)
			}
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}
