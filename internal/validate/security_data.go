package validate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/phases"
)

// secretName is a secret's name, read from its ARN without the "-" and six random
// characters AWS appends to it.
func secretName(arn string) string {
	_, name, ok := strings.Cut(arn, ":secret:")
	if !ok {
		return arn
	}
	if n := len(name); n > 7 && name[n-7] == '-' {
		return name[:n-7]
	}
	return name
}

func auditSecretPolicies(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: each secret fvdeploy created has a resource policy denying reads to every other principal"
	if len(d.Secrets) == 0 {
		return skip(name, "no secret created by fvdeploy in state")
	}
	var findings, names []string
	for _, arn := range d.Secrets {
		n := secretName(arn)
		names = append(names, n)
		out, err := api.Secrets.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(arn)})
		if err != nil {
			return fail(name, "check the credentials' secretsmanager:GetResourcePolicy permission, or run `fvdeploy up` if the secret was deleted", "reading the policy of %s: %v", n, err)
		}
		if out.ResourcePolicy == nil {
			findings = append(findings, n+" has no resource policy")
			continue
		}
		doc, err := parsePolicy(aws.ToString(out.ResourcePolicy))
		if err != nil {
			findings = append(findings, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		var exempt []string
		denies := false
		for _, s := range doc.Statement {
			if s.Effect == "Allow" && s.everyone() && len(s.Condition) == 0 {
				findings = append(findings, n+"'s policy allows every principal")
			}
			if s.Effect != "Deny" || !s.everyone() || !s.allows("secretsmanager:GetSecretValue") {
				continue
			}
			denies = true
			exempt = append(exempt, s.condition("aws:PrincipalArn", notOps...)...)
		}
		switch {
		case !denies:
			findings = append(findings, n+"'s policy denies secretsmanager:GetSecretValue to no one")
		case len(exempt) == 0:
			findings = append(findings, n+"'s policy denies reads to every principal, with no exception on aws:PrincipalArn (the service could not start)")
		case arn == d.Secret && d.ExecutionRoleARN != "" && !slices.ContainsFunc(exempt, func(p string) bool { return globMatch(p, d.ExecutionRoleARN) }):
			findings = append(findings, fmt.Sprintf("%s's policy denies reads to the execution role %s too (allowed: %s)", n, d.ExecutionRoleARN, strings.Join(exempt, ", ")))
		}
	}
	if len(findings) > 0 {
		return fail(name, "put a resource policy on each secret that denies secretsmanager:GetSecretValue to every principal but the one that reads it (and the deploy principal managing it): run `fvdeploy up`",
			"%s", strings.Join(findings, "; "))
	}
	return pass(name, "%s: reads denied to all but the allowed principals", strings.Join(names, ", "))
}

// rateExpr is a Secrets Manager schedule of the rate() form; cron() schedules are not
// read, as bounding their period would take a cron evaluator.
var rateExpr = regexp.MustCompile(`^rate\((\d+) (hours?|days?)\)$`)

// rotationDays is the rotation period in days, from the schedule or the day count.
func rotationDays(days *int64, expr string) (float64, bool) {
	if m := rateExpr.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
		n, _ := strconv.Atoi(m[1])
		if strings.HasPrefix(m[2], "hour") {
			return float64(n) / 24, true
		}
		return float64(n), true
	}
	if days != nil && *days > 0 {
		return float64(*days), true
	}
	return 0, false
}

