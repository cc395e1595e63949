package phases

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

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type recordsAPI interface {
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, opts ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, opts ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(ctx context.Context, in *route53.GetChangeInput, opts ...func(*route53.Options)) (*route53.GetChangeOutput, error)
}

// Route 53 records cannot be tagged: they are found by name and type, and state says
// which ones fvdeploy wrote.

// recordSets reads, in one call, the simple record sets named name whose type is one of
// types (sorted as Route 53 sorts them).
func recordSets(ctx context.Context, api recordsAPI, zone, name string, types ...r53types.RRType) (map[r53types.RRType]r53types.ResourceRecordSet, error) {
	out, err := api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: &zone, StartRecordName: aws.String(name), StartRecordType: types[0], MaxItems: aws.Int32(int32(len(types))),
	})
	if err != nil {
		return nil, fmt.Errorf("reading the %v records of %s in hosted zone %s: %w", types, name, zone, err)
	}
	sets := map[r53types.RRType]r53types.ResourceRecordSet{}
	for _, rr := range out.ResourceRecordSets {
		if dnsName(aws.ToString(rr.Name)) == dnsName(name) && slices.Contains(types, rr.Type) && rr.SetIdentifier == nil {
			sets[rr.Type] = rr
		}
	}
	return sets, nil
}

func changeRecords(ctx context.Context, api recordsAPI, zone, why string, changes []r53types.Change) (*r53types.ChangeInfo, error) {
	out, err := api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: &zone,
		ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String("fvdeploy: " + why), Changes: changes},
	})
	if err != nil {
		return nil, fmt.Errorf("changing records in hosted zone %s (%s): %w", zone, why, err)
	}
	return out.ChangeInfo, nil
}

// ---- certificate validation records ----

// certRecords are the CNAMEs ACM validates the certificate with, written into the zone.
// The same name gets the same CNAME for every certificate of the account, so one that
// was already there may serve another certificate: only the records this resource wrote
// are recorded as owned, and Delete removes only those.
type certRecords struct {
	in  *Inputs
	api recordsAPI
}

func (r *certRecords) Key() string         { return keyCertRecords }
func (r *certRecords) Type() string        { return "route53:validation-records" }
func (r *certRecords) DependsOn() []string { return []string{keyZone, keyCertificate} }

const validationTTL = 300

func (r *certRecords) desired(deps engine.Deps) (zone *state.Resource, want map[string]string, err error) {
	zone, cert := deps.Get(keyZone), deps.Get(keyCertificate)
	if zone == nil || cert == nil {
		return nil, nil, nil
	}
	want = decodeRecords(cert.Attrs["validation"])
	for name := range want {
		if !inZone(name, zone.Attrs["name"]) {
			return nil, nil, fmt.Errorf("certificate validation record %s is outside hosted zone %s: every name in edge.domain and edge.sans must be in that zone", name, zone.Attrs["name"])
		}
	}
	return zone, want, nil
}

func (r *certRecords) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	zone, want, err := r.desired(deps)
	if err != nil || zone == nil {
		return nil, err
	}
	owned := map[string]string{}
	if rec != nil && rec.Attrs["zone_id"] == zone.ID {
		owned = decodeRecords(rec.Attrs["owned"])
	}
	// Without state, records found in a zone fvdeploy created can only be its own; in
	// an adopted zone they may be someone else's.
	adopt := rec == nil && zone.Attrs["owned"] == "true"
	found := &engine.Found{}
	present := 0
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, err := r.value(ctx, zone.ID, name)
		if err != nil {
			return nil, err
		}
		if got != "" {
			present++
		}
		if dnsName(got) != dnsName(want[name]) {
			found.Changes = append(found.Changes, engine.Change{Field: "CNAME " + name, From: got, To: want[name]})
		} else if adopt {
			owned[name] = got
		}
	}
	// Names the certificate no longer has (its names changed): the records written for
	// them go, if they are still as written.
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		if _, ok := want[name]; ok {
			continue
		}
		got, err := r.value(ctx, zone.ID, name)
		if err != nil {
			return nil, err
		}
		if got != "" && dnsName(got) == dnsName(owned[name]) {
			found.Changes = append(found.Changes, engine.Change{Field: "CNAME " + name, From: got, To: ""})
		} else {
			delete(owned, name)
		}
	}
	found.Record = state.Resource{ID: zone.ID, Attrs: map[string]string{"zone_id": zone.ID, "owned": encodeRecords(owned)}}
	if rec == nil && present == 0 {
		return nil, nil
	}
	return found, nil
}

