package validate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

const tdARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-prod:7"

var deployed = phases.Deployed{Cluster: "app-prod", Service: "app-prod", TaskDefinition: tdARN, TargetGroup: "arn:tg"}

func task(id string) string { return "arn:aws:ecs:us-east-1:123456789012:task/app-prod/" + id }

func tasks(ids ...string) *ecs.ListTasksOutput {
	out := &ecs.ListTasksOutput{}
	for _, id := range ids {
		out.TaskArns = append(out.TaskArns, task(id))
	}
	return out
}

func service(running, desired int32, deployments ...ecstypes.Deployment) *ecs.DescribeServicesOutput {
	if deployments == nil {
		deployments = []ecstypes.Deployment{{Id: aws.String("ecs-svc/1"), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(tdARN), RunningCount: running}}
	}
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{ServiceName: aws.String("app-prod"), Status: aws.String("ACTIVE"),
		RunningCount: running, DesiredCount: desired, Deployments: deployments}}}
}

// health builds DescribeTargetHealth answers from "ip=state" pairs.
func health(pairs ...string) *elbv2.DescribeTargetHealthOutput {
	out := &elbv2.DescribeTargetHealthOutput{}
	for _, p := range pairs {
		ip, st, _ := strings.Cut(p, "=")
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbtypes.TargetHealthDescription{
			Target: &elbtypes.TargetDescription{Id: aws.String(ip), Port: aws.Int32(8000)}, TargetHealth: &elbtypes.TargetHealth{State: elbtypes.TargetHealthStateEnum(st)}})
	}
	return out
}

// fakeClock advances only when the code under test sleeps, so timing is exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

// The story of a stopped task, one poll (5 s) per step: ECS has not noticed yet; the
// task is gone and its target draining; a replacement starts, its target initial; the
// replacement is healthy. Recovery is measured from the StopTask to that last look.
func recoveryStory() map[string][]any {
	return map[string][]any{
		"ListTasks":        {tasks("a", "b"), tasks("a", "b"), tasks("b"), tasks("b", "c"), tasks("b", "c")},
		"StopTask":         {&ecs.StopTaskOutput{}},
		"DescribeServices": {service(2, 2), service(1, 2), service(1, 2), service(2, 2)},
		"DescribeTargetHealth": {health("10.0.0.1=healthy", "10.0.0.2=healthy"), health("10.0.0.1=draining", "10.0.0.2=healthy"),
			health("10.0.0.1=draining", "10.0.0.2=healthy", "10.0.0.3=initial"), health("10.0.0.1=draining", "10.0.0.2=healthy", "10.0.0.3=healthy")},
	}
}

func TestChaosMeasuresRecovery(t *testing.T) {
	s := testenv.NewSDKStub(t, recoveryStory())
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var waits []string
	c := Chaos(context.Background(), s.ECS(), s.ELB(), deployed, ChaosOptions{Timeout: time.Minute, Poll: 5 * time.Second,
		Now: clock.now, Sleep: clock.sleep, Wait: func(st string) { waits = append(waits, st) }})
	if !c.OK || c.Seconds != 15 {
		t.Fatalf("got ok=%v seconds=%v (%s), want recovery in exactly 15 s", c.OK, c.Seconds, c.Evidence)
	}
	stop := s.Calls("StopTask")
	if len(stop) != 1 {
		t.Fatalf("StopTask called %d times", len(stop))
	}
	in := stop[0].(*ecs.StopTaskInput)
	if aws.ToString(in.Task) != task("a") || aws.ToString(in.Reason) != StopReason || aws.ToString(in.Cluster) != "app-prod" {
		t.Errorf("StopTask(%s, %q, %s)", aws.ToString(in.Task), aws.ToString(in.Reason), aws.ToString(in.Cluster))
	}
	if list := s.Calls("ListTasks")[0].(*ecs.ListTasksInput); aws.ToString(list.ServiceName) != "app-prod" || list.DesiredStatus != ecstypes.DesiredStatusRunning {
		t.Errorf("ListTasks(%+v): want the service's RUNNING tasks", list)
	}
	if len(waits) != 3 || !strings.Contains(waits[1], "running 1 of 2 desired") {
		t.Errorf("waits reported: %q", waits)
	}
	if !strings.Contains(c.Evidence, "stopped a; whole again after 15.0 s") {
		t.Errorf("evidence: %s", c.Evidence)
	}
}

func TestChaosFailsPastTheTimeout(t *testing.T) {
	s := testenv.NewSDKStub(t, recoveryStory())
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c := Chaos(context.Background(), s.ECS(), s.ELB(), deployed, ChaosOptions{Timeout: 10 * time.Second, Poll: 5 * time.Second, Now: clock.now, Sleep: clock.sleep})
	if c.OK || c.Seconds != 10 || !strings.Contains(c.Evidence, "not whole after 10.0 s (limit 10s)") || c.Fix == "" {
		t.Errorf("got %+v, want a failure at 10 s that says what to do", c)
	}
}

