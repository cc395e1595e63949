package rotation

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// unmanagedSecret is a secret Secrets Manager does not rotate: asking it to would be wrong.
type unmanagedSecret struct{ *fakeSecret }

func (unmanagedSecret) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return &secretsmanager.DescribeSecretOutput{RotationEnabled: aws.Bool(false)}, nil
}

func (unmanagedSecret) RotateSecret(context.Context, *secretsmanager.RotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	panic("RotateSecret on a secret without rotation")
}

// Rotate has the rotation function do it when the secret has one, and does it itself
// (fvdeploy's own password) when it has none.
func TestRotateChoosesWhoRotates(t *testing.T) {
	m, e := newManaged(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":""}`)
	e.observe = func([]task) { m.deploymentsChanged() }
	var said []string
	o := opts("unused")
	o.Progress = func(f string, a ...any) { said = append(said, f) }
	if _, err := Rotate(context.Background(), m, e, target, o); err != nil {
		t.Fatal(err)
	}
	if m.rotations != 1 || !strings.Contains(said[0], "rotates with Lambda function") {
		t.Errorf("with a rotation function: %d rotations by it, first said %q", m.rotations, said[0])
	}

	s, e := newGround(`{"ADMIN_USER":"admin","ADMIN_PASS":"old","ADMIN_PASS_PREVIOUS":""}`)
	if _, err := Rotate(context.Background(), unmanagedSecret{s}, e, target, opts("new")); err != nil {
		t.Fatal(err)
	}
	if len(s.puts) != 2 || !strings.Contains(s.puts[1], `"ADMIN_PASS":"new"`) {
		t.Errorf("without a rotation function fvdeploy stored %q, want stage A and B of its own password", s.puts)
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		p, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 || strings.Trim(p, PasswordAlphabet) != "" || seen[p] {
			t.Fatalf("password %d chars, alphabet ok %v, repeated %v", len(p), strings.Trim(p, PasswordAlphabet) == "", seen[p])
		}
		seen[p] = true
	}
}
