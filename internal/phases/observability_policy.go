package phases

import (
	"encoding/json"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// stmt is a policy statement with conditions, for the resource policies (buckets, the
// environment's key) and the trust and deploy policies (trust.go, cicd).
// Principal is "*" or a map such as {"Service": "cloudtrail.amazonaws.com"}.
type stmt struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal any                       `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

func policyDoc(stmts ...stmt) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts}) // cannot fail
	return string(b)
}

// denyInsecureTransport refuses every request to a bucket that does not use TLS.
func denyInsecureTransport(bucketARN string) stmt {
	return stmt{
		Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: []string{"s3:*"},
		Resource:  []string{bucketARN, bucketARN + "/*"},
		Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
	}
}

// resourcePolicyDiff is policyDiff for documents with conditions: services may return a
// one-value condition as a string or a list, and list values in any order.
func resourcePolicyDiff(live, want string) (*engine.Change, error) {
	live, err := decodePolicy(live)
	if err != nil {
		return nil, err
	}
	a, err := conditionsAsLists(live)
	if err != nil {
		return nil, err
	}
	b, err := conditionsAsLists(want)
	if err != nil {
		return nil, err
	}
	d, err := policyDiff(a, b)
	if d != nil {
		d.To = want
	}
	return d, err
}

// conditionsAsLists rewrites every condition value of doc as a sorted list.
func conditionsAsLists(doc string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return "", err
	}
	for _, s := range asList(m["Statement"]) {
		sm, _ := s.(map[string]any)
		cond, _ := sm["Condition"].(map[string]any)
		for _, keys := range cond {
			km, _ := keys.(map[string]any)
			for k, v := range km {
				km[k] = sortedList(v)
			}
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}