// value is the value of the CNAME called name, "" when there is none.
func (r *certRecords) value(ctx context.Context, zone, name string) (string, error) {
	sets, err := recordSets(ctx, r.api, zone, name, r53types.RRTypeCname)
	if err != nil {
		return "", err
	}
	if rr, ok := sets[r53types.RRTypeCname]; ok && len(rr.ResourceRecords) == 1 {
		return aws.ToString(rr.ResourceRecords[0].Value), nil
	}
	return "", nil
}

func (r *certRecords) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	zone, want, err := r.desired(deps)
	if err != nil {
		return nil, err
	}
	var changes []engine.Change
	for _, name := range slices.Sorted(maps.Keys(want)) {
		changes = append(changes, engine.Change{Field: "CNAME " + name, To: want[name]})
	}
	return r.write(ctx, zone.ID, map[string]string{}, changes)
}

func (r *certRecords) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	return r.write(ctx, found.Record.ID, decodeRecords(found.Record.Attrs["owned"]), found.Changes)
}

// write UPSERTs the CNAMEs that are missing or wrong and deletes the ones it wrote for
// names the certificate no longer has, in one atomic batch.
func (r *certRecords) write(ctx context.Context, zone string, owned map[string]string, diff []engine.Change) (*state.Resource, error) {
	var changes []r53types.Change
	for _, c := range diff {
		name, action, value := strings.TrimPrefix(c.Field, "CNAME "), r53types.ChangeActionUpsert, c.To
		if c.To == "" {
			action, value = r53types.ChangeActionDelete, c.From
			delete(owned, name)
		} else {
			owned[name] = c.To
		}
		changes = append(changes, r53types.Change{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(name), Type: r53types.RRTypeCname, TTL: aws.Int64(validationTTL),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}},
		}})
	}
	if _, err := changeRecords(ctx, r.api, zone, "certificate validation for "+r.in.prefix(), changes); err != nil {
		return nil, err
	}
	return &state.Resource{ID: zone, Attrs: map[string]string{"zone_id": zone, "owned": encodeRecords(owned)}}, nil
}

