package edge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// certRecords are the CNAMEs ACM validates the certificate with, written into the zone.
// The same name gets the same CNAME for every certificate of the account, so one that
// was already there may serve another certificate: only the records this resource wrote
// are recorded as owned, and Delete removes only those.
type certRecords struct {
	in  *kit.Inputs
	api recordsAPI
}

func (r *certRecords) Key() string         { return KeyCertRecords }
func (r *certRecords) Type() string        { return "route53:validation-records" }
func (r *certRecords) DependsOn() []string { return []string{KeyZone, KeyCertificate} }

const validationTTL = 300

func (r *certRecords) Desired(deps engine.Deps) (zone *state.Resource, want map[string]string, err error) {
	zone, cert := deps.Get(KeyZone), deps.Get(KeyCertificate)
	if zone == nil || cert == nil {
		return nil, nil, nil
	}
	want = DecodeRecords(cert.Attrs["validation"])
	for name := range want {
		if !inZone(name, zone.Attrs["name"]) {
			return nil, nil, fmt.Errorf("certificate validation record %s is outside hosted zone %s: every name in edge.domain and edge.sans must be in that zone", name, zone.Attrs["name"])
		}
	}
	return zone, want, nil
}

func (r *certRecords) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	zone, want, err := r.Desired(deps)
	if err != nil || zone == nil {
		return nil, err
	}
	owned := map[string]string{}
	if rec != nil && rec.Attrs["zone_id"] == zone.ID {
		owned = DecodeRecords(rec.Attrs["owned"])
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
		if DNSName(got) != DNSName(want[name]) {
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
		if got != "" && DNSName(got) == DNSName(owned[name]) {
			found.Changes = append(found.Changes, engine.Change{Field: "CNAME " + name, From: got, To: ""})
		} else {
			delete(owned, name)
		}
	}
	found.Record = state.Resource{ID: zone.ID, Attrs: map[string]string{"zone_id": zone.ID, "owned": EncodeRecords(owned)}}
	if rec == nil && present == 0 {
		return nil, nil
	}
	return found, nil
}

// value is the value of the CNAME called name, "" when there is none.
func (r *certRecords) value(ctx context.Context, zone, name string) (string, error) {
	sets, err := RecordSets(ctx, r.api, zone, name, r53types.RRTypeCname)
	if err != nil {
		return "", err
	}
	if rr, ok := sets[r53types.RRTypeCname]; ok && len(rr.ResourceRecords) == 1 {
		return aws.ToString(rr.ResourceRecords[0].Value), nil
	}
	return "", nil
}

func (r *certRecords) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	zone, want, err := r.Desired(deps)
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
	return r.write(ctx, found.Record.ID, DecodeRecords(found.Record.Attrs["owned"]), found.Changes)
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
	if _, err := changeRecords(ctx, r.api, zone, "certificate validation for "+r.in.Prefix(), changes); err != nil {
		return nil, err
	}
	return &state.Resource{ID: zone, Attrs: map[string]string{"zone_id": zone, "owned": EncodeRecords(owned)}}, nil
}

// Delete removes the CNAMEs this resource wrote that still hold the value it wrote.
func (r *certRecords) Delete(ctx context.Context, rec *state.Resource) error {
	zone := rec.Attrs["zone_id"]
	owned := DecodeRecords(rec.Attrs["owned"])
	var changes []r53types.Change
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		sets, err := RecordSets(ctx, r.api, zone, name, r53types.RRTypeCname)
		if R53NotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if rr, ok := sets[r53types.RRTypeCname]; ok && len(rr.ResourceRecords) == 1 && DNSName(aws.ToString(rr.ResourceRecords[0].Value)) == DNSName(owned[name]) {
			changes = append(changes, r53types.Change{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rr})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := changeRecords(ctx, r.api, zone, "certificate validation of "+r.in.Prefix()+" removed", changes)
	return err
}
