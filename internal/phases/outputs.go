package phases

import (
	"maps"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/phases/cluster"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Outputs are what a person or CI wants from a deployment (URL, ALB name, image,
// secret), derived from state so that they are always what was last deployed.
func Outputs(doc *state.Document) map[string]string {
	out := map[string]string{}
	maps.Copy(out, network.NetworkOutputs(doc))
	// With the edge deployed, people reach the service by its name, over TLS.
	if dns := doc.Resources[edge.KeyDNS]; dns != nil && doc.Resources[kit.KeyListenerHTTPS] != nil {
		out["url"] = "https://" + strings.TrimSuffix(dns.ID, ".")
	}
	if td := doc.Resources[cluster.KeyTaskDef]; td != nil && td.Attrs["image"] != "" {
		out["image"] = td.Attrs["image"]
	}
	if b := doc.Resources[kit.KeyImageBuild]; b != nil {
		out["image_digest"] = b.Attrs["digest"]
	}
	if s := doc.Resources[kit.KeySecretAdmin]; s != nil {
		out["admin_secret"] = s.ID
	}
	if svc := doc.Resources[kit.KeyService]; svc != nil {
		out["service"] = svc.Attrs["cluster"] + "/" + svc.ID
	}
	// Where the web ACL's request logs land, for whoever queries them (Athena, say).
	if b := doc.Resources[edge.KeyWAFLogsBucket]; b != nil {
		out["waf_logs_bucket"] = b.ID
	}
	return out
}
