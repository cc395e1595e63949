package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// lossyYAML turns on every part of the network, secrets, cluster, edge and observability
// phases that the emulator carries, so that every kind of create meets a lost answer.
const lossyYAML = `
edge:
  domain: lossy.example.com
alarms:
  email: [ops@example.com]
observability:
  cloudtrail: true
`

func lossyUpArgs() []string {
	return []string{"up", "--env", "prod", "--phases", "network,secrets,cluster,edge,observability", "--image", stackImage}
}

// TestLostAnswersLeaveNoDuplicateAndNoOrphan: with 15 % of the answers to writes lost after
// the emulator carried them out, the first up succeeds and leaves exactly what an up
// without faults leaves, and destroy then leaves nothing of the environment.
func TestLostAnswersLeaveNoDuplicateAndNoOrphan(t *testing.T) {
	c := newCLI(t)
	writeConfig(t, c, lossyYAML)
	mustRun(t, c, lossyUpArgs()...)
	want, wantKinds := takeInventory(t, "fastapi-vars", "prod"), countPerKind(taggedLeft(t, "fastapi-vars", "prod"))
	t.Logf("objects per kind without faults: %v", wantKinds)

	retried := 0
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			c := newCLI(t)
			writeConfig(t, c, lossyYAML)
			proxy := testenv.StartLossyProxy(t, moto.Endpoint, seed, 0.15, func(op string) bool { return awsclients.Call{Operation: op}.Mutating() })
			c.Env["AWS_ENDPOINT_URL"] = proxy.URL
			res := c.Run(t, append(lossyUpArgs(), "--timeout", "3m")...)
			t.Logf("answers lost: %v", proxy.Lost())
			if res.Code != 0 {
				t.Fatalf("up with lost answers: exit %d\n%s", res.Code, res.Stderr)
			}
			if got := takeInventory(t, "fastapi-vars", "prod"); got != want {
				t.Errorf("after up with lost answers:\n got %+v\nwant %+v", got, want)
			}
			if got := countPerKind(taggedLeft(t, "fastapi-vars", "prod")); !maps.Equal(got, wantKinds) {
				t.Errorf("objects per kind after up with lost answers:\n got %v\nwant %v", got, wantKinds)
			}
			retried += retriedWithTheSameToken(t, proxy.Writes())
			res = c.Run(t, "destroy", "--env", "prod", "--yes")
			if res.Code != 0 {
				t.Fatalf("destroy with lost answers: exit %d\n%s", res.Code, res.Stderr)
			}
			if left := taggedLeft(t, "fastapi-vars", "prod"); len(left) > 0 {
				t.Errorf("left behind after destroy: %v", left)
			}
		})
	}
	if retried == 0 {
		t.Error("no seed lost the answer to a create the SDK retries with its token: pick seeds that do")
	}
}

// tokenIn is the idempotency token a create carries (Secrets Manager's or ECS's).
var tokenIn = regexp.MustCompile(`"(?:ClientRequestToken|clientToken)":"([^"]+)"`)

// retriedWithTheSameToken checks that each create the SDK sent again after its answer was
// lost carried the first attempt's token, and returns how many such retries it saw.
func retriedWithTheSameToken(t *testing.T, writes []testenv.Write) int {
	t.Helper()
	seen := 0
	for i, w := range writes {
		if !w.Lost || (w.Op != "CreateSecret" && w.Op != "CreateService") {
			continue
		}
		first := tokenIn.FindStringSubmatch(w.Body)
		if first == nil {
			t.Errorf("%s sent without an idempotency token: %s", w.Op, w.Body)
			continue
		}
		for _, next := range writes[i+1:] {
			if next.Op == w.Op {
				seen++
				if again := tokenIn.FindStringSubmatch(next.Body); again == nil || again[1] != first[1] {
					t.Errorf("%s retried with token %v, first sent with %s", w.Op, again, first[1])
				}
				break
			}
		}
	}
	return seen
}

