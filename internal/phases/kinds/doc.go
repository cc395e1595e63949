// Package kinds holds the resource kinds more than one phase declares: an IAM role (the
// cluster's task roles, the flow logs', the relay's, the CI deploy role), a log group, a
// log bucket, a target group, a Lambda function and its permissions, and what a secret
// in Secrets Manager needs (lookup, adoption, resource policy). A phase constructs them
// with its own key; the kind knows nothing of the phase.
package kinds