// Delete removes the CNAMEs this resource wrote that still hold the value it wrote.
func (r *certRecords) Delete(ctx context.Context, rec *state.Resource) error {
	zone := rec.Attrs["zone_id"]
	owned := decodeRecords(rec.Attrs["owned"])
	var changes []r53types.Change
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		sets, err := recordSets(ctx, r.api, zone, name, r53types.RRTypeCname)
		if r53NotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if rr, ok := sets[r53types.RRTypeCname]; ok && len(rr.ResourceRecords) == 1 && dnsName(aws.ToString(rr.ResourceRecords[0].Value)) == dnsName(owned[name]) {
			changes = append(changes, r53types.Change{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rr})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := changeRecords(ctx, r.api, zone, "certificate validation of "+r.in.prefix()+" removed", changes)
	return err
}

// ---- the domain's alias records ----

// aliasRecords are the domain's A and AAAA records, aliases of the ALB with target
// health evaluated, so that Route 53 stops answering with a load balancer that has no
// healthy target. The AAAA answers only once the ALB is dualstack; having it already
// means switching the ALB's address type needs no DNS change.
type aliasRecords struct {
	in  *Inputs
	api recordsAPI
}

func (r *aliasRecords) Key() string         { return keyDNS }
func (r *aliasRecords) Type() string        { return "route53:alias-records" }
func (r *aliasRecords) DependsOn() []string { return []string{keyZone, keyALB} }

var aliasTypes = []r53types.RRType{r53types.RRTypeA, r53types.RRTypeAaaa}

// aliasTarget is what the records point at; AWS advises the "dualstack." name of an ALB
// for aliases.
func aliasTarget(lb *state.Resource) r53types.AliasTarget {
	return r53types.AliasTarget{
		DNSName:              aws.String("dualstack." + dnsName(lb.Attrs["dns_name"])),
		HostedZoneId:         aws.String(lb.Attrs["zone_id"]),
		EvaluateTargetHealth: true,
	}
}

func aliasString(rr r53types.ResourceRecordSet) string {
	a := rr.AliasTarget
	if a == nil {
		var values []string
		for _, v := range rr.ResourceRecords {
			values = append(values, aws.ToString(v.Value))
		}
		return strings.Join(values, " ")
	}
	return "alias " + dnsName(aws.ToString(a.DNSName)) + " (zone " + aws.ToString(a.HostedZoneId) + ", evaluate target health " + strconv.FormatBool(a.EvaluateTargetHealth) + ")"
}

// pointsAt reports whether a record aliases the load balancer, with or without
// "dualstack.", whatever its other settings.
func pointsAt(rr r53types.ResourceRecordSet, target string) bool {
	if rr.AliasTarget == nil {
		return false
	}
	strip := func(s string) string { return strings.TrimPrefix(dnsName(s), "dualstack.") }
	return strip(aws.ToString(rr.AliasTarget.DNSName)) == strip(target)
}

func (r *aliasRecords) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	zone, lb := deps.Get(keyZone), deps.Get(keyALB)
	if zone == nil || lb == nil {
		return nil, nil
	}
	domain := dnsName(r.in.Config.Edge.Domain)
	sets, err := recordSets(ctx, r.api, zone.ID, domain, aliasTypes...)
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	target := aliasTarget(lb)
	want := aliasString(r53types.ResourceRecordSet{AliasTarget: &target})
	found := &engine.Found{Record: r.record(zone, target)}
	for _, t := range aliasTypes {
		rr, ok := sets[t]
		// Records that were there before fvdeploy are someone else's: reported, never
		// overwritten (and later deleted) by a first run.
		if ok && rec == nil && !pointsAt(rr, aws.ToString(target.DNSName)) {
			return nil, fmt.Errorf("%s already has an %s record (%s) that fvdeploy did not create: delete it, or choose another edge.domain", domain, t, aliasString(rr))
		}
		got := ""
		if ok {
			got = aliasString(rr)
		}
		if got != want {
			found.Changes = append(found.Changes, engine.Change{Field: string(t) + " " + domain, From: got, To: want})
		}
	}
	return found, nil
}

func (r *aliasRecords) record(zone *state.Resource, target r53types.AliasTarget) state.Resource {
	return state.Resource{ID: dnsName(r.in.Config.Edge.Domain), Attrs: map[string]string{"zone_id": zone.ID, "target": aws.ToString(target.DNSName)}}
}

func (r *aliasRecords) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	zone, lb := deps.Get(keyZone), deps.Get(keyALB)
	target := aliasTarget(lb)
	domain := dnsName(r.in.Config.Edge.Domain)
	var changes []r53types.Change
	for _, t := range aliasTypes {
		changes = append(changes, r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(domain), Type: t, AliasTarget: &target,
		}})
	}
	info, err := changeRecords(ctx, r.api, zone.ID, domain+" to the load balancer of "+r.in.prefix(), changes)
	if err != nil {
		return nil, err
	}
	// Waiting for the change to reach every Route 53 server means the URL works when up
	// returns (moto says INSYNC at once).
	err = r.in.waitFor(ctx, "the records of "+domain+" to propagate", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.GetChange(ctx, &route53.GetChangeInput{Id: info.Id})
		if err != nil {
			return false, "", err
		}
		return out.ChangeInfo.Status == r53types.ChangeStatusInsync, string(out.ChangeInfo.Status), nil
	})
	if err != nil {
		return nil, err
	}
	rec := r.record(zone, target)
	return &rec, nil
}

func (r *aliasRecords) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete removes the domain's A and AAAA records that still alias the load balancer
// they were written for.
func (r *aliasRecords) Delete(ctx context.Context, rec *state.Resource) error {
	zone := rec.Attrs["zone_id"]
	sets, err := recordSets(ctx, r.api, zone, rec.ID, aliasTypes...)
	if r53NotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var changes []r53types.Change
	for _, t := range aliasTypes {
		if rr, ok := sets[t]; ok && pointsAt(rr, rec.Attrs["target"]) {
			changes = append(changes, r53types.Change{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rr})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err = changeRecords(ctx, r.api, zone, rec.ID+" of "+r.in.prefix()+" removed", changes)
	return err
}
