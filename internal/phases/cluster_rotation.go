package phases

import (
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/secretrotation"
)

// Automatic rotation of the admin secret (secrets.rotation_days > 0): a Lambda function
// running internal/secretrotation/handler.py, which Secrets Manager calls on the schedule
// (stage A: the new password stored with the previous one kept, the service rolled) and
// an EventBridge rule calls when a deployment of the service completes (stage B: the
// previous password cleared, the service rolled again). They live in the cluster phase
// because the function rolls the service.
const (
	keyRotationLogs     = "cluster/secret-rotation-logs"
	keyRotationRole     = "cluster/secret-rotation-role"
	keyRotationFunction = "cluster/secret-rotation"
	keyRotationRule     = "cluster/secret-rotation-rule"
	keyRotationSchedule = "cluster/secret-rotation-schedule"

	rotationTimeoutSeconds = 60
	rotationMemoryMiB      = 128
	// The function policy's statements: Secrets Manager for the admin secret, EventBridge
	// for the rule.
	rotationSecretsSid = "admin-secret-rotation"
	rotationEventsSid  = "service-deployment-completed"
	// rotationTargetID is the rule's one target, the function.
	rotationTargetID = "secret-rotation"
)

// rotationOn says whether the admin secret rotates automatically.
func rotationOn(in *Inputs) bool { return in.Config.Secrets.RotationDays > 0 }

// rotationEnvironment is what the rotation's handler reads: the secret it rotates and the
// service it rolls; nil while the secret does not exist.
func rotationEnvironment(in *Inputs, deps engine.Deps) map[string]string {
	secret := deps.Get(keySecretAdmin)
	if secret == nil {
		return nil
	}
	return map[string]string{
		secretrotation.SecretEnv:  secret.ARN,
		secretrotation.ClusterEnv: clusterName(in),
		secretrotation.ServiceEnv: serviceName(in),
	}
}

func rotationFunctionName(in *Inputs) string { return boundedName(in.prefix()+"-secret-rotation", 64) }
func rotationLogGroupName(in *Inputs) string { return "/aws/lambda/" + rotationFunctionName(in) }
func rotationRuleName(in *Inputs) string     { return boundedName(in.prefix()+"-secret-rotation", 64) }

// rotationResources are the function, its log group and role, the rule that starts stage
// B, and the secret's rotation schedule, in that dependency order.
func rotationResources(in *Inputs) []engine.Resource {
	lc := in.AWS.Lambda()
	return []engine.Resource{
		&logGroup{in: in, api: in.AWS.Logs(), kms: in.AWS.KMS(), key: keyRotationLogs, name: rotationLogGroupName(in)},
		&role{in: in, api: in.AWS.IAM(), key: keyRotationRole, name: rotationRoleName(in),
			// aws:SourceAccount only: AWS does not document that Lambda sends a source ARN
			// when it assumes an execution role, and a condition on a key not sent never matches.
			trust: lambdaTrustPolicy(in),
			deps:  []string{keySecretAdmin, keyRotationLogs, keyService}, policy: rotationPolicy,
			description: "Admin secret rotation of " + in.prefix() + ": store new passwords in its secret, roll its service, write its logs"},
		&lambdaFunction{in: in, api: lc, key: keyRotationFunction, name: rotationFunctionName(in),
			description: "Rotates the admin password of " + in.prefix() + " and rolls its service (fvdeploy)",
			roleKey:     keyRotationRole, deps: []string{keySecretAdmin, keyRotationLogs},
			runtime: secretrotation.Runtime, handler: secretrotation.Handler, timeoutSeconds: rotationTimeoutSeconds, memoryMiB: rotationMemoryMiB,
			zip: secretrotation.Zip, environment: func(deps engine.Deps) map[string]string { return rotationEnvironment(in, deps) },
			missing: "its role or the admin secret"},
		&rotationRule{in: in, api: in.AWS.EventBridge(), lambda: lc},
		&rotationSchedule{in: in, api: in.AWS.SecretsManager(), lambda: lc},
	}
}

// clusterDeleters are the cluster phase's resources of every type it can declare, those
// of a config it no longer has among them.
func clusterDeleters(in *Inputs) []engine.Resource {
	return append(strategyResources(in), rotationResources(in)...)
}

// rotationPolicy is all the function may do: read and store versions of the admin secret
// (the secret's default key, aws/secretsmanager, needs no grant), have Secrets Manager
// make a password, roll this one service, and write its own logs.
func rotationPolicy(_ *Inputs, deps engine.Deps, _ string) (string, bool) {
	secret, logs, svc := deps.Get(keySecretAdmin), deps.Get(keyRotationLogs), deps.Get(keyService)
	if secret == nil || logs == nil || svc == nil || secret.ARN == "" || svc.ARN == "" {
		return "", false
	}
	return policyJSON(
		policyStatement{Sid: "RotateAdminSecret", Effect: "Allow", Action: []string{
			"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
			"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
		}, Resource: []string{secret.ARN}},
		// GetRandomPassword acts on no resource: "*" is its only form.
		policyStatement{Sid: "MakePassword", Effect: "Allow", Action: []string{"secretsmanager:GetRandomPassword"}, Resource: []string{"*"}},
		policyStatement{Sid: "RollService", Effect: "Allow", Action: []string{"ecs:DescribeServices", "ecs:UpdateService"}, Resource: []string{svc.ARN}},
		policyStatement{Sid: "WriteLogs", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{logs.ARN + ":*"}},
	), true
}
