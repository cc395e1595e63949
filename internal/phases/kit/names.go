package kit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/config"
)

// AWSPartition is the ARN partition of a region: ARNs fvdeploy builds itself (a log
// group's, an ECR repository's) must name the right one outside the commercial regions.
func AWSPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// BoundedName keeps name within max characters. A longer one is cut and given a short
// hash of the whole, so that two long names that share a prefix stay distinct, and the
// same input always gives the same name (objects are found again by it).
func BoundedName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	return strings.TrimRight(name[:max-len(suffix)], "-_.") + suffix
}

var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// ECRRepositoryARN is the ARN of the ECR repository an image URI points into
// (<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]), or "" when the image is
// not in this account's ECR (another registry needs no ECR permissions).
func ECRRepositoryARN(image, account string) string {
	host, path, ok := strings.Cut(image, "/")
	if !ok {
		return ""
	}
	m := ecrHost.FindStringSubmatch(host)
	if m == nil || m[1] != account {
		return ""
	}
	repo, _, _ := strings.Cut(path, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if repo == "" {
		return ""
	}
	partition := "aws"
	if m[3] != "" {
		partition = "aws-cn"
	} else if strings.HasPrefix(m[2], "us-gov-") {
		partition = "aws-us-gov"
	}
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, m[2], m[1], repo)
}

func LogGroupName(in *Inputs) string { return "/ecs/" + in.Prefix() }

// LogGroupARN is the group's ARN without the ":*" that DescribeLogGroups appends.
func LogGroupARN(in *Inputs, name string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", AWSPartition(in.Region), in.Region, in.Account, name)
}

// RotationOn says whether the admin secret rotates automatically.
func RotationOn(in *Inputs) bool { return in.Config.Secrets.RotationDays > 0 }

func RotationFunctionName(in *Inputs) string { return BoundedName(in.Prefix()+"-secret-rotation", 64) }

func RotationLogGroupName(in *Inputs) string { return "/aws/lambda/" + RotationFunctionName(in) }

// ShiftsTraffic reports whether the strategy moves traffic between two target groups.
func ShiftsTraffic(in *Inputs) bool { return in.Config.Deploy.Strategy != config.StrategyRolling }

func TaskFamily(in *Inputs) string { return in.Prefix() }

const Alarm5xxTarget = "alb-5xx-target"

const AlarmP95Latency = "alb-p95-latency"

// AlarmName is the CloudWatch name of this environment's alarm spec.
func AlarmName(in *Inputs, spec string) string { return in.Prefix() + "-" + spec }

// DeploymentAlarmNames are the CloudWatch names of the alarms that roll a deployment back.
func DeploymentAlarmNames(in *Inputs) []string {
	return []string{AlarmName(in, Alarm5xxTarget), AlarmName(in, AlarmP95Latency)}
}

func BucketARN(in *Inputs, name string) string {
	return fmt.Sprintf("arn:%s:s3:::%s", AWSPartition(in.Region), name)
}

func ChatRelayName(in *Inputs) string { return BoundedName(in.Prefix()+"-chat-relay", 64) }

func ChatRelayLogGroupName(in *Inputs) string { return "/aws/lambda/" + ChatRelayName(in) }

func TrailName(in *Inputs) string { return in.Prefix() + "-audit" }

func TrailARN(in *Inputs) string {
	return fmt.Sprintf("arn:%s:cloudtrail:%s:%s:trail/%s", AWSPartition(in.Region), in.Region, in.Account, TrailName(in))
}

const EnvAdminUser = "ADMIN_USER"

const EnvAdminPass = "ADMIN_PASS"

// EnvAdminPassPrevious is the password a rotation replaces, which the service still
// accepts until every task runs the new one; "" outside a rotation. The secret always
// carries the key: ECS refuses to start a task whose valueFrom names a missing one.
const EnvAdminPassPrevious = "ADMIN_PASS_PREVIOUS"

func AdminSecretName(in *Inputs) string { return in.Prefix() + "-admin" }

func RotationRoleName(in *Inputs) string { return BoundedName(in.Prefix()+"-secret-rotation", 64) }

// NamedSecrets are the existing secrets service.secrets names (name or ARN as given),
// sorted, each once.
func NamedSecrets(in *Inputs) []string {
	var ids []string
	for _, ref := range in.Config.Service.Secrets {
		if ref.Secret != "" && !slices.Contains(ids, ref.Secret) {
			ids = append(ids, ref.Secret)
		}
	}
	slices.Sort(ids)
	return ids
}

// SecretRefKeys are the keys of every named secret, for what depends on them.
func SecretRefKeys(in *Inputs) []string {
	var keys []string
	for _, id := range NamedSecrets(in) {
		keys = append(keys, KeySecretRef(id))
	}
	return keys
}
