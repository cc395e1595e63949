package edge

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

type recordsAPI interface {
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, opts ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, opts ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(ctx context.Context, in *route53.GetChangeInput, opts ...func(*route53.Options)) (*route53.GetChangeOutput, error)
}

// Route 53 records cannot be tagged: they are found by name and type, and state says
// which ones fvdeploy wrote.

// RecordSets reads, in one call, the simple record sets named name whose type is one of
// types (sorted as Route 53 sorts them).
func RecordSets(ctx context.Context, api recordsAPI, zone, name string, types ...r53types.RRType) (map[r53types.RRType]r53types.ResourceRecordSet, error) {
	out, err := api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: &zone, StartRecordName: aws.String(name), StartRecordType: types[0], MaxItems: aws.Int32(int32(len(types))),
	})
	if err != nil {
		return nil, fmt.Errorf("reading the %v records of %s in hosted zone %s: %w", types, name, zone, err)
	}
	sets := map[r53types.RRType]r53types.ResourceRecordSet{}
	for _, rr := range out.ResourceRecordSets {
		if DNSName(aws.ToString(rr.Name)) == DNSName(name) && slices.Contains(types, rr.Type) && rr.SetIdentifier == nil {
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
