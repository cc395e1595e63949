package kit

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2TagSpec tags an EC2 object in the call that creates it, so that no crash can leave
// it untagged and therefore unfindable.
func EC2TagSpec(rt ec2types.ResourceType, tags map[string]string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: rt, Tags: ec2Tags(tags)}}
}

func ec2Tags(tags map[string]string) []ec2types.Tag {
	return TagList(tags, func(k, v *string) ec2types.Tag { return ec2types.Tag{Key: k, Value: v} })
}

func EC2TagMap(tags []ec2types.Tag) map[string]string {
	return TagMap(tags, func(t ec2types.Tag) (*string, *string) { return t.Key, t.Value })
}

// EC2TagFilters find the object carrying the key's fvdeploy tags.
func EC2TagFilters(tags map[string]string) []ec2types.Filter {
	var out []ec2types.Filter
	for _, k := range ownershipTags {
		out = append(out, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	return out
}
