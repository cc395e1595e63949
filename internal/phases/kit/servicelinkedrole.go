package kit

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

type ServiceLinkedRoleAPI interface {
	CreateServiceLinkedRole(ctx context.Context, in *iam.CreateServiceLinkedRoleInput, opts ...func(*iam.Options)) (*iam.CreateServiceLinkedRoleOutput, error)
}

// EnsureServiceLinkedRole creates the service-linked role of an AWS service (AWSServiceRoleForECS,
// which a brand-new account lacks until its first ECS service; AWSServiceRoleForConfig,
// which a recorder records with) once per run; one that exists already is fine.
func EnsureServiceLinkedRole(ctx context.Context, in *Inputs, api ServiceLinkedRoleAPI, service, roleName string) error {
	_, err := Remember(in, "service-linked-role "+service, func() (bool, error) {
		_, err := api.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String(service)})
		if err == nil || ErrorCode(err) == "EntityAlreadyExists" ||
			ErrorCode(err) == "InvalidInput" && (strings.Contains(err.Error(), "has been taken") || strings.Contains(err.Error(), "already exists")) {
			return true, nil
		}
		return false, fmt.Errorf("creating the service-linked role %s: %w", roleName, err)
	})
	return err
}
