package edge

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// listenerHTTPS is the ALB's port 443: TLS with the certificate and the configured
// policy, forwarding to the target group. It owns the moment port 80 starts redirecting
// to it (see listenerHTTP.defaultActions), and the moment it stops.
type listenerHTTPS struct {
	in  *kit.Inputs
	api kit.ListenerAPI
	acm certAPI
}

func (r *listenerHTTPS) Key() string  { return kit.KeyListenerHTTPS }
func (r *listenerHTTPS) Type() string { return "elbv2:https-listener" }

// DependsOn puts the validation records before the wait for the certificate, and port
// 80 before this listener, so that teardown deletes this one first and the certificate
// after it.
func (r *listenerHTTPS) DependsOn() []string {
	return []string{kit.KeyALB, kit.KeyTG, kit.KeyListenerHTTP, KeyCertificate, KeyCertRecords}
}

const AttrPort80 = "port 80 default_action"

func (r *listenerHTTPS) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	lb, tg, cert := deps.Get(kit.KeyALB), deps.Get(kit.KeyTG), deps.Get(KeyCertificate)
	if lb == nil || tg == nil || cert == nil || deps.Get(kit.KeyListenerHTTP) == nil {
		return nil, nil
	}
	listeners, err := kit.DescribeListeners(ctx, r.api, lb.ARN)
	if err != nil {
		return nil, err
	}
	l := kit.ListenerOn(listeners, 443)
	if l == nil {
		return nil, nil
	}
	liveCert := ""
	if len(l.Certificates) > 0 {
		liveCert = aws.ToString(l.Certificates[0].CertificateArn)
	}
	found := &engine.Found{Record: r.Record(aws.ToString(l.ListenerArn), lb, tg)}
	change := func(field, from, to string) {
		if from != to {
			found.Changes = append(found.Changes, engine.Change{Field: field, From: from, To: to})
		}
	}
	change("protocol", string(l.Protocol), string(elbtypes.ProtocolEnumHttps))
	if liveCert != cert.ARN {
		// The status says whether moving to it waits for validation.
		change("certificate", liveCert, cert.ARN+" ("+cert.Attrs["status"]+")")
	}
	change("ssl_policy", aws.ToString(l.SslPolicy), r.in.Config.Edge.TLSPolicy)
	change("default_action", kit.ActionString(l.DefaultActions), kit.ActionString(kit.ForwardTo(tg.ARN)))
	// A run that ended between creating 443 and switching 80 finishes the switch.
	if l80 := kit.ListenerOn(listeners, 80); l80 != nil {
		change(AttrPort80, kit.ActionString(l80.DefaultActions), kit.ActionString(kit.HTTPSRedirect()))
	}
	return found, nil
}

// Record keeps the load balancer and target group so that Delete can put port 80 back
// to forwarding from the record alone.
func (r *listenerHTTPS) Record(arn string, lb, tg *state.Resource) state.Resource {
	return state.Resource{ID: arn, ARN: arn, Attrs: map[string]string{"load_balancer": lb.ARN, "target_group": tg.ARN}}
}

func (r *listenerHTTPS) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	lb, tg, cert := deps.Get(kit.KeyALB), deps.Get(kit.KeyTG), deps.Get(KeyCertificate)
	if err := WaitIssued(ctx, r.in, r.acm, cert.ARN, deps.Get(KeyZone)); err != nil {
		return nil, err
	}
	out, err := r.api.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: &lb.ARN,
		Port:            aws.Int32(443),
		Protocol:        elbtypes.ProtocolEnumHttps,
		SslPolicy:       aws.String(r.in.Config.Edge.TLSPolicy),
		Certificates:    []elbtypes.Certificate{{CertificateArn: aws.String(cert.ARN)}},
		DefaultActions:  kit.ForwardTo(tg.ARN),
		Tags:            kit.ELBTags(r.in.Tags(kit.KeyListenerHTTPS)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the HTTPS listener of load balancer %s: %w", lb.ID, err)
	}
	arn := aws.ToString(out.Listeners[0].ListenerArn)
	if err := r.setPort80(ctx, lb.ARN, kit.HTTPSRedirect()); err != nil {
		return nil, err
	}
	rec := r.Record(arn, lb, tg)
	return &rec, nil
}

// setPort80 sets the default action of the load balancer's port 80 listener, if it has
// one and it does something else.
func (r *listenerHTTPS) setPort80(ctx context.Context, lbARN string, actions []elbtypes.Action) error {
	listeners, err := kit.DescribeListeners(ctx, r.api, lbARN)
	if err != nil {
		return err
	}
	l := kit.ListenerOn(listeners, 80)
	if l == nil || kit.ActionString(l.DefaultActions) == kit.ActionString(actions) {
		return nil
	}
	arn := aws.ToString(l.ListenerArn)
	if _, err := r.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: &arn, DefaultActions: actions}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("setting the default action of HTTP listener %s to %s: %w", arn, kit.ActionString(actions), err)
	}
	return nil
}

// Update moves the listener to a new certificate only once that one is issued, then
// deletes the certificate it moved off if it is this environment's.
func (r *listenerHTTPS) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	lb, tg, cert := deps.Get(kit.KeyALB), deps.Get(kit.KeyTG), deps.Get(KeyCertificate)
	var listener, port80, newCert bool
	oldCert := ""
	for _, c := range found.Changes {
		switch c.Field {
		case AttrPort80:
			port80 = true
		case "certificate":
			oldCert, newCert, listener = c.From, true, true
		default:
			listener = true
		}
	}
	if newCert {
		if err := WaitIssued(ctx, r.in, r.acm, cert.ARN, deps.Get(KeyZone)); err != nil {
			return nil, err
		}
	}
	if listener {
		_, err := r.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{
			ListenerArn:    &found.Record.ARN,
			Port:           aws.Int32(443),
			Protocol:       elbtypes.ProtocolEnumHttps,
			SslPolicy:      aws.String(r.in.Config.Edge.TLSPolicy),
			Certificates:   []elbtypes.Certificate{{CertificateArn: aws.String(cert.ARN)}},
			DefaultActions: kit.ForwardTo(tg.ARN),
		})
		if err != nil {
			return nil, fmt.Errorf("modifying HTTPS listener %s: %w", found.Record.ARN, err)
		}
	}
	if port80 {
		if err := r.setPort80(ctx, lb.ARN, kit.HTTPSRedirect()); err != nil {
			return nil, err
		}
	}
	if oldCert != "" {
		ours, err := certOwned(ctx, r.in, r.acm, oldCert)
		if err != nil {
			return nil, err
		}
		if ours {
			if err := deleteCert(ctx, r.in, r.acm, oldCert); err != nil {
				return nil, err
			}
		}
	}
	rec := r.Record(found.Record.ARN, lb, tg)
	return &rec, nil
}

// Delete puts port 80 back to forwarding before 443 goes, so that plain HTTP is never
// redirected to a port nobody listens on (the domain removed while only the edge phase
// runs, say).
func (r *listenerHTTPS) Delete(ctx context.Context, rec *state.Resource) error {
	if err := r.setPort80(ctx, rec.Attrs["load_balancer"], kit.ForwardTo(rec.Attrs["target_group"])); err != nil {
		return err
	}
	if _, err := r.api.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &rec.ARN}); err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting listener %s: %w", rec.ARN, err)
	}
	return nil
}
