package network

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type routeTableAPI interface {
	CreateRouteTable(ctx context.Context, in *ec2.CreateRouteTableInput, opts ...func(*ec2.Options)) (*ec2.CreateRouteTableOutput, error)
	DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, opts ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	CreateRoute(ctx context.Context, in *ec2.CreateRouteInput, opts ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	ReplaceRoute(ctx context.Context, in *ec2.ReplaceRouteInput, opts ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	AssociateRouteTable(ctx context.Context, in *ec2.AssociateRouteTableInput, opts ...func(*ec2.Options)) (*ec2.AssociateRouteTableOutput, error)
	ReplaceRouteTableAssociation(ctx context.Context, in *ec2.ReplaceRouteTableAssociationInput, opts ...func(*ec2.Options)) (*ec2.ReplaceRouteTableAssociationOutput, error)
	DisassociateRouteTable(ctx context.Context, in *ec2.DisassociateRouteTableInput, opts ...func(*ec2.Options)) (*ec2.DisassociateRouteTableOutput, error)
	DeleteRouteTable(ctx context.Context, in *ec2.DeleteRouteTableInput, opts ...func(*ec2.Options)) (*ec2.DeleteRouteTableOutput, error)
}

// routeTable sends the default route of its subnets out: the public subnets' through the
// internet gateway, each private subnet's through the NAT gateway of its AZ (or the one
// shared NAT). The table owns its default route and its subnet associations.
type routeTable struct {
	in     *kit.Inputs
	api    routeTableAPI
	public bool
	index  int // the AZ of a private table
}

const (
	KeyRTPublic  = "network/rt-public"
	defaultRoute = "0.0.0.0/0"
)

func keyRTPrivate(index int) string { return "network/rt-private-" + kit.AZLetters[index] }

func (r *routeTable) Key() string {
	if r.public {
		return KeyRTPublic
	}
	return keyRTPrivate(r.index)
}

func (r *routeTable) Type() string { return "ec2:route-table" }

// natIndex is the AZ whose NAT gateway this private table routes through.
func (r *routeTable) natIndex() int {
	if r.in.Config.Network.NAT == config.NATPerAZ {
		return r.index
	}
	return 0
}

// target is the key of the gateway the default route goes to.
func (r *routeTable) target() string {
	if r.public {
		return KeyIGW
	}
	return keyNAT(r.natIndex())
}

func (r *routeTable) subnetKeys() []string {
	if !r.public {
		return []string{kit.KeySubnet(false, r.index)}
	}
	var keys []string
	for i := range r.in.Config.Network.AZCount {
		keys = append(keys, kit.KeySubnet(true, i))
	}
	return keys
}

func (r *routeTable) DependsOn() []string {
	return append([]string{kit.KeyVPC, r.target()}, r.subnetKeys()...)
}

// Desired resolves the gateway and subnet IDs from the dependencies; ok is false while
// any of them does not exist yet (in a plan).
func (r *routeTable) Desired(deps engine.Deps) (vpcID, target string, subnets []string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return "", "", nil, false
		}
	}
	for _, k := range r.subnetKeys() {
		subnets = append(subnets, deps.Get(k).ID)
	}
	return deps.Get(kit.KeyVPC).ID, deps.Get(r.target()).ID, subnets, true
}

func (r *routeTable) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpcID, target, subnets, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	t, extras, err := r.describe(ctx, kit.RecID(rec))
	if err != nil || t == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(t.RouteTableId)}, Extras: extras}
	if got := aws.ToString(t.VpcId); got != vpcID {
		found.Changes = []engine.Change{{Field: "vpc", From: got, To: vpcID}}
		found.Replace = true
		return found, nil
	}
	found.Changes = routeTableDiff(t, target, subnets).Changes(target)
	return found, nil
}

func (r *routeTable) describe(ctx context.Context, id string) (*ec2types.RouteTable, []state.Resource, error) {
	return kit.FindTagged(ctx, r.in, "route table", r.Key(), id, func(t ec2types.RouteTable) string { return aws.ToString(t.RouteTableId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.RouteTable, error) {
			out, err := r.api.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: ids, Filters: filters})
			if err != nil {
				return nil, err
			}
			return out.RouteTables, nil
		})
}

// routeTableDrift is what separates a live table from the desired one.
type routeTableDrift struct {
	route        string            // the default route's current target; "" when it has none
	associate    []string          // subnets to associate
	disassociate map[string]string // association ID -> subnet, of subnets that do not belong
}

func routeTableDiff(t *ec2types.RouteTable, target string, subnets []string) routeTableDrift {
	d := routeTableDrift{disassociate: map[string]string{}}
	for _, rt := range t.Routes {
		if aws.ToString(rt.DestinationCidrBlock) == defaultRoute {
			d.route = RouteTarget(rt)
		}
	}
	var have []string
	for _, a := range t.Associations {
		if aws.ToBool(a.Main) || a.SubnetId == nil || a.AssociationState != nil &&
			(a.AssociationState.State == ec2types.RouteTableAssociationStateCodeDisassociated || a.AssociationState.State == ec2types.RouteTableAssociationStateCodeDisassociating) {
			continue
		}
		if id := aws.ToString(a.SubnetId); slices.Contains(subnets, id) {
			have = append(have, id)
		} else {
			d.disassociate[aws.ToString(a.RouteTableAssociationId)] = id
		}
	}
	for _, s := range subnets {
		if !slices.Contains(have, s) {
			d.associate = append(d.associate, s)
		}
	}
	return d
}

