package phases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

const (
	keyALB          = "network/alb"
	keyTG           = "network/tg"
	keyListenerHTTP = "network/listener-http"
)

type albAPI interface {
	elbTagsAPI
	CreateLoadBalancer(ctx context.Context, in *elbv2.CreateLoadBalancerInput, opts ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error)
	DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error)
	DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2.DescribeLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancerAttributesOutput, error)
	ModifyLoadBalancerAttributes(ctx context.Context, in *elbv2.ModifyLoadBalancerAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyLoadBalancerAttributesOutput, error)
	SetSubnets(ctx context.Context, in *elbv2.SetSubnetsInput, opts ...func(*elbv2.Options)) (*elbv2.SetSubnetsOutput, error)
	SetSecurityGroups(ctx context.Context, in *elbv2.SetSecurityGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.SetSecurityGroupsOutput, error)
	DeleteLoadBalancer(ctx context.Context, in *elbv2.DeleteLoadBalancerInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteLoadBalancerOutput, error)
}

// alb is the public Application Load Balancer in the public subnets, the service's only
// way in. Its name is <app>-<env>: config keeps the app name short enough for AWS's 32.
type alb struct {
	in  *Inputs
	api albAPI
}

const (
	attrDropInvalidHeaders = "routing.http.drop_invalid_header_fields.enabled"
	attrDeletionProtection = "deletion_protection.enabled"
)

func (r *alb) Key() string  { return keyALB }
func (r *alb) Type() string { return "elbv2:load-balancer" }

// DependsOn includes the internet gateway: AWS refuses an internet-facing load balancer
// in a VPC without one, and the gateway cannot be detached while the ALB holds addresses.
func (r *alb) DependsOn() []string { return append(r.subnetKeys(), keySG(sgALB), keyIGW) }

func (r *alb) subnetKeys() []string {
	var keys []string
	for i := range r.in.Config.Network.AZCount {
		keys = append(keys, keySubnet(true, i))
	}
	return keys
}

func (r *alb) name() string { return r.in.prefix() }

// attributes are the load balancer attributes fvdeploy sets: invalid headers are
// dropped rather than passed to the app (request smuggling), and production cannot be
// deleted by accident.
func (r *alb) attributes() map[string]string {
	return map[string]string{
		attrDropInvalidHeaders: "true",
		attrDeletionProtection: strconv.FormatBool(r.in.Config.ALB.DeletionProtection),
	}
}

func (r *alb) desired(deps engine.Deps) (subnets []string, sg string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return nil, "", false
		}
	}
	for _, k := range r.subnetKeys() {
		subnets = append(subnets, deps.Get(k).ID)
	}
	slices.Sort(subnets)
	return subnets, deps.Get(keySG(sgALB)).ID, true
}

func (r *alb) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	subnets, sg, ok := r.desired(deps)
	if !ok {
		return nil, nil
	}
	lb, err := r.describe(ctx, rec)
	if err != nil || lb == nil {
		return nil, err
	}
	found := &engine.Found{Record: albRecord(lb)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	change("scheme", string(lb.Scheme), string(elbtypes.LoadBalancerSchemeEnumInternetFacing))
	change("type", string(lb.Type), string(elbtypes.LoadBalancerTypeEnumApplication))
	found.Replace = len(found.Changes) > 0
	var live []string
	for _, az := range lb.AvailabilityZones {
		live = append(live, aws.ToString(az.SubnetId))
	}
	slices.Sort(live)
	change("subnets", strings.Join(live, ","), strings.Join(subnets, ","))
	change("security_groups", strings.Join(slices.Sorted(slices.Values(lb.SecurityGroups)), ","), sg)
	if lb.State != nil && lb.State.Code == elbtypes.LoadBalancerStateEnumProvisioning {
		change("state", string(lb.State.Code), string(elbtypes.LoadBalancerStateEnumActive))
	}
	arn := aws.ToString(lb.LoadBalancerArn)
	out, err := r.api.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of load balancer %s: %w", r.name(), err)
	}
	got := map[string]string{}
	for _, a := range out.Attributes {
		got[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	want := r.attributes()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		change(k, got[k], want[k])
	}
	return found, nil
}

