package phases

import (
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// The edge phase's keys.
const (
	keyZone          = "edge/zone"
	keyCertificate   = "edge/certificate"
	keyCertRecords   = "edge/cert-validation"
	keyListenerHTTPS = "edge/listener-https"
	keyDNS           = "edge/dns"
	keyWAFACL        = "edge/waf-acl"
	keyWAFAssoc      = "edge/waf-association"
	keyWAFLogsBucket = "edge/waf-logs-bucket"
	keyWAFLogging    = "edge/waf-logging"
)

// edgePhase says what the edge phase is.
func edgePhase() Phase {
	return Phase{Name: "edge", Summary: "Route53, ACM certificate, HTTPS listener (when a domain is set); WAF and its logs", Resources: declareEdge, EveryKind: edgeResources}
}

// declareEdge is the edge phase: with a domain, the zone that serves it, a DNS-validated
// certificate, the HTTPS listener and the domain's alias records; with WAF on, a web ACL
// on the ALB, and with WAF logs on too, its request logs to a bucket of their own.
// Neither configured means nothing is declared, so that the next `up` prunes whatever an
// earlier config created.
func declareEdge(in *Inputs) ([]engine.Resource, error) {
	e := in.Config.Edge
	var rs []engine.Resource
	for _, r := range edgeResources(in) {
		var on bool
		switch r.Key() {
		case keyWAFACL, keyWAFAssoc:
			on = e.WAF
		case keyWAFLogsBucket, keyWAFLogging:
			on = e.WAF && e.WAFLogs
		default:
			on = e.Domain != ""
		}
		if on {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// edgeResources are all the resources the edge phase can declare, whatever the config:
// their Delete needs only a state record, so they also delete what an earlier config
// created.
func edgeResources(in *Inputs) []engine.Resource {
	r53, acmc, elbc, waf := in.AWS.Route53(), in.AWS.ACM(), in.AWS.ELB(), in.AWS.WAF()
	return []engine.Resource{
		&hostedZone{in: in, api: r53},
		&certificate{in: in, api: acmc},
		&certRecords{in: in, api: r53},
		&listenerHTTPS{in: in, api: elbc, acm: acmc},
		&aliasRecords{in: in, api: r53},
		&webACL{in: in, api: waf},
		&webACLAssociation{in: in, api: waf},
		wafLogsBucket(in),
		&wafLogging{in: in, api: waf},
	}
}

// dnsName is name as Route 53 and ACM compare it: lowercase, without the final dot.
func dnsName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// inZone reports whether name is zone or below it.
func inZone(name, zone string) bool {
	name, zone = dnsName(name), dnsName(zone)
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// certNames are the names the certificate must cover: the domain and the SANs, sorted
// and without duplicates.
func certNames(in *Inputs) []string {
	names := []string{dnsName(in.Config.Edge.Domain)}
	for _, s := range in.Config.Edge.SANs {
		names = append(names, dnsName(s))
	}
	slices.Sort(names)
	return slices.Compact(names)
}
