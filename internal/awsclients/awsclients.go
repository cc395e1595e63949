// Package awsclients is the only place that builds AWS clients: one aws.Config from the
// SDK's default credential chain, and the service clients made from it.
package awsclients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/accessanalyzer"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingschemas "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/schemas"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// Options are what the user chose on the command line; empty means "the SDK's default".
type Options struct {
	Region  string
	Profile string
	// Version goes into the user agent as fvdeploy/<Version>.
	Version string
	// Recorder, when set, sees every API call made (see Recorder).
	Recorder *Recorder
	// Log receives the SDK's own log lines (level "warn" or "debug"), which it would
	// otherwise print on stderr in its own format; nil drops them.
	Log func(level, msg string)
}

// Clients holds one aws.Config and the service clients built from it.
type Clients struct {
	Config aws.Config
}

// ErrNoRegion means neither a flag, the environment nor the profile named a region.
var ErrNoRegion = errors.New("no AWS region: pass --region, set AWS_REGION, or set region in your AWS profile or fvdeploy.yaml")

// ErrNoCredentials means the SDK's default chain found no credentials.
var ErrNoCredentials = errors.New("none found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`)")

// Load resolves credentials and region through the SDK's default chain (environment,
// shared config and SSO profiles, web identity/OIDC, instance roles), with adaptive
// retries so that throttling slows fvdeploy down instead of failing it.
func Load(ctx context.Context, opts Options) (*Clients, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryMode(aws.RetryModeAdaptive),
		config.WithRetryMaxAttempts(10),
		config.WithLogger(sdkLogger(opts.Log)),
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(opts.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	cfg.APIOptions = append(cfg.APIOptions, awsmiddleware.AddUserAgentKeyValue("fvdeploy", version), markLostAnswers)
	if opts.Recorder != nil {
		cfg.APIOptions = append(cfg.APIOptions, opts.Recorder.middleware)
	}
	return &Clients{Config: cfg}, nil
}

// sdkLogger hands the SDK's log lines to log, so that they reach the user through
// fvdeploy's progress display (JSON events under --output json) instead of raw stderr.
func sdkLogger(log func(level, msg string)) logging.Logger {
	if log == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		log(strings.ToLower(string(c)), fmt.Sprintf(format, v...))
	})
}

// Identity is who the credentials belong to.
type Identity struct {
	Account string
	ARN     string
}

// Identity calls sts:GetCallerIdentity, turning the two common failures (no credentials,
// no route to the endpoint) into messages that say what to do.
func (c *Clients) Identity(ctx context.Context) (Identity, error) {
	// Few retries: this is the first call of every command, and a missing endpoint or
	// credential should be reported in seconds, not after the full backoff.
	out, err := c.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) { o.RetryMaxAttempts = 2 })
	if err != nil {
		return Identity{}, explainIdentityError(err)
	}
	return Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn)}, nil
}

func explainIdentityError(err error) error {
	var netErr net.Error
	var opErr *net.OpError
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to retrieve credentials"), strings.Contains(msg, "no EC2 IMDS role found"),
		strings.Contains(msg, "failed to refresh cached credentials"):
		return fmt.Errorf("checking AWS credentials: %w: %w", ErrNoCredentials, err)
	case errors.As(err, &opErr), errors.As(err, &netErr):
		return fmt.Errorf("checking AWS credentials: the STS endpoint is unreachable (check your network, or AWS_ENDPOINT_URL if you set it): %w", err)
	}
	return fmt.Errorf("checking AWS credentials with sts:GetCallerIdentity: %w", err)
}

// endpointOverridden reports whether this client talks to a custom endpoint (an emulator
// such as moto). The SDK has already resolved AWS_ENDPOINT_URL(_<SERVICE>) into
// BaseEndpoint when option functions run.
func endpointOverridden(base *string) bool { return base != nil && *base != "" }

// STS returns an STS client.
func (c *Clients) STS() *sts.Client { return sts.NewFromConfig(c.Config) }

// S3 returns an S3 client; emulators need path-style addressing.
func (c *Clients) S3() *s3.Client {
	return s3.NewFromConfig(c.Config, func(o *s3.Options) {
		// The SDK logs a DEBUG line on stderr for every object without a checksum, which
		// is noise in fvdeploy's output; state integrity comes from JSON decoding and ETags.
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpointOverridden(o.BaseEndpoint) {
			o.UsePathStyle = true
		}
	})
}