func albRecord(lb *elbtypes.LoadBalancer) state.Resource {
	return state.Resource{
		ID:  aws.ToString(lb.LoadBalancerName),
		ARN: aws.ToString(lb.LoadBalancerArn),
		Attrs: map[string]string{
			"dns_name": aws.ToString(lb.DNSName),
			"zone_id":  aws.ToString(lb.CanonicalHostedZoneId),
		},
	}
}

// describe finds the load balancer by its recorded ARN, else by its name, which is
// unique in the account and region; one found by name must carry fvdeploy's tags.
func (r *alb) describe(ctx context.Context, rec *state.Resource) (*elbtypes.LoadBalancer, error) {
	if rec != nil && rec.ARN != "" {
		out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{rec.ARN}})
		if err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("describing load balancer %s: %w", rec.ARN, err)
		}
		if err == nil && len(out.LoadBalancers) == 1 {
			return &out.LoadBalancers[0], nil
		}
	}
	out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{r.name()}})
	if isNotFound(err) || err == nil && len(out.LoadBalancers) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up load balancer %s: %w", r.name(), err)
	}
	lb := &out.LoadBalancers[0]
	if err := elbOwned(ctx, r.in, r.api, "load balancer", aws.ToString(lb.LoadBalancerArn), keyALB); err != nil {
		return nil, err
	}
	return lb, nil
}

func (r *alb) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	subnets, sg, _ := r.desired(deps)
	out, err := r.api.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:           aws.String(r.name()),
		Type:           elbtypes.LoadBalancerTypeEnumApplication,
		Scheme:         elbtypes.LoadBalancerSchemeEnumInternetFacing,
		IpAddressType:  elbtypes.IpAddressTypeIpv4,
		Subnets:        subnets,
		SecurityGroups: []string{sg},
		Tags:           elbTags(r.in.tags(keyALB)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating load balancer %s: %w", r.name(), err)
	}
	lb := &out.LoadBalancers[0]
	arn := aws.ToString(lb.LoadBalancerArn)
	if err := r.setAttributes(ctx, arn, r.attributes()); err != nil {
		return nil, err
	}
	if err := r.waitActive(ctx, arn); err != nil {
		return nil, err
	}
	rec := albRecord(lb)
	return &rec, nil
}

func (r *alb) setAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	var list []elbtypes.LoadBalancerAttribute
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		list = append(list, elbtypes.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := r.api.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &arn, Attributes: list}); err != nil {
		return fmt.Errorf("setting attributes %v of load balancer %s: %w", slices.Sorted(maps.Keys(attrs)), arn, err)
	}
	return nil
}

func (r *alb) waitActive(ctx context.Context, arn string) error {
	return r.in.waitFor(ctx, "load balancer "+r.name()+" to be active", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			return false, "", err
		}
		if len(out.LoadBalancers) == 0 || out.LoadBalancers[0].State == nil {
			return false, "not listed yet", nil
		}
		st := out.LoadBalancers[0].State
		switch st.Code {
		case elbtypes.LoadBalancerStateEnumActive:
			return true, "", nil
		case elbtypes.LoadBalancerStateEnumFailed:
			return false, "", fmt.Errorf("load balancer %s failed: %s", r.name(), aws.ToString(st.Reason))
		}
		return false, string(st.Code), nil
	})
}

func (r *alb) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	subnets, sg, _ := r.desired(deps)
	arn := found.Record.ARN
	want := r.attributes()
	attrs := map[string]string{}
	for _, c := range found.Changes {
		var err error
		switch c.Field {
		case "subnets":
			_, err = r.api.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &arn, Subnets: subnets})
		case "security_groups":
			_, err = r.api.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &arn, SecurityGroups: []string{sg}})
		default:
			if v, ok := want[c.Field]; ok {
				attrs[c.Field] = v
			}
		}
		if err != nil {
			return nil, fmt.Errorf("setting %s of load balancer %s: %w", c.Field, r.name(), err)
		}
	}
	if len(attrs) > 0 {
		if err := r.setAttributes(ctx, arn, attrs); err != nil {
			return nil, err
		}
	}
	if err := r.waitActive(ctx, arn); err != nil {
		return nil, err
	}
	rec := found.Record
	return &rec, nil
}

