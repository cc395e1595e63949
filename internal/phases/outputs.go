package phases

import (
	"maps"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Outputs are what a person or CI wants from a deployment (URL, ALB name, image,
// secret), derived from state so that they are always what was last deployed.
func Outputs(doc *state.Document) map[string]string {
	out := map[string]string{}
	maps.Copy(out, networkOutputs(doc))
	// With the edge deployed, people reach the service by its name, over TLS.
	if dns := doc.Resources[keyDNS]; dns != nil && doc.Resources[keyListenerHTTPS] != nil {
		out["url"] = "https://" + strings.TrimSuffix(dns.ID, ".")
	}
	if td := doc.Resources[keyTaskDef]; td != nil && td.Attrs["image"] != "" {
		out["image"] = td.Attrs["image"]
	}
	if b := doc.Resources[keyImageBuild]; b != nil {
		out["image_digest"] = b.Attrs["digest"]
	}
	if s := doc.Resources[keySecretAdmin]; s != nil {
		out["admin_secret"] = s.ID
	}
	if svc := doc.Resources[keyService]; svc != nil {
		out["service"] = svc.Attrs["cluster"] + "/" + svc.ID
	}
	// Where the web ACL's request logs land, for whoever queries them (Athena, say).
	if b := doc.Resources[keyWAFLogsBucket]; b != nil {
		out["waf_logs_bucket"] = b.ID
	}
	return out
}