// TestFoundByNameIsAdoptedOnlyWhenOurs: an object that already has the name fvdeploy
// would give it is adopted when it carries this environment's ownership tags, and is
// refused, named and left as it is otherwise; duplicates carrying one key's tags are
// reduced to one.
func TestFoundByNameIsAdoptedOnlyWhenOurs(t *testing.T) {
	const role = "fastapi-vars-prod-task"
	ours := map[string]string{"fvdeploy:app": "fastapi-vars", "fvdeploy:env": "prod", "fvdeploy:key": "cluster/task-role"}
	devs := map[string]string{"fvdeploy:app": "fastapi-vars", "fvdeploy:env": "dev", "fvdeploy:key": "cluster/task-role"}
	for name, tc := range map[string]struct {
		setup   func(t *testing.T)
		wantErr string // "" means up succeeds
		check   func(t *testing.T, res testenv.Result, calls []tracedCall)
	}{
		"same name, our tags: adopted": {
			setup: func(t *testing.T) { createRole(t, role, ours) },
			check: func(t *testing.T, _ testenv.Result, calls []tracedCall) {
				roles := len(taggedLeft(t, "fastapi-vars", "prod")["iam:role"])
				if n := countCalls(calls, "CreateRole"); n != roles-1 {
					t.Errorf("%d CreateRole calls for %d roles, want %d: the task role adopted, not created", n, roles, roles-1)
				}
			},
		},
		"same name, no tags: refused": {
			setup:   func(t *testing.T) { createRole(t, role, nil) },
			wantErr: "IAM role " + role + " exists but fvdeploy did not create it",
		},
		"same name, another environment's tags: refused": {
			setup:   func(t *testing.T) { createRole(t, role, devs) },
			wantErr: "IAM role " + role + " exists but fvdeploy did not create it",
		},
		"two VPCs with the VPC's tags: one kept, the other deleted": {
			setup: func(t *testing.T) {
				vpcTags := map[string]string{"fvdeploy:app": "fastapi-vars", "fvdeploy:env": "prod", "fvdeploy:key": "network/vpc"}
				for range 2 {
					if _, err := testClients(t).EC2().CreateVpc(context.Background(), &ec2.CreateVpcInput{
						CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVpc, Tags: ec2Tags(vpcTags)}},
					}); err != nil {
						t.Fatal(err)
					}
				}
			},
			check: func(t *testing.T, res testenv.Result, _ []tracedCall) {
				if !strings.Contains(res.Stderr, "a duplicate carrying the same ownership tags") {
					t.Errorf("up did not say it deleted the duplicate VPC:\n%s", res.Stderr)
				}
				if got, want := takeInventory(t, "fastapi-vars", "prod"), wantProdStack(); got != want {
					t.Errorf("inventory:\n got %+v\nwant %+v", got, want)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			tc.setup(t)
			trace := filepath.Join(c.Dir, "calls")
			res := c.Run(t, upArgs("prod", "--trace-calls", trace)...)
			if tc.wantErr != "" {
				if res.Code != 1 || !strings.Contains(res.Stderr, tc.wantErr) {
					t.Fatalf("up: exit %d, want 1 naming the object (%q):\n%s", res.Code, tc.wantErr, res.Stderr)
				}
				out, err := testClients(t).IAM().GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(role)})
				if err != nil {
					t.Fatalf("the refused role is gone: %v", err)
				}
				if got := roleTags(out.Role.Tags); got["fvdeploy:env"] == "prod" {
					t.Errorf("the refused role was retagged: %v", got)
				}
				if _, recorded := stateResources(t, c, "prod")["cluster/task-role"]; recorded {
					t.Error("the refused role is in state")
				}
				return
			}
			if res.Code != 0 {
				t.Fatalf("up: exit %d\n%s", res.Code, res.Stderr)
			}
			tc.check(t, res, traced(t, trace))
		})
	}
}

func createRole(t *testing.T, name string, tags map[string]string) {
	t.Helper()
	var iamTags []iamtypes.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		iamTags = append(iamTags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := testClients(t).IAM().CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust), Tags: iamTags,
	}); err != nil {
		t.Fatal(err)
	}
}

func roleTags(tags []iamtypes.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func ec2Tags(tags map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func countPerKind(objects map[string][]string) map[string]int {
	out := map[string]int{}
	for kind, ids := range objects {
		out[kind] = len(ids)
	}
	return out
}

func countCalls(calls []tracedCall, op string) int {
	n := 0
	for _, c := range calls {
		if c.Operation == op {
			n++
		}
	}
	return n
}
