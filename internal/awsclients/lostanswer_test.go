package awsclients

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestDuplicatingCreatesAreNotRepeatedBlind: when the answer to a create that could make
// a second object is lost, the SDK does not send it again and the error says the outcome
// is unknown; a create that is safe to repeat (a duplicate fails by name) is still
// retried by the SDK, and a refusal (4xx) stays what it is.
func TestDuplicatingCreatesAreNotRepeatedBlind(t *testing.T) {
	for name, tc := range map[string]struct {
		call     func(ctx context.Context, c *ec2.Client) error
		status   int // 0: the connection is dropped without an answer
		requests int
		unknown  bool
	}{
		"CreateVpc, answer lost: sent once, outcome unknown": {
			call: func(ctx context.Context, c *ec2.Client) error {
				_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
				return err
			},
			requests: 1, unknown: true,
		},
		"AllocateAddress, 500: sent once, outcome unknown": {
			call: func(ctx context.Context, c *ec2.Client) error {
				_, err := c.AllocateAddress(ctx, &ec2.AllocateAddressInput{})
				return err
			},
			status: http.StatusInternalServerError, requests: 1, unknown: true,
		},
		"CreateVpc, 400: sent once, a plain refusal": {
			call: func(ctx context.Context, c *ec2.Client) error {
				_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
				return err
			},
			status: http.StatusBadRequest, requests: 1,
		},
		"ReplaceNetworkAclAssociation, answer lost: sent once, outcome unknown": {
			call: func(ctx context.Context, c *ec2.Client) error {
				_, err := c.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: aws.String("aclassoc-1"), NetworkAclId: aws.String("acl-1")})
				return err
			},
			requests: 1, unknown: true,
		},
		"CreateSecurityGroup, answer lost: the SDK retries": {
			call: func(ctx context.Context, c *ec2.Client) error {
				_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d")})
				return err
			},
			requests: 3,
		},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			requests := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				if tc.status != 0 {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(`<Response><Errors><Error><Code>Failure</Code><Message>m</Message></Error></Errors></Response>`))
					return
				}
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			}))
			defer srv.Close()
			t.Setenv("AWS_ENDPOINT_URL", srv.URL)
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			c, err := Load(context.Background(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			client := ec2.NewFromConfig(c.Config, func(o *ec2.Options) { o.RetryMaxAttempts = 3 })
			err = tc.call(context.Background(), client)
			var u *OutcomeUnknownError
			if err == nil || errors.As(err, &u) != tc.unknown {
				t.Errorf("error %v: outcome unknown %v, want %v", err, errors.As(err, &u), tc.unknown)
			}
			mu.Lock()
			defer mu.Unlock()
			if requests != tc.requests {
				t.Errorf("%d requests reached AWS, want %d", requests, tc.requests)
			}
		})
	}
}
