package kit

const KeyCluster = "cluster/cluster"

const KeyExecRole = "cluster/execution-role"

const KeyTaskRole = "cluster/task-role"

const KeyService = "cluster/service"

// KeyToCreate stands for the environment's key in a plan that creates it.
const KeyToCreate = "(the environment's key, to be created)"

const KeyAltTG = "cluster/tg-alternate"

const KeyListenerHTTPS = "edge/listener-https"

const KeyImageRepo = "image/repository"

const KeyImageBuild = "image/build"

const KeyEnvKey = "network/kms-key"

const KeyTopicKey = KeyEnvKey

const KeyALB = "network/alb"

const KeyListenerHTTP = "network/listener-http"

const SGALB = "alb"

const SGECS = "ecs"

func KeySG(role string) string { return "network/sg-" + role }

func KeySGRules(role string) string { return "network/sg-" + role + "-rules" }

func KeySubnet(public bool, index int) string {
	if public {
		return "network/subnet-public-" + AZLetters[index]
	}
	return "network/subnet-private-" + AZLetters[index]
}

const KeyTG = "network/tg"

// AZLetters name the AZs in keys: the first configured AZ is "a", whatever AWS calls it.
var AZLetters = []string{"a", "b", "c"}

const KeyVPC = "network/vpc"

const KeySecretAdmin = "secrets/admin"

// KeySecretRef is the key of the existing secret id names.
func KeySecretRef(id string) string { return "secrets/ref/" + id }