func TestChaosNeedsARunningTask(t *testing.T) {
	s := testenv.NewSDKStub(t, map[string][]any{"ListTasks": {tasks()}})
	c := Chaos(context.Background(), s.ECS(), s.ELB(), deployed, ChaosOptions{Timeout: time.Minute, Poll: time.Second})
	if c.OK || len(s.Calls("StopTask")) != 0 {
		t.Errorf("got %+v with %d StopTask calls; want a failure and nothing stopped", c, len(s.Calls("StopTask")))
	}
}

func TestServiceCheck(t *testing.T) {
	other := "arn:aws:ecs:us-east-1:123456789012:task-definition/app-prod:6"
	for name, tc := range map[string]struct {
		answer any
		ok     bool
		want   string
	}{
		"settled":           {service(2, 2), true, "running 2 = desired 2, PRIMARY on app-prod:7"},
		"short of desired":  {service(1, 2), false, "running 1 of 2 desired"},
		"rollout under way": {service(2, 2, ecstypes.Deployment{Id: aws.String("n"), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(tdARN)}, ecstypes.Deployment{Id: aws.String("o"), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(other), RunningCount: 1}), false, "besides the PRIMARY deployment: ACTIVE o (app-prod:6, running 1)"},
		"rolled back":       {service(2, 2, ecstypes.Deployment{Id: aws.String("o"), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(other)}), false, "PRIMARY runs app-prod:6, state records app-prod:7"},
		"no primary":        {service(0, 2, ecstypes.Deployment{Id: aws.String("o"), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(tdARN)}), false, "has no PRIMARY deployment"},
	} {
		t.Run(name, func(t *testing.T) {
			s := testenv.NewSDKStub(t, map[string][]any{"DescribeServices": {tc.answer}})
			c := Service(context.Background(), s.ECS(), deployed)
			if c.OK != tc.ok || !strings.Contains(c.Evidence, tc.want) || (!c.OK && c.Fix == "") {
				t.Errorf("got %+v, want ok=%v with %q", c, tc.ok, tc.want)
			}
		})
	}
}

func TestTargetsCheck(t *testing.T) {
	for name, tc := range map[string]struct {
		answer *elbv2.DescribeTargetHealthOutput
		ok     bool
		want   string
	}{
		"all healthy":      {health("10.0.0.1=healthy", "10.0.0.2=healthy"), true, "2 healthy target(s)"},
		"draining ignored": {health("10.0.0.1=healthy", "10.0.0.2=healthy", "10.0.0.3=draining"), true, "2 healthy target(s)"},
		"one unhealthy":    {health("10.0.0.1=healthy", "10.0.0.2=healthy", "10.0.0.3=unhealthy"), false, "not healthy: 10.0.0.3:8000 unhealthy"},
		"fewer than min":   {health("10.0.0.1=healthy"), false, "1 healthy target(s), want at least 2"},
		"none registered":  {health(), false, "0 healthy target(s), want at least 2"},
	} {
		t.Run(name, func(t *testing.T) {
			s := testenv.NewSDKStub(t, map[string][]any{"DescribeTargetHealth": {tc.answer}})
			c := Targets(context.Background(), s.ELB(), deployed, 2)
			if c.OK != tc.ok || !strings.Contains(c.Evidence, tc.want) || (!c.OK && c.Fix == "") {
				t.Errorf("got %+v, want ok=%v with %q", c, tc.ok, tc.want)
			}
		})
	}
}

// Under a traffic-shifting strategy the tasks are in whichever group the last deployment
// started them: both groups count.
func TestTargetsCheckCountsBothGroups(t *testing.T) {
	d := deployed
	d.AltTargetGroup = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fastapi-vars-prod-alt/2"
	for name, tc := range map[string]struct {
		primary, alternate *elbv2.DescribeTargetHealthOutput
		ok                 bool
		want               string
	}{
		"all in the alternate group": {health(), health("10.0.0.1=healthy", "10.0.0.2=healthy"), true, "2 healthy target(s)"},
		"split while baking":         {health("10.0.0.1=healthy"), health("10.0.0.2=healthy"), true, "2 healthy target(s)"},
		"unhealthy in the alternate": {health("10.0.0.1=healthy", "10.0.0.2=healthy"), health("10.0.0.3=unhealthy"), false, "10.0.0.3:8000 unhealthy"},
	} {
		t.Run(name, func(t *testing.T) {
			s := testenv.NewSDKStub(t, map[string][]any{"DescribeTargetHealth": {tc.primary, tc.alternate}})
			c := Targets(context.Background(), s.ELB(), d, 2)
			if c.OK != tc.ok || !strings.Contains(c.Evidence, tc.want) || (!c.OK && c.Fix == "") {
				t.Errorf("got %+v, want ok=%v with %q", c, tc.ok, tc.want)
			}
		})
	}
}