// Delete switches deletion protection off first (AWS refuses otherwise; destroy was
// confirmed by the user) and returns once the load balancer is gone. Its network
// interfaces linger for minutes more: the subnets' and security groups' deletes wait.
func (r *alb) Delete(ctx context.Context, rec *state.Resource) error {
	arn := rec.ARN
	err := r.setAttributes(ctx, arn, map[string]string{attrDeletionProtection: "false"})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := r.api.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting load balancer %s: %w", rec.ID, err)
	}
	return r.in.waitFor(ctx, "load balancer "+rec.ID+" to be deleted", func(ctx context.Context) (bool, string, error) {
		out, err := r.api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if isNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		if len(out.LoadBalancers) == 0 {
			return true, "", nil
		}
		return false, "still listed", nil
	})
}

type targetGroupAPI interface {
	elbTagsAPI
	CreateTargetGroup(ctx context.Context, in *elbv2.CreateTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(ctx context.Context, in *elbv2.DescribeTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
	ModifyTargetGroup(ctx context.Context, in *elbv2.ModifyTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupOutput, error)
	ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error)
	DeleteTargetGroup(ctx context.Context, in *elbv2.DeleteTargetGroupInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error)
}

// targetGroup holds the service's tasks by IP (Fargate's awsvpc mode). Its health check
// hits the app's unauthenticated health path, tuned for fast rollouts.
type targetGroup struct {
	in  *Inputs
	api targetGroupAPI
	// alternate is the second group that the traffic-shifting strategies start a new
	// revision in (cluster_strategy.go): the same group, another key and name.
	alternate bool
}

const attrDeregistrationDelay = "deregistration_delay.timeout_seconds"

func (r *targetGroup) Key() string {
	if r.alternate {
		return keyAltTG
	}
	return keyTG
}
func (r *targetGroup) Type() string        { return "elbv2:target-group" }
func (r *targetGroup) DependsOn() []string { return []string{keyVPC} }

func (r *targetGroup) name() string {
	if r.alternate {
		return r.in.prefix() + "-alt"
	}
	return r.in.prefix()
}

// healthCheck is the part of a target group that Find compares field by field.
type healthCheck struct {
	path                                  string
	interval, timeout, healthy, unhealthy int32
	matcher                               string
}

func (r *targetGroup) healthCheck() healthCheck {
	s := r.in.Config.Service
	return healthCheck{
		path:     s.HealthCheckPath,
		interval: int32(s.HealthCheckInterval),
		// AWS wants the timeout below the interval; 5 s is its default.
		timeout:   int32(min(5, s.HealthCheckInterval-1)),
		healthy:   int32(s.HealthyThreshold),
		unhealthy: 3,
		matcher:   "200",
	}
}

func liveHealthCheck(tg *elbtypes.TargetGroup) healthCheck {
	h := healthCheck{
		path:      aws.ToString(tg.HealthCheckPath),
		interval:  aws.ToInt32(tg.HealthCheckIntervalSeconds),
		timeout:   aws.ToInt32(tg.HealthCheckTimeoutSeconds),
		healthy:   aws.ToInt32(tg.HealthyThresholdCount),
		unhealthy: aws.ToInt32(tg.UnhealthyThresholdCount),
	}
	if tg.Matcher != nil {
		h.matcher = aws.ToString(tg.Matcher.HttpCode)
	}
	return h
}

func (h healthCheck) fields() map[string]string {
	return map[string]string{
		"health_check_path":     h.path,
		"health_check_interval": strconv.Itoa(int(h.interval)),
		"health_check_timeout":  strconv.Itoa(int(h.timeout)),
		"healthy_threshold":     strconv.Itoa(int(h.healthy)),
		"unhealthy_threshold":   strconv.Itoa(int(h.unhealthy)),
		"matcher":               h.matcher,
	}
}

func (r *targetGroup) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc := deps.Get(keyVPC)
	if vpc == nil {
		return nil, nil
	}
	tg, err := r.describe(ctx, rec)
	if err != nil || tg == nil {
		return nil, err
	}
	found := &engine.Found{Record: tgRecord(tg)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	port := r.in.Config.Service.ContainerPort
	change("protocol", string(tg.Protocol), string(elbtypes.ProtocolEnumHttp))
	change("port", strconv.Itoa(int(aws.ToInt32(tg.Port))), strconv.Itoa(port))
	change("target_type", string(tg.TargetType), string(elbtypes.TargetTypeEnumIp))
	change("vpc", aws.ToString(tg.VpcId), vpc.ID)
	found.Replace = len(found.Changes) > 0
	live, want := liveHealthCheck(tg).fields(), r.healthCheck().fields()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		change(k, live[k], want[k])
	}
	arn := aws.ToString(tg.TargetGroupArn)
	out, err := r.api.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("reading the attributes of target group %s: %w", r.name(), err)
	}
	var delay string
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == attrDeregistrationDelay {
			delay = aws.ToString(a.Value)
		}
	}
	change(attrDeregistrationDelay, delay, strconv.Itoa(r.in.Config.Service.DeregistrationDelay))
	return found, nil
}

