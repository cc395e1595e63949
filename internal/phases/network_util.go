package phases

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/state"
)

// eniLinger bounds how long a delete waits for network interfaces left behind by NAT
// gateways, load balancers and tasks: AWS takes minutes to release them.
const eniLinger = 20 * time.Minute

// azLetters name the AZs in keys: the first configured AZ is "a", whatever AWS calls it.
var azLetters = []string{"a", "b", "c"}

// findEC2 looks an object up by the ID recorded in state, then, when state has none or
// that object is gone, by its fvdeploy tags (what names the kind of object in errors).
// Several objects with the tags of one key are duplicates a lost answer left: the one
// with the lowest ID is kept, and the others come back as extras (records for Delete),
// which the engine removes.
func findEC2[T any](ctx context.Context, what, key, id string, idOf func(T) string,
	byID func(ctx context.Context, id string) ([]T, error),
	byTags func(ctx context.Context) ([]T, error),
) (*T, []state.Resource, error) {
	if id != "" {
		items, err := byID(ctx, id)
		if err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("describing %s %s: %w", what, id, err)
		}
		if err == nil && len(items) == 1 {
			return &items[0], nil, nil
		}
	}
	items, err := byTags(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("looking up the %s of %s by its tags: %w", what, key, err)
	}
	if len(items) == 0 {
		return nil, nil, nil
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(idOf(a), idOf(b)) })
	var extras []state.Resource
	for _, x := range items[1:] {
		extras = append(extras, state.Resource{ID: idOf(x)})
	}
	return &items[0], extras, nil
}

type azAPI interface {
	DescribeAvailabilityZones(ctx context.Context, in *ec2.DescribeAvailabilityZonesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
}

// availabilityZones are the region's available standard AZs (no Local or Wavelength
// Zones), sorted by name, so that "a", "b", "c" name the same AZs on every run.
func availabilityZones(ctx context.Context, in *Inputs, api azAPI) ([]string, error) {
	azs, err := remember(in, "azs", func() ([]string, error) {
		out, err := api.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []ec2types.Filter{
			{Name: aws.String("state"), Values: []string{"available"}},
			{Name: aws.String("zone-type"), Values: []string{"availability-zone"}},
		}})
		if err != nil {
			return nil, fmt.Errorf("listing the availability zones of %s: %w", in.Region, err)
		}
		var names []string
		for _, z := range out.AvailabilityZones {
			names = append(names, aws.ToString(z.ZoneName))
		}
		slices.Sort(names)
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	if n := in.Config.Network.AZCount; len(azs) < n {
		return nil, fmt.Errorf("network.az_count is %d but %s has only %d available availability zones (%v)", n, in.Region, len(azs), azs)
	}
	return azs, nil
}

// subnetCIDR is block n of the VPC CIDR cut into sixteen (prefix length + 4: a /16 gives
// /20s), leaving room for a third AZ and later subnets.
func subnetCIDR(vpcCIDR string, n int) (string, error) {
	p, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !p.Addr().Is4() {
		return "", fmt.Errorf("VPC CIDR %q is not an IPv4 block", vpcCIDR)
	}
	bits := p.Bits() + 4
	if bits > 28 || n < 0 || n >= 16 {
		return "", fmt.Errorf("VPC CIDR %s has no subnet block %d of /%d", vpcCIDR, n, bits)
	}
	a := p.Masked().Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(n)<<(32-bits))
	return netip.PrefixFrom(netip.AddrFrom4(a), bits).String(), nil
}

// inUseAs makes the codes by which one API says "still in use" read as ResourceInUse, so
// that retryWhileInUse waits them out like the common ones.
func inUseAs(err error, codes ...string) error {
	if err != nil && slices.Contains(codes, errorCode(err)) {
		return &stillInUse{err}
	}
	return err
}

type stillInUse struct{ error }

func (e *stillInUse) ErrorCode() string             { return "ResourceInUse" }
func (e *stillInUse) ErrorMessage() string          { return e.error.Error() }
func (e *stillInUse) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }
func (e *stillInUse) Unwrap() error                 { return e.error }

type elbTagsAPI interface {
	DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
}

// elbOwned checks that a load balancer object found by name carries key's ownership
// tags: names are unique per account and region, so one fvdeploy did not create must be
// reported, never adopted.
func elbOwned(ctx context.Context, in *Inputs, api elbTagsAPI, what, arn, key string) error {
	out, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	if err != nil {
		return fmt.Errorf("reading the tags of %s: %w", arn, err)
	}
	got := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			got[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return in.claim(what, arn, key, got)
}

func elbTags(tags map[string]string) []elbtypes.Tag {
	return tagList(tags, func(k, v *string) elbtypes.Tag { return elbtypes.Tag{Key: k, Value: v} })
}

// recID is the ID state recorded, or "" when there is no record.
func recID(rec *state.Resource) string {
	if rec == nil {
		return ""
	}
	return rec.ID
}
