package network

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// ListenerHTTP is the ALB's port 80: it forwards to the target group, or, once the edge
// serves the domain over HTTPS, redirects there. A load balancer has at most one listener
// per port, so it needs no tags to be found.
type ListenerHTTP struct {
	In  *kit.Inputs
	api kit.ListenerAPI
}

func (r *ListenerHTTP) Key() string         { return kit.KeyListenerHTTP }
func (r *ListenerHTTP) Type() string        { return "elbv2:listener" }
func (r *ListenerHTTP) DependsOn() []string { return []string{kit.KeyALB, kit.KeyTG} }

// DefaultActions redirect when a domain is configured and the load balancer has a 443
// listener (listeners are its live ones), and forward otherwise: redirecting to a port
// nobody listens on would take the service down. This listener does not depend on the
// 443 one, which waits for the certificate (as long as the zone is not delegated) and
// must not hold up the service behind port 80; instead the 443 listener depends on this
// one and switches port 80 to the redirect as soon as it exists (httpsRedirect), and the
// next run here agrees. With the domain removed, this puts forwarding back before the
// 443 listener is pruned.
func (r *ListenerHTTP) DefaultActions(tgARN string, listeners []elbtypes.Listener) []elbtypes.Action {
	if r.In.Config.Edge.Domain != "" && slices.ContainsFunc(listeners, kit.OnPort(443)) {
		return kit.HTTPSRedirect()
	}
	return kit.ForwardTo(tgARN)
}

func (r *ListenerHTTP) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	lb, tg := deps.Get(kit.KeyALB), deps.Get(kit.KeyTG)
	if lb == nil || tg == nil {
		return nil, nil
	}
	listeners, err := kit.DescribeListeners(ctx, r.api, lb.ARN)
	if err != nil {
		return nil, err
	}
	l := kit.ListenerOn(listeners, 80)
	if l == nil {
		return nil, nil
	}
	arn := aws.ToString(l.ListenerArn)
	found := &engine.Found{Record: state.Resource{ID: arn, ARN: arn}}
	if l.Protocol != elbtypes.ProtocolEnumHttp {
		found.Changes = append(found.Changes, engine.Change{Field: "protocol", From: string(l.Protocol), To: string(elbtypes.ProtocolEnumHttp)})
	}
	if got, want := kit.ActionString(l.DefaultActions), kit.ActionString(r.DefaultActions(tg.ARN, listeners)); got != want {
		found.Changes = append(found.Changes, engine.Change{Field: "default_action", From: got, To: want})
	}
	return found, nil
}

func (r *ListenerHTTP) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	lb := deps.Get(kit.KeyALB)
	// A new port 80 forwards: a 443 listener already there switches it when it runs.
	out, err := r.api.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: &lb.ARN,
		Port:            aws.Int32(80),
		Protocol:        elbtypes.ProtocolEnumHttp,
		DefaultActions:  kit.ForwardTo(deps.Get(kit.KeyTG).ARN),
		Tags:            kit.ELBTags(r.In.Tags(kit.KeyListenerHTTP)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the HTTP listener of load balancer %s: %w", lb.ID, err)
	}
	arn := aws.ToString(out.Listeners[0].ListenerArn)
	return &state.Resource{ID: arn, ARN: arn}, nil
}

func (r *ListenerHTTP) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	arn := found.Record.ARN
	listeners, err := kit.DescribeListeners(ctx, r.api, deps.Get(kit.KeyALB).ARN)
	if err != nil {
		return nil, err
	}
	_, err = r.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn:    &arn,
		Port:           aws.Int32(80),
		Protocol:       elbtypes.ProtocolEnumHttp,
		DefaultActions: r.DefaultActions(deps.Get(kit.KeyTG).ARN, listeners),
	})
	if err != nil {
		return nil, fmt.Errorf("modifying HTTP listener %s: %w", arn, err)
	}
	rec := found.Record
	return &rec, nil
}

func (r *ListenerHTTP) Delete(ctx context.Context, rec *state.Resource) error {
	if _, err := r.api.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &rec.ARN}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting listener %s: %w", rec.ARN, err)
	}
	return nil
}