func tgRecord(tg *elbtypes.TargetGroup) state.Resource {
	return state.Resource{ID: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn)}
}

// describe finds the target group by its recorded ARN, else by its name (unique in the
// account and region), checking that one found by name is fvdeploy's.
func (r *targetGroup) describe(ctx context.Context, rec *state.Resource) (*elbtypes.TargetGroup, error) {
	if rec != nil && rec.ARN != "" {
		out, err := r.api.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{rec.ARN}})
		if err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("describing target group %s: %w", rec.ARN, err)
		}
		if err == nil && len(out.TargetGroups) == 1 {
			return &out.TargetGroups[0], nil
		}
	}
	out, err := r.api.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{r.name()}})
	if isNotFound(err) || err == nil && len(out.TargetGroups) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up target group %s: %w", r.name(), err)
	}
	tg := &out.TargetGroups[0]
	if err := elbOwned(ctx, r.in, r.api, "target group", aws.ToString(tg.TargetGroupArn), r.Key()); err != nil {
		return nil, err
	}
	return tg, nil
}

func (r *targetGroup) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	hc := r.healthCheck()
	out, err := r.api.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:                       aws.String(r.name()),
		Protocol:                   elbtypes.ProtocolEnumHttp,
		Port:                       aws.Int32(int32(r.in.Config.Service.ContainerPort)),
		VpcId:                      aws.String(deps.Get(keyVPC).ID),
		TargetType:                 elbtypes.TargetTypeEnumIp,
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbtypes.ProtocolEnumHttp,
		HealthCheckPath:            &hc.path,
		HealthCheckIntervalSeconds: &hc.interval,
		HealthCheckTimeoutSeconds:  &hc.timeout,
		HealthyThresholdCount:      &hc.healthy,
		UnhealthyThresholdCount:    &hc.unhealthy,
		Matcher:                    &elbtypes.Matcher{HttpCode: &hc.matcher},
		Tags:                       elbTags(r.in.tags(r.Key())),
	})
	if err != nil {
		return nil, fmt.Errorf("creating target group %s: %w", r.name(), err)
	}
	tg := &out.TargetGroups[0]
	if err := r.setDeregistrationDelay(ctx, aws.ToString(tg.TargetGroupArn)); err != nil {
		return nil, err
	}
	rec := tgRecord(tg)
	return &rec, nil
}

