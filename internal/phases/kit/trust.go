package kit

import (
	"fmt"
)

// Trust policies of the roles AWS services assume for this environment. A service
// principal alone trusts that service acting for any AWS account (the confused deputy):
// every such statement also requires aws:SourceAccount to be this account and, where the
// service sends it, aws:SourceArn to match this environment's resources.

// serviceTrust is the statement that lets service assume a role only on behalf of
// account and, when sourceARNs are given, only for a resource matching one of them
// (ArnLike, so they may end in a wildcard; "" is none). A positive condition on a key the
// service does not send never matches, so source ARNs are given only for services that
// send one.
func serviceTrust(service, account string, sourceARNs ...string) Stmt {
	cond := map[string]map[string]any{"StringEquals": {"aws:SourceAccount": account}}
	var arns []string
	for _, a := range sourceARNs {
		if a != "" {
			arns = append(arns, a)
		}
	}
	switch len(arns) {
	case 0:
	case 1:
		cond["ArnLike"] = map[string]any{"aws:SourceArn": arns[0]}
	default:
		cond["ArnLike"] = map[string]any{"aws:SourceArn": arns}
	}
	return Stmt{Effect: "Allow", Principal: map[string]string{"Service": service}, Action: []string{"sts:AssumeRole"}, Condition: cond}
}

// ServiceTrustPolicy is a trust policy of that one statement.
func ServiceTrustPolicy(service, account string, sourceARNs ...string) string {
	return PolicyDoc(serviceTrust(service, account, sourceARNs...))
}

// ECSTasksTrustPolicy lets this account's ECS tasks in the region assume the role (the
// task and the execution role). ECS sends the task's ARN as aws:SourceArn; AWS documents
// arn:<partition>:ecs:<region>:<account>:* for it (a cluster cannot be named there yet).
func ECSTasksTrustPolicy(in *Inputs) string {
	return ServiceTrustPolicy("ecs-tasks.amazonaws.com", in.Account, fmt.Sprintf("arn:%s:ecs:%s:%s:*", AWSPartition(in.Region), in.Region, in.Account))
}

// ECSTrustPolicy lets ECS itself (not its tasks) assume the role, on behalf of this
// account only. No source ARN: AWS documents the infrastructure role's trust without
// conditions and nowhere says ECS sends aws:SourceArn when it assumes it, and a positive
// condition on a key that is not sent would stop every canary deploy.
func ECSTrustPolicy(in *Inputs) string {
	return ServiceTrustPolicy("ecs.amazonaws.com", in.Account)
}

// LambdaTrustPolicy lets Lambda assume a function's execution role on behalf of this
// account only. AWS documents aws:SourceAccount for Lambda's execution roles, not
// aws:SourceArn (the function's ARN reaches calls made with the role as
// lambda:SourceFunctionArn instead), so the source ARN is left out for the same reason.
func LambdaTrustPolicy(in *Inputs) string {
	return ServiceTrustPolicy("lambda.amazonaws.com", in.Account)
}
