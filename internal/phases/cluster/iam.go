package cluster

import (
	"slices"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// Changes a role can have; Update applies each change's To.
const ()

// ---- policy documents ----

// taskPolicy is what the application's own task role may do: nothing, unless tracing is
// on, when its collector sidecar sends trace segments to X-Ray (these two actions have
// no resource-level permissions, so "*" is the only form).
func taskPolicy(in *kit.Inputs, _ engine.Deps, _ string) (string, bool) {
	if !in.Config.Observability.Tracing {
		return "", true
	}
	return kit.PolicyJSON(kit.PolicyStatement{Sid: "XRayTraces", Effect: "Allow",
		Action: []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, Resource: []string{"*"}}), true
}

// executionPolicy is least privilege for the ECS agent starting a task: an ECR token,
// pulls from the image's own repository (when it is this account's), log writes to
// the service's group, and reading exactly the admin secret and the secrets
// service.secrets names.
func executionPolicy(in *kit.Inputs, deps engine.Deps, repo string) (string, bool) {
	secret, logs := deps.Get(kit.KeySecretAdmin), deps.Get(KeyLogGroup)
	if secret == nil || logs == nil || secret.ARN == "" {
		return "", false
	}
	logARN := logs.ARN
	if logARN == "" {
		logARN = kit.LogGroupARN(in, logs.ID)
	}
	stmts := []kit.PolicyStatement{
		// GetAuthorizationToken has no resource-level permissions: "*" is the only form.
		{Sid: "ECRToken", Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
	}
	if repo != "" {
		stmts = append(stmts, kit.PolicyStatement{Sid: kinds.SidECRPull, Effect: "Allow",
			Action:   []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
			Resource: []string{repo}})
	}
	stmts = append(stmts,
		kit.PolicyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logARN + ":*"}},
		kit.PolicyStatement{Sid: "ReadAdminSecret", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{secret.ARN}},
	)
	var named []string
	for _, key := range kit.SecretRefKeys(in) {
		rec := deps.Get(key)
		if rec == nil || rec.ARN == "" {
			return "", false
		}
		if !slices.Contains(named, rec.ARN) {
			named = append(named, rec.ARN)
		}
	}
	if len(named) > 0 {
		// The full ARNs found, random suffix and all: IAM matches them exactly. A secret
		// under a customer KMS key also needs kms:Decrypt for this role in the key's
		// policy, which is the key owner's to grant.
		stmts = append(stmts, kit.PolicyStatement{Sid: "ReadServiceSecrets", Effect: "Allow",
			Action: []string{"secretsmanager:GetSecretValue"}, Resource: slices.Sorted(slices.Values(named))})
	}
	return kit.PolicyJSON(stmts...), true
}