func (r *targetGroup) setDeregistrationDelay(ctx context.Context, arn string) error {
	_, err := r.api.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: &arn,
		Attributes: []elbtypes.TargetGroupAttribute{{
			Key: aws.String(attrDeregistrationDelay), Value: aws.String(strconv.Itoa(r.in.Config.Service.DeregistrationDelay)),
		}},
	})
	if err != nil {
		return fmt.Errorf("setting the deregistration delay of target group %s: %w", r.name(), err)
	}
	return nil
}

func (r *targetGroup) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	hc := r.healthCheck()
	var healthCheck, delay bool
	for _, c := range found.Changes {
		_, isHC := hc.fields()[c.Field]
		healthCheck = healthCheck || isHC
		delay = delay || c.Field == attrDeregistrationDelay
	}
	if healthCheck {
		_, err := r.api.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
			TargetGroupArn:             &arn,
			HealthCheckEnabled:         aws.Bool(true),
			HealthCheckProtocol:        elbtypes.ProtocolEnumHttp,
			HealthCheckPath:            &hc.path,
			HealthCheckIntervalSeconds: &hc.interval,
			HealthCheckTimeoutSeconds:  &hc.timeout,
			HealthyThresholdCount:      &hc.healthy,
			UnhealthyThresholdCount:    &hc.unhealthy,
			Matcher:                    &elbtypes.Matcher{HttpCode: &hc.matcher},
		})
		if err != nil {
			return nil, fmt.Errorf("setting the health check of target group %s: %w", r.name(), err)
		}
	}
	if delay {
		if err := r.setDeregistrationDelay(ctx, arn); err != nil {
			return nil, err
		}
	}
	rec := found.Record
	return &rec, nil
}

// Delete retries briefly while a listener or rule still forwards to the group: teardown
// deletes those first, and AWS may take a moment to see it. Longer would only delay the
// error when something fvdeploy does not manage holds the group.
func (r *targetGroup) Delete(ctx context.Context, rec *state.Resource) error {
	return r.in.deleteWaitingForDependents(ctx, "target group "+rec.ID, 2*time.Minute, func(ctx context.Context) error {
		_, err := r.api.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &rec.ARN})
		return err
	})
}

type listenerAPI interface {
	CreateListener(ctx context.Context, in *elbv2.CreateListenerInput, opts ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error)
	DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	ModifyListener(ctx context.Context, in *elbv2.ModifyListenerInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	DeleteListener(ctx context.Context, in *elbv2.DeleteListenerInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteListenerOutput, error)
}

// listenerHTTP is the ALB's port 80: it forwards to the target group, or, once the edge
// serves the domain over HTTPS, redirects there. A load balancer has at most one listener
// per port, so it needs no tags to be found.
type listenerHTTP struct {
	in  *Inputs
	api listenerAPI
}

func (r *listenerHTTP) Key() string         { return keyListenerHTTP }
func (r *listenerHTTP) Type() string        { return "elbv2:listener" }
func (r *listenerHTTP) DependsOn() []string { return []string{keyALB, keyTG} }

// defaultActions redirect when a domain is configured and the load balancer has a 443
// listener (listeners are its live ones), and forward otherwise: redirecting to a port
// nobody listens on would take the service down. This listener does not depend on the
// 443 one, which waits for the certificate (as long as the zone is not delegated) and
// must not hold up the service behind port 80; instead the 443 listener depends on this
// one and switches port 80 to the redirect as soon as it exists (httpsRedirect), and the
// next run here agrees. With the domain removed, this puts forwarding back before the
// 443 listener is pruned.
func (r *listenerHTTP) defaultActions(tgARN string, listeners []elbtypes.Listener) []elbtypes.Action {
	if r.in.Config.Edge.Domain != "" && slices.ContainsFunc(listeners, onPort(443)) {
		return httpsRedirect()
	}
	return forwardTo(tgARN)
}

func onPort(port int32) func(elbtypes.Listener) bool {
	return func(l elbtypes.Listener) bool { return aws.ToInt32(l.Port) == port }
}

// describeListeners lists a load balancer's listeners; none when it does not exist.
func describeListeners(ctx context.Context, api listenerAPI, lbARN string) ([]elbtypes.Listener, error) {
	out, err := api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the listeners of load balancer %s: %w", lbARN, err)
	}
	return out.Listeners, nil
}

