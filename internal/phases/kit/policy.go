package kit

import (
	"encoding/json"
)

// Stmt is a policy statement with conditions, for the resource policies (buckets, the
// environment's key) and the trust and deploy policies (kit/trust.go, cicd).
// Principal is "*" or a map such as {"Service": "cloudtrail.amazonaws.com"}.
type Stmt struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal any                       `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

func PolicyDoc(stmts ...Stmt) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts}) // cannot fail
	return string(b)
}

// DenyInsecureTransport refuses every request to a bucket that does not use TLS.
func DenyInsecureTransport(bucketARN string) Stmt {
	return Stmt{
		Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: []string{"s3:*"},
		Resource:  []string{bucketARN, bucketARN + "/*"},
		Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
	}
}

// PolicyStatement is one statement of a policy fvdeploy writes.
type PolicyStatement struct {
	Sid       string            `json:"Sid,omitempty"`
	Effect    string            `json:"Effect"`
	Principal map[string]string `json:"Principal,omitempty"`
	Action    []string          `json:"Action"`
	Resource  []string          `json:"Resource,omitempty"`
}

func PolicyJSON(stmts ...PolicyStatement) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts}) // cannot fail
	return string(b)
}

// NoPolicy stands for a role without fvdeploy's inline policy in a change.
const NoPolicy = "(none)"