// CloudWatch returns a CloudWatch client. Current SDKs speak Smithy RPCv2-CBOR to it,
// which real AWS accepts and moto does not; behind an endpoint override the client falls
// back to the query protocol that both understand.
func (c *Clients) CloudWatch() *cloudwatch.Client {
	return cloudwatch.NewFromConfig(c.Config, func(o *cloudwatch.Options) {
		if endpointOverridden(o.BaseEndpoint) {
			o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
		}
	})
}

// Tagging returns a Resource Groups Tagging API client, with JSON 1.1 instead of
// RPCv2-CBOR behind an endpoint override, for the same reason as CloudWatch.
func (c *Clients) Tagging() *resourcegroupstaggingapi.Client {
	return resourcegroupstaggingapi.NewFromConfig(c.Config, func(o *resourcegroupstaggingapi.Options) {
		if endpointOverridden(o.BaseEndpoint) {
			o.Protocol = awsjson.New11(taggingschemas.ResourceGroupsTaggingAPI_20170126)
		}
	})
}

// EC2 returns an EC2 client (VPC, subnets, gateways, routes, security groups).
func (c *Clients) EC2() *ec2.Client { return ec2.NewFromConfig(c.Config) }

// ELB returns an Elastic Load Balancing v2 client (ALB, target groups, listeners).
func (c *Clients) ELB() *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.NewFromConfig(c.Config)
}

// SecretsManager returns a Secrets Manager client.
func (c *Clients) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(c.Config)
}

// IAM returns an IAM client.
func (c *Clients) IAM() *iam.Client { return iam.NewFromConfig(c.Config) }

// ECR returns an ECR client (the image repository and the registry token).
func (c *Clients) ECR() *ecr.Client { return ecr.NewFromConfig(c.Config) }

// ECS returns an ECS client.
func (c *Clients) ECS() *ecs.Client { return ecs.NewFromConfig(c.Config) }

// Logs returns a CloudWatch Logs client.
func (c *Clients) Logs() *cloudwatchlogs.Client { return cloudwatchlogs.NewFromConfig(c.Config) }

// AutoScaling returns an Application Auto Scaling client.
func (c *Clients) AutoScaling() *applicationautoscaling.Client {
	return applicationautoscaling.NewFromConfig(c.Config)
}

// Route53 returns a Route 53 client (hosted zones, records). Route 53 is global; the SDK
// signs for its partition's region whatever the configured one.
func (c *Clients) Route53() *route53.Client { return route53.NewFromConfig(c.Config) }

// ACM returns a Certificate Manager client, in the configured region: the ALB's
// certificate must live in the ALB's region.
func (c *Clients) ACM() *acm.Client { return acm.NewFromConfig(c.Config) }

// WAF returns a WAFv2 client (regional web ACLs for the ALB).
func (c *Clients) WAF() *wafv2.Client { return wafv2.NewFromConfig(c.Config) }

// SNS returns an SNS client (the alarm topic and its subscriptions).
func (c *Clients) SNS() *sns.Client { return sns.NewFromConfig(c.Config) }

// CloudTrail returns a CloudTrail client.
func (c *Clients) CloudTrail() *cloudtrail.Client { return cloudtrail.NewFromConfig(c.Config) }

// KMS returns a KMS client (the alarm topic's key).
func (c *Clients) KMS() *kms.Client { return kms.NewFromConfig(c.Config) }

// Lambda returns a Lambda client (the alarm relay to chat).
func (c *Clients) Lambda() *lambda.Client { return lambda.NewFromConfig(c.Config) }

// EventBridge returns an EventBridge client (the rule that ends a rotation's second stage).
func (c *Clients) EventBridge() *eventbridge.Client { return eventbridge.NewFromConfig(c.Config) }

// AccessAnalyzer returns an IAM Access Analyzer client (account guardrails).
func (c *Clients) AccessAnalyzer() *accessanalyzer.Client {
	return accessanalyzer.NewFromConfig(c.Config)
}

// ConfigService returns an AWS Config client (the account's configuration recorder).
func (c *Clients) ConfigService() *configservice.Client {
	return configservice.NewFromConfig(c.Config)
}
