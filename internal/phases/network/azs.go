package network

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
)

// eniLinger bounds how long a delete waits for network interfaces left behind by NAT
// gateways, load balancers and tasks: AWS takes minutes to release them.
const eniLinger = 20 * time.Minute

type azAPI interface {
	DescribeAvailabilityZones(ctx context.Context, in *ec2.DescribeAvailabilityZonesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
}

// availabilityZones are the region's available standard AZs (no Local or Wavelength
// Zones), sorted by name, so that "a", "b", "c" name the same AZs on every run.
func availabilityZones(ctx context.Context, in *kit.Inputs, api azAPI) ([]string, error) {
	azs, err := kit.Remember(in, "azs", func() ([]string, error) {
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

// SubnetCIDR is block n of the VPC CIDR cut into sixteen (prefix length + 4: a /16 gives
// /20s), leaving room for a third AZ and later subnets.
func SubnetCIDR(vpcCIDR string, n int) (string, error) {
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
