package cluster

import (
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/secretrotation"
)

// Automatic rotation of the admin secret (secrets.rotation_days > 0): a Lambda function
// running internal/secretrotation/handler.py, which Secrets Manager calls on the schedule
// (stage A: the new password stored with the previous one kept, the service rolled) and
// an EventBridge rule calls when a deployment of the service completes (stage B: the
// previous password cleared, the service rolled again). They live in the cluster phase
// because the function rolls the service.
const (
	KeyRotationLogs     = "cluster/secret-rotation-logs"
	KeyRotationRole     = "cluster/secret-rotation-role"
	KeyRotationFunction = "cluster/secret-rotation"
	KeyRotationRule     = "cluster/secret-rotation-rule"
	KeyRotationSchedule = "cluster/secret-rotation-schedule"

	rotationTimeoutSeconds = 60
	rotationMemoryMiB      = 128
	// The function policy's statements: Secrets Manager for the admin secret, EventBridge
	// for the rule.
	rotationSecretsSid = "admin-secret-rotation"
	rotationEventsSid  = "service-deployment-completed"
	// rotationTargetID is the rule's one target, the function.
	rotationTargetID = "secret-rotation"
)

// rotationEnvironment is what the rotation's handler reads: the secret it rotates and the
// service it rolls; nil while the secret does not exist.
func rotationEnvironment(in *kit.Inputs, deps engine.Deps) map[string]string {
	secret := deps.Get(kit.KeySecretAdmin)
	if secret == nil {
		return nil
	}
	return map[string]string{
		secretrotation.SecretEnv:  secret.ARN,
		secretrotation.ClusterEnv: ClusterName(in),
		secretrotation.ServiceEnv: ServiceName(in),
	}
}

func rotationRuleName(in *kit.Inputs) string {
	return kit.BoundedName(in.Prefix()+"-secret-rotation", 64)
}

// rotationResources are the function, its log group and role, the rule that starts stage
// B, and the secret's rotation schedule, in that dependency order.
func rotationResources(in *kit.Inputs) []engine.Resource {
	lc := in.AWS.Lambda()
	return []engine.Resource{
		&kinds.LogGroup{In: in, API: in.AWS.Logs(), KMS: in.AWS.KMS(), ResourceKey: KeyRotationLogs, Name: kit.RotationLogGroupName(in)},
		&kinds.Role{In: in, API: in.AWS.IAM(), ResourceKey: KeyRotationRole, Name: kit.RotationRoleName(in),
			// aws:SourceAccount only: AWS does not document that Lambda sends a source ARN
			// when it assumes an execution role, and a condition on a key not sent never matches.
			Trust: kit.LambdaTrustPolicy(in),
			Deps:  []string{kit.KeySecretAdmin, KeyRotationLogs, kit.KeyService}, Policy: rotationPolicy,
			Description: "Admin secret rotation of " + in.Prefix() + ": store new passwords in its secret, roll its service, write its logs"},
		&kinds.LambdaFunction{In: in, API: lc, ResourceKey: KeyRotationFunction, Name: kit.RotationFunctionName(in),
			Description: "Rotates the admin password of " + in.Prefix() + " and rolls its service (fvdeploy)",
			RoleKey:     KeyRotationRole, Deps: []string{kit.KeySecretAdmin, KeyRotationLogs},
			Runtime: secretrotation.Runtime, Handler: secretrotation.Handler, TimeoutSeconds: rotationTimeoutSeconds, MemoryMiB: rotationMemoryMiB,
			Zip: secretrotation.Zip, Environment: func(deps engine.Deps) map[string]string { return rotationEnvironment(in, deps) },
			Missing: "its role or the admin secret"},
		&rotationRule{in: in, api: in.AWS.EventBridge(), lambda: lc},
		&rotationSchedule{in: in, api: in.AWS.SecretsManager(), lambda: lc},
	}
}

// rotationPolicy is all the function may do: read and store versions of the admin secret
// (the secret's default key, aws/secretsmanager, needs no grant), have Secrets Manager
// make a password, roll this one service, and write its own logs.
func rotationPolicy(_ *kit.Inputs, deps engine.Deps, _ string) (string, bool) {
	secret, logs, svc := deps.Get(kit.KeySecretAdmin), deps.Get(KeyRotationLogs), deps.Get(kit.KeyService)
	if secret == nil || logs == nil || svc == nil || secret.ARN == "" || svc.ARN == "" {
		return "", false
	}
	return kit.PolicyJSON(
		kit.PolicyStatement{Sid: "RotateAdminSecret", Effect: "Allow", Action: []string{
			"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
		}, Resource: []string{secret.ARN}},
		// GetRandomPassword acts on no resource: "*" is its only form.
		kit.PolicyStatement{Sid: "MakePassword", Effect: "Allow", Action: []string{"secretsmanager:GetRandomPassword"}, Resource: []string{"*"}},
		kit.PolicyStatement{Sid: "RollService", Effect: "Allow", Action: []string{"ecs:DescribeServices", "ecs:UpdateService"}, Resource: []string{svc.ARN}},
		kit.PolicyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logs.ARN + ":*"}},
	), true
}
