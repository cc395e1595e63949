package phases

import "encoding/json"

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

// policyStatement is one statement of a policy fvdeploy writes.
type policyStatement struct {
	Sid       string            `json:"Sid,omitempty"`
	Effect    string            `json:"Effect"`
	Principal map[string]string `json:"Principal,omitempty"`
	Action    []string          `json:"Action"`
	Resource  []string          `json:"Resource,omitempty"`
}

func policyJSON(stmts ...policyStatement) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts}) // cannot fail
	return string(b)
}
