// Package hostedzone finds the public Route 53 hosted zone that serves a domain: for the
// edge phase's zone resource, and for doctor, which checks it before up. It knows names
// and a narrow interface only, not fvdeploy's phases.
package hostedzone

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go"
)

// API is what finding a zone needs from Route 53.
type API interface {
	GetHostedZone(ctx context.Context, in *route53.GetHostedZoneInput, opts ...func(*route53.Options)) (*route53.GetHostedZoneOutput, error)
	ListHostedZonesByName(ctx context.Context, in *route53.ListHostedZonesByNameInput, opts ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
}

// Query names the zone to find.
type Query struct {
	// Domain is edge.domain; ZoneID is edge.zone_id, "" to look the zone up by name.
	Domain, ZoneID string
	// Recorded is the zone ID state records, "" for none.
	Recorded string
	// OwnerRef is the caller reference prefix of the zones fvdeploy created for the
	// environment: of several zones of one name, the environment's own settles it.
	OwnerRef string
}

// Locate finds the zone recorded in state, else the one q.ZoneID names, else the public
// zone with the longest name that the domain ends in. It returns nil when no zone serves
// the domain.
func Locate(ctx context.Context, api API, q Query) (*route53.GetHostedZoneOutput, error) {
	domain, explicit := dnsName(q.Domain), q.ZoneID
	if id := q.Recorded; id != "" {
		out, err := api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: &id})
		if err != nil && !notFound(err) {
			return nil, fmt.Errorf("describing hosted zone %s: %w", id, err)
		}
		if err == nil {
			name := dnsName(aws.ToString(out.HostedZone.Name))
			if !inZone(domain, name) || explicit != "" && explicit != id {
				// Moving the domain to another zone would orphan the records and the
				// certificate validation in this one: that takes a deliberate two-step.
				return nil, fmt.Errorf("edge.domain %s is not served by hosted zone %s (%s) that state records, or edge.zone_id names another: "+
					"to move the edge, remove edge.domain and run `fvdeploy up` (which removes the old domain's records and certificate), then configure the new one", domain, id, name)
			}
			return out, nil
		}
	}
	if explicit != "" {
		out, err := api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: &explicit})
		if err != nil {
			return nil, fmt.Errorf("describing hosted zone %s (edge.zone_id): %w", explicit, err)
		}
		z := out.HostedZone
		if name := dnsName(aws.ToString(z.Name)); !inZone(domain, name) || z.Config != nil && z.Config.PrivateZone {
			return nil, fmt.Errorf("edge.zone_id %s is the zone of %s (private: %v), which cannot serve %s publicly", explicit, name, z.Config != nil && z.Config.PrivateZone, domain)
		}
		return out, nil
	}
	labels := strings.Split(domain, ".")
	// Longest first, down to the registrable part: nobody has a zone for a TLD.
	for i := range len(labels) - 1 {
		name := strings.Join(labels[i:], ".")
		id, err := byName(ctx, api, q, name)
		if err != nil {
			return nil, err
		}
		if id == "" {
			continue
		}
		out, err := api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: &id})
		if err != nil {
			return nil, fmt.Errorf("describing hosted zone %s (%s): %w", id, name, err)
		}
		return out, nil
	}
	return nil, nil
}

// byName is the ID of the public zone called name, "" when there is none. Route 53
// allows several zones of one name; one of them being this environment's settles it.
func byName(ctx context.Context, api API, q Query, name string) (string, error) {
	out, err := api.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(10)})
	if err != nil {
		return "", fmt.Errorf("looking up the hosted zones named %s: %w", name, err)
	}
	var public, ours []string
	for _, z := range out.HostedZones {
		if dnsName(aws.ToString(z.Name)) != name || z.Config != nil && z.Config.PrivateZone {
			continue
		}
		public = append(public, zoneID(aws.ToString(z.Id)))
		if strings.HasPrefix(aws.ToString(z.CallerReference), q.OwnerRef) {
			ours = append(ours, zoneID(aws.ToString(z.Id)))
		}
	}
	switch {
	case len(ours) == 1:
		return ours[0], nil
	case len(public) <= 1 && len(ours) == 0:
		return strings.Join(public, ""), nil
	}
	return "", fmt.Errorf("%d public hosted zones are named %s (%s): set edge.zone_id to the one that serves %s", len(public), name, strings.Join(public, ", "), q.Domain)
}

// Zone is a hosted zone that serves the domain.
type Zone struct {
	ID, Name string
	Owned    bool // fvdeploy created it for this environment
}

// Find is the zone Locate finds, nil when there is none and the edge phase would create
// one.
func Find(ctx context.Context, api API, q Query) (*Zone, error) {
	out, err := Locate(ctx, api, q)
	if err != nil || out == nil {
		return nil, err
	}
	z := out.HostedZone
	return &Zone{ID: zoneID(aws.ToString(z.Id)), Name: dnsName(aws.ToString(z.Name)), Owned: strings.HasPrefix(aws.ToString(z.CallerReference), q.OwnerRef)}, nil
}

// dnsName is a DNS name as compared: lower case, without the root's dot.
func dnsName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// inZone reports whether name is zone or below it.
func inZone(name, zone string) bool {
	name, zone = dnsName(name), dnsName(zone)
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// zoneID is a zone's ID without the "/hostedzone/" that some answers put in front.
func zoneID(id string) string { return strings.TrimPrefix(id, "/hostedzone/") }

// notFound reports whether Route 53 says the zone does not exist.
func notFound(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.ErrorCode()
	return code == "NoSuchHostedZone" || code == "NotFound" || strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, ".NotFound")
}