func forwardTo(tgARN string) []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
}

// httpsRedirect sends plain HTTP permanently to HTTPS on the same host, path and query.
func httpsRedirect() []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumRedirect, RedirectConfig: &elbtypes.RedirectActionConfig{
		Protocol: aws.String("HTTPS"), Port: aws.String("443"),
		Host: aws.String("#{host}"), Path: aws.String("/#{path}"), Query: aws.String("#{query}"),
		StatusCode: elbtypes.RedirectActionStatusCodeEnumHttp301,
	}}}
}

// actionString describes default actions for a plan, naming a forward's target group
// however AWS spelled it, and where a redirect goes.
func actionString(actions []elbtypes.Action) string {
	var parts []string
	for _, a := range actions {
		s := string(a.Type)
		switch {
		case a.Type == elbtypes.ActionTypeEnumForward:
			tg := aws.ToString(a.TargetGroupArn)
			if tg == "" && a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 {
				tg = aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
			}
			s += " " + tg
		case a.Type == elbtypes.ActionTypeEnumRedirect && a.RedirectConfig != nil:
			c := a.RedirectConfig
			s += fmt.Sprintf(" %s://%s:%s%s?%s %s", aws.ToString(c.Protocol), aws.ToString(c.Host), aws.ToString(c.Port),
				aws.ToString(c.Path), aws.ToString(c.Query), c.StatusCode)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func (r *listenerHTTP) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	lb, tg := deps.Get(keyALB), deps.Get(keyTG)
	if lb == nil || tg == nil {
		return nil, nil
	}
	listeners, err := describeListeners(ctx, r.api, lb.ARN)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(listeners, onPort(80))
	if i < 0 {
		return nil, nil
	}
	l := listeners[i]
	arn := aws.ToString(l.ListenerArn)
	found := &engine.Found{Record: state.Resource{ID: arn, ARN: arn}}
	if l.Protocol != elbtypes.ProtocolEnumHttp {
		found.Changes = append(found.Changes, engine.Change{Field: "protocol", From: string(l.Protocol), To: string(elbtypes.ProtocolEnumHttp)})
	}
	if got, want := actionString(l.DefaultActions), actionString(r.defaultActions(tg.ARN, listeners)); got != want {
		found.Changes = append(found.Changes, engine.Change{Field: "default_action", From: got, To: want})
	}
	return found, nil
}

func (r *listenerHTTP) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	lb := deps.Get(keyALB)
	// A new port 80 forwards: a 443 listener already there switches it when it runs.
	out, err := r.api.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: &lb.ARN,
		Port:            aws.Int32(80),
		Protocol:        elbtypes.ProtocolEnumHttp,
		DefaultActions:  forwardTo(deps.Get(keyTG).ARN),
		Tags:            elbTags(r.in.tags(keyListenerHTTP)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the HTTP listener of load balancer %s: %w", lb.ID, err)
	}
	arn := aws.ToString(out.Listeners[0].ListenerArn)
	return &state.Resource{ID: arn, ARN: arn}, nil
}

func (r *listenerHTTP) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	listeners, err := describeListeners(ctx, r.api, deps.Get(keyALB).ARN)
	if err != nil {
		return nil, err
	}
	_, err = r.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn:    &arn,
		Port:           aws.Int32(80),
		Protocol:       elbtypes.ProtocolEnumHttp,
		DefaultActions: r.defaultActions(deps.Get(keyTG).ARN, listeners),
	})
	if err != nil {
		return nil, fmt.Errorf("modifying HTTP listener %s: %w", arn, err)
	}
	rec := found.Record
	return &rec, nil
}

func (r *listenerHTTP) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &rec.ARN}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting listener %s: %w", rec.ARN, err)
	}
	return nil
}
