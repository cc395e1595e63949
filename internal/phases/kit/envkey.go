package kit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

type KMSDescribeAPI interface {
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// EnvKeyDeps is what a resource encrypted with the environment's key depends on: the key
// fvdeploy makes, or nothing when one is configured.
func EnvKeyDeps(in *Inputs) []string {
	if in.Config.Observability.KMSKeyID != "" {
		return nil
	}
	return []string{KeyEnvKey}
}

// EnvKeyARN is the ARN of the environment's key: the configured one, or the one envKey
// made; ok is false while the latter does not exist.
func EnvKeyARN(ctx context.Context, in *Inputs, api KMSDescribeAPI, deps engine.Deps) (arn string, ok bool, err error) {
	if in.Config.Observability.KMSKeyID != "" {
		arn, err := ConfiguredKeyARN(ctx, in, api)
		return arn, err == nil, err
	}
	k := deps.Get(KeyEnvKey)
	if k == nil || k.ARN == "" {
		return "", false, nil
	}
	return k.ARN, true, nil
}

// ConfiguredKeyARN resolves observability.kms_key_id (a key ID, key ARN or alias) to the
// key's ARN, once per run: CloudTrail reports the key it uses by ARN whatever it was
// given, so comparing needs the ARN. "" when no key is configured.
func ConfiguredKeyARN(ctx context.Context, in *Inputs, api KMSDescribeAPI) (string, error) {
	id := in.Config.Observability.KMSKeyID
	if id == "" {
		return "", nil
	}
	return Remember(in, "kms-key-arn", func() (string, error) {
		out, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
		if err != nil {
			return "", fmt.Errorf("looking up observability.kms_key_id %s: %w", id, err)
		}
		return aws.ToString(out.KeyMetadata.Arn), nil
	})
}