func RouteTarget(rt ec2types.Route) string {
	for _, id := range []*string{rt.GatewayId, rt.NatGatewayId, rt.NetworkInterfaceId, rt.InstanceId, rt.TransitGatewayId, rt.VpcPeeringConnectionId} {
		if aws.ToString(id) != "" {
			return aws.ToString(id)
		}
	}
	return ""
}

func (d routeTableDrift) Changes(target string) []engine.Change {
	var out []engine.Change
	if d.route != target {
		out = append(out, engine.Change{Field: "route " + defaultRoute, From: d.route, To: target})
	}
	for _, s := range d.associate {
		out = append(out, engine.Change{Field: "association", To: s})
	}
	for _, id := range slices.Sorted(maps.Keys(d.disassociate)) {
		out = append(out, engine.Change{Field: "association", From: d.disassociate[id]})
	}
	return out
}

func (r *routeTable) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	vpcID, target, subnets, _ := r.Desired(deps)
	out, err := r.api.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{
		VpcId:             &vpcID,
		TagSpecifications: kit.EC2TagSpec(ec2types.ResourceTypeRouteTable, r.in.Tags(r.Key())),
		ClientToken:       aws.String(r.in.ClientToken(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating route table %s: %w", r.Key(), err)
	}
	if err := r.converge(ctx, out.RouteTable, target, subnets); err != nil {
		return nil, err
	}
	return &state.Resource{ID: aws.ToString(out.RouteTable.RouteTableId)}, nil
}

func (r *routeTable) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	_, target, subnets, _ := r.Desired(deps)
	t, _, err := r.describe(ctx, found.Record.ID)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("route table %s disappeared", found.Record.ID)
	}
	if err := r.converge(ctx, t, target, subnets); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// converge sets the default route and the subnet associations of t.
func (r *routeTable) converge(ctx context.Context, t *ec2types.RouteTable, target string, subnets []string) error {
	id := aws.ToString(t.RouteTableId)
	d := routeTableDiff(t, target, subnets)
	if d.route != target {
		if err := r.setDefaultRoute(ctx, id, target, d.route == ""); err != nil {
			return err
		}
	}
	for _, s := range d.associate {
		if err := r.associate(ctx, id, s); err != nil {
			return err
		}
	}
	for assoc, s := range d.disassociate {
		if _, err := r.api.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: &assoc}); err != nil && !kit.IsNotFound(err) {
			return fmt.Errorf("disassociating subnet %s from route table %s: %w", s, id, err)
		}
	}
	return nil
}

func (r *routeTable) setDefaultRoute(ctx context.Context, id, target string, create bool) error {
	var gw, natGW *string
	if r.public {
		gw = &target
	} else {
		natGW = &target
	}
	var err error
	if create {
		_, err = r.api.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: &id, DestinationCidrBlock: aws.String(defaultRoute), GatewayId: gw, NatGatewayId: natGW})
	}
	// There already: a retried create whose first answer was lost, or a route this table
	// was found with. Either way it is pointed where it must go.
	if !create || kit.ErrorCode(err) == "RouteAlreadyExists" {
		_, err = r.api.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: &id, DestinationCidrBlock: aws.String(defaultRoute), GatewayId: gw, NatGatewayId: natGW})
	}
	if err != nil {
		return fmt.Errorf("routing %s of route table %s to %s: %w", defaultRoute, id, target, err)
	}
	return nil
}

// associate puts the subnet on this table, taking it over from another table if needed:
// a subnet has exactly one.
func (r *routeTable) associate(ctx context.Context, id, subnetID string) error {
	_, err := r.api.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: &id, SubnetId: &subnetID})
	if kit.ErrorCode(err) == "Resource.AlreadyAssociated" {
		err = r.takeOver(ctx, id, subnetID)
	}
	if err != nil {
		return fmt.Errorf("associating subnet %s with route table %s: %w", subnetID, id, err)
	}
	return nil
}

func (r *routeTable) takeOver(ctx context.Context, id, subnetID string) error {
	out, err := r.api.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnetID}}}})
	if err != nil {
		return err
	}
	for _, t := range out.RouteTables {
		for _, a := range t.Associations {
			if aws.ToString(a.SubnetId) == subnetID {
				_, err := r.api.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: a.RouteTableAssociationId, RouteTableId: &id})
				return err
			}
		}
	}
	return fmt.Errorf("subnet %s is said to be associated but no route table lists it", subnetID)
}

// Delete disassociates the table's subnets, then deletes it with its routes.
func (r *routeTable) Delete(ctx context.Context, rec *state.Resource) error {
	out, err := r.api.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rec.ID}})
	if kit.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing route table %s: %w", rec.ID, err)
	}
	for _, t := range out.RouteTables {
		for _, a := range t.Associations {
			if aws.ToBool(a.Main) || a.RouteTableAssociationId == nil {
				continue
			}
			if _, err := r.api.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil && !kit.IsNotFound(err) {
				return fmt.Errorf("disassociating %s from route table %s: %w", aws.ToString(a.SubnetId), rec.ID, err)
			}
		}
	}
	return r.in.DeleteWaitingForDependents(ctx, "route table "+rec.ID, eniLinger, func(ctx context.Context) error {
		_, err := r.api.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: &rec.ID})
		return err
	})
}
