// Package edge declares the edge phase: the Route 53 zone and records, the ACM
// certificate and its validation, the HTTPS listener, the WAF web ACL, its association
// and its logs.
package edge

import (
	"slices"
	"strings"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// The edge phase's keys.
const (
	KeyZone        = "edge/zone"
	KeyCertificate = "edge/certificate"
	KeyCertRecords = "edge/cert-validation"

	KeyDNS           = "edge/dns"
	KeyWAFACL        = "edge/waf-acl"
	KeyWAFAssoc      = "edge/waf-association"
	KeyWAFLogsBucket = "edge/waf-logs-bucket"
	KeyWAFLogging    = "edge/waf-logging"
)

// Phase says what the edge phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "edge", Summary: "Route53, ACM certificate, HTTPS listener (when a domain is set); WAF and its logs", Resources: declareEdge, EveryKind: Deleters}
}

// declareEdge is the edge phase: with a domain, the zone that serves it, a DNS-validated
// certificate, the HTTPS listener and the domain's alias records; with WAF on, a web ACL
// on the ALB, and with WAF logs on too, its request logs to a bucket of their own.
// Neither configured means nothing is declared, so that the next `up` prunes whatever an
// earlier config created.
func declareEdge(in *kit.Inputs) ([]engine.Resource, error) {
	e := in.Config.Edge
	var rs []engine.Resource
	for _, r := range Deleters(in) {
		var on bool
		switch r.Key() {
		case KeyWAFACL, KeyWAFAssoc:
			on = e.WAF
		case KeyWAFLogsBucket, KeyWAFLogging:
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

// Deleters are all the resources the edge phase can declare, whatever the config:
// their Delete needs only a state record, so they also delete what an earlier config
// created.
func Deleters(in *kit.Inputs) []engine.Resource {
	r53, acmc, elbc, waf := in.AWS.Route53(), in.AWS.ACM(), in.AWS.ELB(), in.AWS.WAF()
	return []engine.Resource{
		&HostedZone{In: in, api: r53},
		&certificate{in: in, api: acmc},
		&certRecords{in: in, api: r53},
		&listenerHTTPS{in: in, api: elbc, acm: acmc},
		&aliasRecords{in: in, api: r53},
		&WebACL{In: in, api: waf},
		&webACLAssociation{in: in, api: waf},
		wafLogsBucket(in),
		&wafLogging{in: in, api: waf},
	}
}

// DNSName is name as Route 53 and ACM compare it: lowercase, without the final dot.
func DNSName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// inZone reports whether name is zone or below it.
func inZone(name, zone string) bool {
	name, zone = DNSName(name), DNSName(zone)
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// certNames are the names the certificate must cover: the domain and the SANs, sorted
// and without duplicates.
func certNames(in *kit.Inputs) []string {
	names := []string{DNSName(in.Config.Edge.Domain)}
	for _, s := range in.Config.Edge.SANs {
		names = append(names, DNSName(s))
	}
	slices.Sort(names)
	return slices.Compact(names)
}
