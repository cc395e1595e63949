package edge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/hostedzone"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type zoneAPI interface {
	GetHostedZone(ctx context.Context, in *route53.GetHostedZoneInput, opts ...func(*route53.Options)) (*route53.GetHostedZoneOutput, error)
	ListHostedZonesByName(ctx context.Context, in *route53.ListHostedZonesByNameInput, opts ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
	CreateHostedZone(ctx context.Context, in *route53.CreateHostedZoneInput, opts ...func(*route53.Options)) (*route53.CreateHostedZoneOutput, error)
	ListTagsForResource(ctx context.Context, in *route53.ListTagsForResourceInput, opts ...func(*route53.Options)) (*route53.ListTagsForResourceOutput, error)
	ChangeTagsForResource(ctx context.Context, in *route53.ChangeTagsForResourceInput, opts ...func(*route53.Options)) (*route53.ChangeTagsForResourceOutput, error)
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, opts ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	DeleteHostedZone(ctx context.Context, in *route53.DeleteHostedZoneInput, opts ...func(*route53.Options)) (*route53.DeleteHostedZoneOutput, error)
}

// HostedZone is the public zone that serves the domain: the account's zone with the
// longest name the domain ends in (or edge.zone_id), adopted as it is; only when there is
// none does fvdeploy create one, for the domain itself. An adopted zone is recorded as
// not owned, and Delete leaves it: a zone holds other people's records.
type HostedZone struct {
	In  *kit.Inputs
	api zoneAPI
}

func (r *HostedZone) Key() string         { return KeyZone }
func (r *HostedZone) Type() string        { return "route53:hosted-zone" }
func (r *HostedZone) DependsOn() []string { return nil }

// CallerRefPrefix marks the zones fvdeploy created for this environment. A zone's caller
// reference is set by CreateHostedZone itself and never changes, so ownership survives a
// crash before tagging and cannot be edited away like a comment or a tag.
func (r *HostedZone) CallerRefPrefix() string { return "fvdeploy:" + r.In.Prefix() + ":" }

func R53NotFound(err error) bool {
	return kit.ErrorCode(err) == "NoSuchHostedZone" || kit.IsNotFound(err)
}

// ZoneID is a zone's ID without the "/hostedzone/" that some answers put in front.
func ZoneID(id string) string { return strings.TrimPrefix(id, "/hostedzone/") }

func (r *HostedZone) Record(z *r53types.HostedZone, ds *r53types.DelegationSet) state.Resource {
	var ns []string
	if ds != nil {
		ns = slices.Sorted(slices.Values(ds.NameServers))
	}
	owned := strings.HasPrefix(aws.ToString(z.CallerReference), r.CallerRefPrefix())
	return state.Resource{ID: ZoneID(aws.ToString(z.Id)), Attrs: map[string]string{
		"name":         DNSName(aws.ToString(z.Name)),
		"owned":        strconv.FormatBool(owned),
		"name_servers": strings.Join(ns, ","),
	}}
}

func (r *HostedZone) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	out, err := r.locate(ctx, rec)
	if err != nil || out == nil {
		return nil, err
	}
	found := &engine.Found{Record: r.Record(out.HostedZone, out.DelegationSet)}
	if found.Record.Attrs["owned"] != "true" {
		return found, nil
	}
	tags, err := r.api.ListTagsForResource(ctx, &route53.ListTagsForResourceInput{ResourceType: r53types.TagResourceTypeHostedzone, ResourceId: &found.Record.ID})
	if err != nil {
		return nil, fmt.Errorf("reading the tags of hosted zone %s: %w", found.Record.ID, err)
	}
	got := map[string]string{}
	if tags.ResourceTagSet != nil {
		for _, t := range tags.ResourceTagSet.Tags {
			got[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	want := r.In.Tags(KeyZone)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			found.Changes = append(found.Changes, engine.Change{Field: "tag " + k, From: got[k], To: want[k]})
		}
	}
	return found, nil
}

