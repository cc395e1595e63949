package testenv

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ContainerVars lists a container definition's environment as NAME=value and its secrets
// as NAME=valueFrom, each sorted, for tests to compare with what they configured.
func ContainerVars(c ecstypes.ContainerDefinition) (env, secrets []string) {
	for _, kv := range c.Environment {
		env = append(env, aws.ToString(kv.Name)+"="+aws.ToString(kv.Value))
	}
	for _, s := range c.Secrets {
		secrets = append(secrets, aws.ToString(s.Name)+"="+aws.ToString(s.ValueFrom))
	}
	slices.Sort(env)
	slices.Sort(secrets)
	return env, secrets
}
