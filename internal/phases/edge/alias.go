package edge

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// aliasRecords are the domain's A and AAAA records, aliases of the ALB with target
// health evaluated, so that Route 53 stops answering with a load balancer that has no
// healthy target. The AAAA answers only once the ALB is dualstack; having it already
// means switching the ALB's address type needs no DNS change.
type aliasRecords struct {
	in  *kit.Inputs
	api recordsAPI
}

func (r *aliasRecords) Key() string         { return KeyDNS }
func (r *aliasRecords) Type() string        { return "route53:alias-records" }
func (r *aliasRecords) DependsOn() []string { return []string{KeyZone, kit.KeyALB} }

var aliasTypes = []r53types.RRType{r53types.RRTypeA, r53types.RRTypeAaaa}

// aliasTarget is what the records point at; AWS advises the "dualstack." name of an ALB
// for aliases.
func aliasTarget(lb *state.Resource) r53types.AliasTarget {
	return r53types.AliasTarget{
		DNSName:              aws.String("dualstack." + DNSName(lb.Attrs["dns_name"])),
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
	return "alias " + DNSName(aws.ToString(a.DNSName)) + " (zone " + aws.ToString(a.HostedZoneId) + ", evaluate target health " + strconv.FormatBool(a.EvaluateTargetHealth) + ")"
}

// pointsAt reports whether a record aliases the load balancer, with or without
// "dualstack.", whatever its other settings.
func pointsAt(rr r53types.ResourceRecordSet, target string) bool {
	if rr.AliasTarget == nil {
		return false
	}
	strip := func(s string) string { return strings.TrimPrefix(DNSName(s), "dualstack.") }
	return strip(aws.ToString(rr.AliasTarget.DNSName)) == strip(target)
}

func (r *aliasRecords) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	zone, lb := deps.Get(KeyZone), deps.Get(kit.KeyALB)
	if zone == nil || lb == nil {
		return nil, nil
	}
	domain := DNSName(r.in.Config.Edge.Domain)
	sets, err := RecordSets(ctx, r.api, zone.ID, domain, aliasTypes...)
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	target := aliasTarget(lb)
	want := aliasString(r53types.ResourceRecordSet{AliasTarget: &target})
	found := &engine.Found{Record: r.Record(zone, target)}
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

func (r *aliasRecords) Record(zone *state.Resource, target r53types.AliasTarget) state.Resource {
	return state.Resource{ID: DNSName(r.in.Config.Edge.Domain), Attrs: map[string]string{"zone_id": zone.ID, "target": aws.ToString(target.DNSName)}}
}

func (r *aliasRecords) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	zone, lb := deps.Get(KeyZone), deps.Get(kit.KeyALB)
	target := aliasTarget(lb)
	domain := DNSName(r.in.Config.Edge.Domain)
	var changes []r53types.Change
	for _, t := range aliasTypes {
		changes = append(changes, r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(domain), Type: t, AliasTarget: &target,
		}})
	}
	info, err := changeRecords(ctx, r.api, zone.ID, domain+" to the load balancer of "+r.in.Prefix(), changes)
	if err != nil {
		return nil, err
	}
	// Waiting for the change to reach every Route 53 server means the URL works when up
	// returns (moto says INSYNC at once).
	err = r.in.WaitFor(ctx, "the records of "+domain+" to propagate", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.GetChange(ctx, &route53.GetChangeInput{Id: info.Id})
		if err != nil {
			return false, "", err
		}
		return out.ChangeInfo.Status == r53types.ChangeStatusInsync, string(out.ChangeInfo.Status), nil
	})
	if err != nil {
		return nil, err
	}
	rec := r.Record(zone, target)
	return &rec, nil
}

func (r *aliasRecords) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete removes the domain's A and AAAA records that still alias the load balancer
// they were written for.
func (r *aliasRecords) Delete(ctx context.Context, rec *state.Resource) error {
	zone := rec.Attrs["zone_id"]
	sets, err := RecordSets(ctx, r.api, zone, rec.ID, aliasTypes...)
	if R53NotFound(err) {
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
	_, err = changeRecords(ctx, r.api, zone, rec.ID+" of "+r.in.Prefix()+" removed", changes)
	return err
}