// locate finds the zone that serves the domain (hostedzone.Locate); nil when there is
// none.
func (r *HostedZone) locate(ctx context.Context, rec *state.Resource) (*route53.GetHostedZoneOutput, error) {
	return hostedzone.Locate(ctx, r.api, r.query(rec))
}

// query names the zone for edge.domain, rec the record of it in state.
func (r *HostedZone) query(rec *state.Resource) hostedzone.Query {
	return hostedzone.Query{Domain: r.In.Config.Edge.Domain, ZoneID: r.In.Config.Edge.ZoneID, Recorded: kit.RecID(rec), OwnerRef: r.CallerRefPrefix()}
}

// ZoneQuery names the hosted zone the edge phase would use for edge.domain (the one doc
// records, else edge.zone_id, else the longest public zone the domain ends in), for
// doctor to look it up.
func ZoneQuery(cfg *config.Config, doc *state.Document) hostedzone.Query {
	return (&HostedZone{In: &kit.Inputs{Config: cfg}}).query(doc.Resources[KeyZone])
}

func (r *HostedZone) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	domain := DNSName(r.In.Config.Edge.Domain)
	out, err := r.api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String(domain),
		// Unique per run, as Route 53 requires; the prefix marks the zone as ours.
		CallerReference:  aws.String(r.CallerRefPrefix() + r.In.ClientToken(KeyZone)),
		HostedZoneConfig: &r53types.HostedZoneConfig{Comment: aws.String("fvdeploy " + r.In.Prefix() + " (" + KeyZone + ")")},
	})
	if err != nil {
		return nil, fmt.Errorf("creating hosted zone %s: %w", domain, err)
	}
	rec := r.Record(out.HostedZone, out.DelegationSet)
	if err := r.tag(ctx, rec.ID); err != nil {
		return nil, err
	}
	r.In.Progress("created hosted zone %s (%s). Delegate it before the certificate can be issued: in the zone of the parent domain, "+
		"add an NS record for %s with %s", domain, rec.ID, domain, strings.ReplaceAll(rec.Attrs["name_servers"], ",", ", "))
	return &rec, nil
}

func (r *HostedZone) tag(ctx context.Context, id string) error {
	tags := kit.TagList(r.In.Tags(KeyZone), func(k, v *string) r53types.Tag { return r53types.Tag{Key: k, Value: v} })
	if _, err := r.api.ChangeTagsForResource(ctx, &route53.ChangeTagsForResourceInput{ResourceType: r53types.TagResourceTypeHostedzone, ResourceId: &id, AddTags: tags}); err != nil {
		return fmt.Errorf("tagging hosted zone %s: %w", id, err)
	}
	return nil
}

func (r *HostedZone) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.tag(ctx, found.Record.ID); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// Delete removes a zone only if fvdeploy created it and it holds nothing but its own NS
// and SOA records: the records fvdeploy wrote are gone by now (they depend on the zone),
// and anything else was put there by someone else.
func (r *HostedZone) Delete(ctx context.Context, rec *state.Resource) error {
	if rec.Attrs["owned"] != "true" {
		return nil
	}
	out, err := r.api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: &rec.ID})
	if R53NotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the records of hosted zone %s: %w", rec.ID, err)
	}
	var others []string
	for _, rr := range out.ResourceRecordSets {
		apex := DNSName(aws.ToString(rr.Name)) == rec.Attrs["name"]
		if !apex || rr.Type != r53types.RRTypeNs && rr.Type != r53types.RRTypeSoa {
			others = append(others, string(rr.Type)+" "+DNSName(aws.ToString(rr.Name)))
		}
	}
	if len(others) > 0 || out.IsTruncated {
		return fmt.Errorf("hosted zone %s (%s) still holds records fvdeploy did not create (%s): delete them and run fvdeploy again", rec.ID, rec.Attrs["name"], strings.Join(others, ", "))
	}
	if _, err := r.api.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: &rec.ID}); err != nil && !R53NotFound(err) {
		return fmt.Errorf("deleting hosted zone %s (%s): %w", rec.ID, rec.Attrs["name"], err)
	}
	return nil
}
