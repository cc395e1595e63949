package rotation

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
)

// Rotate rotates the password the way the secret is set up for: through Secrets Manager
// and the secret's rotation function when it has one (Follow, the same path as the
// schedule's: the function does both stages), else by fvdeploy itself (Run).
func Rotate(ctx context.Context, sm Managed, svc Service, t Target, opts Options) (*Result, error) {
	fn, err := RotatedBy(ctx, sm, t.Secret)
	if err != nil {
		return nil, err
	}
	if fn != "" {
		opts.say("secret %s rotates with Lambda function %s: rotating now through Secrets Manager", t.Secret, fn)
		return Follow(ctx, sm, svc, t, opts)
	}
	return Run(ctx, sm, svc, t, opts)
}

// The admin passwords fvdeploy makes, at up and at each rotation.
const (
	PasswordLength   = 32
	PasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// NewPassword returns PasswordLength characters drawn uniformly from PasswordAlphabet
// with crypto/rand (about 190 bits).
func NewPassword() (string, error) {
	b := make([]byte, PasswordLength)
	limit := big.NewInt(int64(len(PasswordAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("generating a password: %w", err)
		}
		b[i] = PasswordAlphabet[n.Int64()]
	}
	return string(b), nil
}

// ReadCommand is the command that shows the secret's value, which fvdeploy never prints.
func ReadCommand(secret, region string) string {
	return fmt.Sprintf("aws secretsmanager get-secret-value --secret-id %s --query SecretString --output text --region %s", secret, region)
}