func auditRotation(ctx context.Context, api SecurityAPIs, d phases.Deployed, maxDays int) Check {
	name := "security: the admin secret rotates automatically"
	if maxDays <= 0 {
		return skip(name, "rotation off in this environment (secrets.rotation_days is 0)")
	}
	name = fmt.Sprintf("security: the admin secret rotates automatically, at least every %d days", maxDays)
	if d.Secret == "" {
		return fail(name, "run `fvdeploy up`", "state records no admin secret")
	}
	n := secretName(d.Secret)
	out, err := api.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(d.Secret)})
	if err != nil {
		return fail(name, "check the credentials' secretsmanager:DescribeSecret permission", "describing %s: %v", n, err)
	}
	fix := fmt.Sprintf("secrets.rotation_days is %d: run `fvdeploy up` to turn rotation on with that schedule", maxDays)
	if !aws.ToBool(out.RotationEnabled) {
		return fail(name, fix, "%s has rotation off", n)
	}
	var days *int64
	expr := ""
	if r := out.RotationRules; r != nil {
		days, expr = r.AutomaticallyAfterDays, aws.ToString(r.ScheduleExpression)
	}
	every, ok := rotationDays(days, expr)
	switch {
	case !ok:
		return fail(name, fix, "%s rotates on %q, which this audit cannot bound (use rate(N days))", n, expr)
	case every > float64(maxDays):
		return fail(name, fix, "%s rotates every %g days (want at most %d)", n, every, maxDays)
	}
	return pass(name, "%s rotates every %g days with %s", n, every, functionName(aws.ToString(out.RotationLambdaARN)))
}

// functionName names the rotation function by its name, not its whole ARN.
func functionName(arn string) string {
	if arn == "" {
		return "no rotation function named"
	}
	return arn[strings.LastIndex(arn, ":")+1:]
}

// apiCode is an AWS error's code, "" for anything else.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func auditBuckets(ctx context.Context, api SecurityAPIs, d phases.Deployed) Check {
	const name = "security: buckets enforce owner, block public access, deny non-TLS, condition service principals, keep versions"
	if len(d.Buckets) == 0 {
		return skip(name, "no bucket in state (CloudTrail, ALB access logs, WAF logs and Config are off)")
	}
	var findings []string
	for _, b := range d.Buckets {
		fs, err := bucketFindings(ctx, api, b, d.Account)
		if err != nil {
			return fail(name, "check the credentials' s3:GetBucket* read permissions, or run `fvdeploy up` if the bucket was deleted", "%v", err)
		}
		findings = append(findings, fs...)
	}
	if len(findings) > 0 {
		return fail(name, "run `fvdeploy up` to restore the buckets' ownership controls, public access block, policy and versioning", "%s", strings.Join(findings, "; "))
	}
	return pass(name, "%s: BucketOwnerEnforced, public access blocked, TLS only, service principals conditioned, versioning on", strings.Join(d.Buckets, ", "))
}

// bucketFindings says what one bucket lacks; err is for a read that failed for another
// reason than the setting being absent.
func bucketFindings(ctx context.Context, api SecurityAPIs, b, account string) ([]string, error) {
	var out []string
	bucket := aws.String(b)
	oc, err := api.S3.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: bucket})
	switch {
	case apiCode(err) == "OwnershipControlsNotFoundError":
		out = append(out, b+" has no ownership controls")
	case err != nil:
		return nil, fmt.Errorf("reading the ownership controls of %s: %w", b, err)
	case oc.OwnershipControls == nil || len(oc.OwnershipControls.Rules) == 0 || oc.OwnershipControls.Rules[0].ObjectOwnership != s3types.ObjectOwnershipBucketOwnerEnforced:
		out = append(out, b+" does not enforce BucketOwnerEnforced")
	}
	pab, err := api.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	switch {
	case apiCode(err) == "NoSuchPublicAccessBlockConfiguration":
		out = append(out, b+" has no public access block")
	case err != nil:
		return nil, fmt.Errorf("reading the public access block of %s: %w", b, err)
	default:
		c := pab.PublicAccessBlockConfiguration
		if c == nil || !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.RestrictPublicBuckets) {
			out = append(out, b+"'s public access block is not all on")
		}
	}
	pol, err := api.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket})
	switch {
	case apiCode(err) == "NoSuchBucketPolicy":
		out = append(out, b+" has no policy (so nothing denies non-TLS requests)")
	case err != nil:
		return nil, fmt.Errorf("reading the policy of %s: %w", b, err)
	default:
		out = append(out, bucketPolicyFindings(b, aws.ToString(pol.Policy), account)...)
	}
	v, err := api.S3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: bucket})
	if err != nil {
		return nil, fmt.Errorf("reading the versioning of %s: %w", b, err)
	}
	if v.Status != s3types.BucketVersioningStatusEnabled {
		out = append(out, fmt.Sprintf("%s has versioning %s", b, cmp.Or(string(v.Status), "never enabled")))
	}
	return out, nil
}

