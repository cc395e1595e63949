package secrets_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// The admin secret's policy under a real evaluator: moto evaluates no IAM, so this test
// runs the secrets phase against ministack with AUTH=true, which applies identity and
// resource policies (Deny, ArnNotLike on aws:PrincipalArn) to every request. Two IAM
// users hold the same identity policy, secretsmanager:* on everything: the one running up
// (the deploying principal) keeps every right; the other, an administrator of the
// account in all but name, can no longer read, change or manage the secret, only
// describe it; the account root keeps every right.
//
// What ministack cannot show: it gives a role session's aws:PrincipalArn as the session
// ARN (arn:aws:sts::…:assumed-role/R/s), where AWS gives the role's ARN, so the execution
// role (and a deployer running as a role) are not exercised here; the unit test
// TestSecretPolicyDeniesAllButReadersAndManagers covers them with AWS's rule.
func TestSecretPolicyHoldsUnderAnIAMEvaluator(t *testing.T) {
	ctx := context.Background()
	ms, err := testenv.StartMinistack("AUTH=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Stop)
	cfg := func(key, secret string) aws.Config {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), BaseEndpoint: aws.String(ms.Endpoint)}
	}
	root := cfg("test", "test")
	admin := iam.NewFromConfig(root)
	users, keys := map[string]aws.Config{}, map[string][2]string{}
	for _, name := range []string{"deployer", "other-admin"} {
		if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("all-secrets"),
			PolicyDocument: aws.String(kit.PolicyDoc(kit.Stmt{Effect: "Allow", Action: []string{"secretsmanager:*", "sts:GetCallerIdentity"}, Resource: []string{"*"}}))}); err != nil {
			t.Fatal(err)
		}
		key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = [2]string{aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)}
		users[name] = cfg(keys[name][0], keys[name][1])
	}

	// up, as the deployer.
	t.Setenv("AWS_ENDPOINT_URL", ms.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", keys["deployer"][0])
	t.Setenv("AWS_SECRET_ACCESS_KEY", keys["deployer"][1])
	in, rec := phasetest.InputsBeside(t, "dev", nil)
	who, err := sts.NewFromConfig(users["deployer"]).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	in.Caller = aws.ToString(who.Arn)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "secrets")
	arn := aws.String(doc.Resources[kit.KeySecretAdmin].ARN)
	from := len(rec.Calls())
	phasetest.ApplyPhases(t, in, doc, "secrets")
	if m := phasetest.Mutations(rec, from); len(m) != 0 {
		t.Fatalf("the deployer's second run made %v", m)
	}

	type call struct {
		name string
		do   func(*secretsmanager.Client) error
	}
	calls := []call{
		{"GetSecretValue", func(c *secretsmanager.Client) error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: arn})
			return err
		}},
		{"PutSecretValue", func(c *secretsmanager.Client) error {
			cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: arn})
			if err != nil {
				cur = &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{}`)}
			}
			_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: arn, SecretString: cur.SecretString})
			return err
		}},
		{"PutResourcePolicy", func(c *secretsmanager.Client) error {
			_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: arn, ResourcePolicy: aws.String(kinds.SecretPolicy(in, kinds.AdminSecretAccess(in)))})
			return err
		}},
		{"TagResource", func(c *secretsmanager.Client) error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: arn, Tags: kit.SecretTags(in.Tags(kit.KeySecretAdmin))})
			return err
		}},
		{"DescribeSecret", func(c *secretsmanager.Client) error {
			_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: arn})
			return err
		}},
	}
	for _, tc := range []struct {
		who    string
		cfg    aws.Config
		denied map[string]bool
	}{
		{"deployer", users["deployer"], nil},
		{"account root", root, nil},
		{"other-admin", users["other-admin"], map[string]bool{"GetSecretValue": true, "PutSecretValue": true, "PutResourcePolicy": true, "TagResource": true}},
	} {
		c := secretsmanager.NewFromConfig(tc.cfg)
		for _, cl := range calls {
			err := cl.do(c)
			var ae smithy.APIError
			isDenied := errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException"
			if err != nil && !isDenied {
				t.Fatalf("%s %s: %v", tc.who, cl.name, err)
			}
			if isDenied != tc.denied[cl.name] {
				t.Errorf("%s %s: denied %v, want %v", tc.who, cl.name, isDenied, tc.denied[cl.name])
			}
		}
	}
}
