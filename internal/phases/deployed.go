package phases

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/observability"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Deployed names, from state, the objects that validate, status and logs look at, so
// that those commands need not know the phases' keys. An empty field means state holds
// no such object (its phase has not run, or the config does not declare it).
type Deployed struct {
	Cluster, Service string
	// TaskDefinition is the revision state records: the one the service must run.
	TaskDefinition string
	TargetGroup    string // ARN
	// AltTargetGroup is the traffic-shifting strategies' second group (ARN), which serves
	// the service after every other deployment; "" under rolling.
	AltTargetGroup string
	LoadBalancer   string // ARN
	ListenerHTTP   string // ARN
	ListenerHTTPS  string // ARN; set only when the edge put TLS in front
	VPC            string
	SGALB, SGECS   string
	LogGroup       string
	ExecutionRole  string // role name
	InlinePolicy   string // the name of fvdeploy's inline policy on its roles
	Secret         string // ARN
	Repository     string // ECR repository name
	URL            string

	// The sets validate --security audits, gathered by resource type so that a resource a
	// phase adds is audited without being named here. Each is sorted by state key.
	Account          string
	ExecutionRoleARN string
	Roles            []string // IAM role names
	PublicSubnets    []string // subnet IDs
	PrivateSubnets   []string // subnet IDs
	Secrets          []string // ARNs of the secrets fvdeploy created (not ones it only references)
	Buckets          []string // S3 bucket names
	LogGroups        []string // log group names
	KMSKey           string   // ARN of the key fvdeploy created, if any
	Trail            string   // CloudTrail trail ARN

	// What status and validate read the alarms' state from.
	Alarms     []string // CloudWatch alarm names
	AlarmTopic string   // SNS topic ARN
}

// DeployedObjects reads Deployed from a state document.
func DeployedObjects(doc *state.Document) Deployed {
	get := func(key string) *state.Resource {
		if r := doc.Resources[key]; r != nil {
			return r
		}
		return &state.Resource{Attrs: map[string]string{}}
	}
	svc := get(kit.KeyService)
	d := Deployed{
		Cluster: svc.Attrs["cluster"], Service: svc.ID,
		TaskDefinition: get(cluster.KeyTaskDef).ARN,
		TargetGroup:    get(kit.KeyTG).ARN,
		AltTargetGroup: get(kit.KeyAltTG).ARN,
		LoadBalancer:   get(kit.KeyALB).ARN,
		ListenerHTTP:   get(kit.KeyListenerHTTP).ARN,
		ListenerHTTPS:  get(kit.KeyListenerHTTPS).ARN,
		VPC:            get(kit.KeyVPC).ID,
		SGALB:          get(kit.KeySG(kit.SGALB)).ID,
		SGECS:          get(kit.KeySG(kit.SGECS)).ID,
		LogGroup:       get(cluster.KeyLogGroup).ID,
		ExecutionRole:  get(kit.KeyExecRole).ID,
		InlinePolicy:   kinds.InlinePolicyName,
		Secret:         get(kit.KeySecretAdmin).ARN,
		Repository:     get(kit.KeyImageRepo).ID,
		URL:            Outputs(doc)["url"],
		AlarmTopic:     get(observability.KeyTopic).ARN,

		Account:          doc.Account,
		ExecutionRoleARN: get(kit.KeyExecRole).ARN,
	}
	for _, key := range slices.Sorted(maps.Keys(doc.Resources)) {
		r := doc.Resources[key]
		switch r.Type {
		case "iam:role":
			d.Roles = append(d.Roles, r.ID)
		case "ec2:subnet":
			if strings.HasPrefix(key, "network/subnet-public-") {
				d.PublicSubnets = append(d.PublicSubnets, r.ID)
			} else {
				d.PrivateSubnets = append(d.PrivateSubnets, r.ID)
			}
		case "secretsmanager:secret", "secretsmanager:webhook-secret":
			d.Secrets = append(d.Secrets, r.ARN)
		case "s3:bucket":
			d.Buckets = append(d.Buckets, r.ID)
		case "logs:log-group":
			d.LogGroups = append(d.LogGroups, r.ID)
		case "kms:key":
			d.KMSKey = cmp.Or(r.ARN, r.ID)
		case "cloudtrail:trail":
			d.Trail = cmp.Or(r.ARN, r.ID)
		case observability.TypeAlarm:
			d.Alarms = append(d.Alarms, r.ID)
		}
	}
	return d
}

// AlarmCount is how many CloudWatch alarms the observability phase declares for cfg:
// the plan's cost estimate prices them.
func AlarmCount(cfg *config.Config) int {
	return len(observability.AlarmSpecs(&kit.Inputs{Config: cfg}))
}

// WAFRuleCount is how many rules the edge phase's web ACL holds.
func WAFRuleCount(cfg *config.Config) int {
	return len((&edge.WebACL{In: &kit.Inputs{Config: cfg}}).Rules())
}