func bucketPolicyFindings(b, raw, account string) []string {
	doc, err := parsePolicy(raw)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", b, err)}
	}
	var out []string
	tlsOnly := false
	for _, s := range doc.Statement {
		// The deny must cover reads and writes alike, not one action.
		if s.Effect == "Deny" && s.everyone() && s.allows("s3:GetObject") && s.allows("s3:PutObject") &&
			slices.ContainsFunc(s.condition("aws:SecureTransport", "Bool"), func(v string) bool { return strings.EqualFold(v, "false") }) {
			tlsOnly = true
		}
		services := s.principals("Service")
		if s.Effect != "Allow" || len(services) == 0 {
			continue
		}
		pinned := slices.Concat(s.condition("aws:SourceAccount", stringOps...), s.condition("aws:SourceArn", arnOps...))
		switch {
		case len(pinned) == 0:
			out = append(out, fmt.Sprintf("%s lets %s in without aws:SourceAccount or aws:SourceArn", b, strings.Join(services, ", ")))
		case slices.ContainsFunc(pinned, func(v string) bool { return v != account && !strings.Contains(v, ":"+account+":") }):
			out = append(out, fmt.Sprintf("%s lets %s in for %s, outside account %s", b, strings.Join(services, ", "), strings.Join(pinned, ", "), account))
		}
	}
	if !tlsOnly {
		out = append(out, b+"'s policy does not deny requests without TLS (aws:SecureTransport false)")
	}
	return out
}

func auditLogEncryption(ctx context.Context, api SecurityAPIs, d phases.Deployed, configuredKey string) Check {
	const name = "security: log groups and the CloudTrail trail are encrypted with the environment's KMS key"
	key := cmp.Or(configuredKey, d.KMSKey)
	if key == "" {
		return skip(name, "no KMS key configured (observability.kms_key_id) or created by fvdeploy")
	}
	if len(d.LogGroups) == 0 && d.Trail == "" {
		return skip(name, "no log group or trail in state")
	}
	var findings, seen []string
	for _, g := range d.LogGroups {
		kms, found, err := logGroupKey(ctx, api, g)
		if err != nil {
			return fail(name, "check the credentials' logs:DescribeLogGroups permission", "%v", err)
		}
		switch {
		case !found:
			findings = append(findings, "log group "+g+" not found")
		case kms == "":
			findings = append(findings, "log group "+g+" is not encrypted with a KMS key")
		default:
			seen = append(seen, g)
		}
	}
	if d.Trail != "" {
		out, err := api.CloudTrail.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(d.Trail)})
		switch {
		case err != nil:
			return fail(name, "check the credentials' cloudtrail:GetTrail permission, or run `fvdeploy up` if the trail was deleted", "reading trail %s: %v", d.Trail, err)
		case out.Trail == nil || aws.ToString(out.Trail.KmsKeyId) == "":
			findings = append(findings, "trail "+d.Trail+" has no KmsKeyId")
		default:
			seen = append(seen, "trail")
		}
	}
	if len(findings) > 0 {
		return fail(name, fmt.Sprintf("encrypt them with %s (its key policy must let CloudWatch Logs and CloudTrail use it): run `fvdeploy up`", key), "%s", strings.Join(findings, "; "))
	}
	return pass(name, "%s: encrypted with a KMS key", strings.Join(seen, ", "))
}

// logGroupKey reads one log group's KMS key ARN.
func logGroupKey(ctx context.Context, api SecurityAPIs, group string) (kms string, found bool, err error) {
	p := cloudwatchlogs.NewDescribeLogGroupsPaginator(api.Logs, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", false, fmt.Errorf("describing log group %s: %w", group, err)
		}
		for _, g := range page.LogGroups {
			if aws.ToString(g.LogGroupName) == group {
				return aws.ToString(g.KmsKeyId), true, nil
			}
		}
	}
	return "", false, nil
}
