package phases

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// awsPartition is the ARN partition of a region: ARNs fvdeploy builds itself (a log
// group's, an ECR repository's) must name the right one outside the commercial regions.
func awsPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// boundedName keeps name within max characters. A longer one is cut and given a short
// hash of the whole, so that two long names that share a prefix stay distinct, and the
// same input always gives the same name (objects are found again by it).
func boundedName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	return strings.TrimRight(name[:max-len(suffix)], "-_.") + suffix
}
