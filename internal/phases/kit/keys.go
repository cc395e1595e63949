package kit

// The keys of the resources another phase depends on: what one phase reads of another
// comes from the engine's record under one of these. A key only its own phase uses stays
// in that phase.

// The network phase's.
const (
	KeyEnvKey       = "network/kms-key"
	KeyVPC          = "network/vpc"
	KeyALB          = "network/alb"
	KeyTG           = "network/tg"
	KeyListenerHTTP = "network/listener-http"
)

// KeyTopicKey is the key the alarm topic is encrypted with: the environment's.
const KeyTopicKey = KeyEnvKey

// KeyToCreate stands for the environment's key in a plan that creates it.
const KeyToCreate = "(the environment's key, to be created)"

// The roles of the two security groups, for KeySG and KeySGRules.
const (
	SGALB = "alb"
	SGECS = "ecs"
)

func KeySG(role string) string { return "network/sg-" + role }

func KeySGRules(role string) string { return "network/sg-" + role + "-rules" }

func KeySubnet(public bool, index int) string {
	if public {
		return "network/subnet-public-" + AZLetters[index]
	}
	return "network/subnet-private-" + AZLetters[index]
}

// AZLetters name the AZs in keys: the first configured AZ is "a", whatever AWS calls it.
var AZLetters = []string{"a", "b", "c"}

// The secrets phase's.
const KeySecretAdmin = "secrets/admin"

// KeySecretRef is the key of the existing secret id names.
func KeySecretRef(id string) string { return "secrets/ref/" + id }

// The image phase's.
const (
	KeyImageRepo  = "image/repository"
	KeyImageBuild = "image/build"
)

// The cluster phase's.
const (
	KeyCluster  = "cluster/cluster"
	KeyExecRole = "cluster/execution-role"
	KeyTaskRole = "cluster/task-role"
	KeyService  = "cluster/service"
	KeyAltTG    = "cluster/tg-alternate"
)

// The edge phase's.
const KeyListenerHTTPS = "edge/listener-https"
