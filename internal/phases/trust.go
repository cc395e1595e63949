package phases

import "fmt"

// Trust policies of the roles AWS services assume for this environment. A service
// principal alone trusts that service acting for any AWS account (the confused deputy):
// every such statement also requires aws:SourceAccount to be this account and, where the
// service sends it, aws:SourceArn to match this environment's resources.

// serviceTrust is the statement that lets service assume a role only on behalf of
// account and, when sourceARN is not "", only for resources matching it (ArnLike, so
// it may end in a wildcard). A positive condition on a key the service does not send
// never matches, so sourceARN is given only for services documented to send it.
func serviceTrust(service, account, sourceARN string) stmt {
	cond := map[string]map[string]any{"StringEquals": {"aws:SourceAccount": account}}
	if sourceARN != "" {
		cond["ArnLike"] = map[string]any{"aws:SourceArn": sourceARN}
	}
	return stmt{Effect: "Allow", Principal: map[string]string{"Service": service}, Action: []string{"sts:AssumeRole"}, Condition: cond}
}

// serviceTrustPolicy is a trust policy of that one statement.
func serviceTrustPolicy(service, account, sourceARN string) string {
	return policyDoc(serviceTrust(service, account, sourceARN))
}

// ecsTasksTrustPolicy lets this account's ECS tasks in the region assume the role (the
// task and the execution role). ECS sends the task's ARN as aws:SourceArn; AWS documents
// arn:<partition>:ecs:<region>:<account>:* for it (a cluster cannot be named there yet).
func ecsTasksTrustPolicy(in *Inputs) string {
	return serviceTrustPolicy("ecs-tasks.amazonaws.com", in.Account, fmt.Sprintf("arn:%s:ecs:%s:%s:*", awsPartition(in.Region), in.Region, in.Account))
}

// ecsTrustPolicy lets ECS itself (not its tasks) assume the role, for this account only.
// AWS documents no aws:SourceArn for the infrastructure role, so none is required.
func ecsTrustPolicy(in *Inputs) string {
	return serviceTrustPolicy("ecs.amazonaws.com", in.Account, "")
}

// lambdaTrustPolicy lets Lambda assume a function's execution role, for this account
// only. Lambda does not document aws:SourceArn on that call; the role is named for one
// function and only fvdeploy's deploy principal passes it.
func lambdaTrustPolicy(in *Inputs) string {
	return serviceTrustPolicy("lambda.amazonaws.com", in.Account, "")
}
