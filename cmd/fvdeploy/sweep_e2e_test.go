package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// orphanEIP allocates an Elastic IP behind fvdeploy's back with the tags fvdeploy gives
// the resource key of env, as a create whose answer was lost leaves one.
func orphanEIP(t *testing.T, env, key string) string {
	t.Helper()
	out, err := testClients(t).EC2().AllocateAddress(context.Background(), &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeElasticIp, Tags: ec2TagList(engine.Tags("fastapi-vars", env, key))}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.AllocationId)
}

func ec2TagList(tags map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

// TestDestroySweepsOrphansOutsideState: after up, objects carrying prod's tags are made
// behind fvdeploy's back (an Elastic IP and a security group in prod's VPC, as retried
// creates whose first answers were lost would leave them) and one carrying dev's. destroy
// names prod's as found outside state, in its progress and its JSON, and deletes them
// with the rest; nothing tagged with prod is left, and dev keeps everything, its orphan
// included. With nothing in state, destroy still sweeps; with nothing found either, it
// says there is nothing to destroy.
func TestDestroySweepsOrphansOutsideState(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	mustRun(t, c, upArgs("prod")...)
	mustRun(t, c, upArgs("dev")...)

	prodLeft := taggedLeft(t, "fastapi-vars", "prod")
	for _, kind := range []string{"ec2:vpc", "ec2:subnet", "ec2:natgateway", "ec2:eip", "ec2:security-group", "elasticloadbalancing:loadbalancer",
		"elasticloadbalancing:targetgroup", "secretsmanager:secret", "ecs:cluster", "ecs:service", "ecs:task-definition", "logs:log-group",
		"iam:role", "application-autoscaling:scalable-target", "application-autoscaling:scaling-policy"} {
		if len(prodLeft[kind]) == 0 {
			t.Errorf("taggedLeft sees no %s after up; it sees %v", kind, prodLeft)
		}
	}

	e := testClients(t).EC2()
	vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:fvdeploy:env"), Values: []string{"prod"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("prod's VPC: %v %v", vpcs, err)
	}
	sg, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("fastapi-vars-prod-ecs-2"), Description: aws.String("lost answer"),
		VpcId: vpcs.Vpcs[0].VpcId, TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags: ec2TagList(engine.Tags("fastapi-vars", "prod", "network/sg-ecs"))}}})
	if err != nil {
		t.Fatal(err)
	}
	orphans := []string{orphanEIP(t, "prod", "network/eip-nat-a"), aws.ToString(sg.GroupId)}
	devOrphan := orphanEIP(t, "dev", "network/eip-nat-a")
	devBefore := taggedLeft(t, "fastapi-vars", "dev")

	res := mustRun(t, c, "destroy", "--env", "prod", "--yes", "--output", "json")
	for _, want := range []string{
		"found outside state: ec2:eip " + orphans[0] + " (fvdeploy:key network/eip-nat-a)",
		"found outside state: ec2:security-group " + orphans[1] + " (fvdeploy:key network/sg-ecs)",
	} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("destroy does not say %q:\n%s", want, res.Stderr)
		}
	}
	if strings.Contains(res.Stderr, devOrphan) {
		t.Errorf("destroy of prod names dev's Elastic IP %s:\n%s", devOrphan, res.Stderr)
	}
	var out struct {
		OutsideState []struct{ Key, Type, ID string } `json:"outside_state"`
		Resources    []engine.Item                    `json:"resources"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("destroy --output json: %v\n%s", err, res.Stdout)
	}
	var found []string
	for _, o := range out.OutsideState {
		found = append(found, o.Type+" "+o.ID)
	}
	slices.Sort(found)
	// The group's rules are revoked before any group goes: they count as found too.
	if want := []string{"ec2:eip " + orphans[0], "ec2:security-group " + orphans[1], "ec2:security-group-rules " + orphans[1]}; !slices.Equal(found, want) {
		t.Errorf("outside_state = %v, want %v", found, want)
	}
	for _, o := range out.OutsideState {
		if !slices.ContainsFunc(out.Resources, func(it engine.Item) bool { return it.Key == o.Key && it.Action == engine.Delete }) {
			t.Errorf("%s found outside state is not among the deleted resources", o.Key)
		}
	}

	if left := taggedLeft(t, "fastapi-vars", "prod"); len(left) != 0 {
		t.Errorf("tagged with prod after destroy: %v", left)
	}
	if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
		t.Errorf("left behind after destroy: %+v", got)
	}
	if devAfter := taggedLeft(t, "fastapi-vars", "dev"); !maps.EqualFunc(devBefore, devAfter, slices.Equal) {
		t.Errorf("destroying prod touched dev:\nbefore %v\n after %v", devBefore, devAfter)
	}

	// Nothing in state, one orphan in the account: destroy still finds it, lists it among
	// what the person at the terminal confirms, and deletes it.
	late := orphanEIP(t, "prod", "network/eip-nat-b")
	stderr := confirmedDestroy(t, c, "prod")
	if !strings.Contains(stderr, "found outside state: ec2:eip "+late) || strings.Contains(stderr, "Nothing to destroy") ||
		!strings.Contains(stderr, "This deletes 1 resources of fastapi-vars-prod") ||
		!strings.Contains(stderr, "  - network/eip-nat-b ("+late+") (ec2:eip, found outside state)") {
		t.Errorf("destroy with an empty state and an orphan:\n%s", stderr)
	}
	if left := taggedLeft(t, "fastapi-vars", "prod"); len(left) != 0 {
		t.Errorf("tagged with prod after the second destroy: %v", left)
	}
	res = mustRun(t, c, "destroy", "--env", "prod", "--yes")
	if !strings.Contains(res.Stderr, "Nothing to destroy") || strings.Contains(res.Stderr, "found outside state") {
		t.Errorf("destroy with nothing left:\n%s", res.Stderr)
	}
}
