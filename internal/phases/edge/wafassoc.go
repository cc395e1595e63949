package edge

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// webACLAssociation puts the web ACL in front of the ALB.
type webACLAssociation struct {
	in  *kit.Inputs
	api wafAPI
}

func (r *webACLAssociation) Key() string         { return KeyWAFAssoc }
func (r *webACLAssociation) Type() string        { return "wafv2:web-acl-association" }
func (r *webACLAssociation) DependsOn() []string { return []string{KeyWAFACL, kit.KeyALB} }

func (r *webACLAssociation) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	acl, lb := deps.Get(KeyWAFACL), deps.Get(kit.KeyALB)
	if acl == nil || lb == nil {
		return nil, nil
	}
	out, err := r.api.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: &lb.ARN})
	if WAFNotFound(err) || err == nil && out.WebACL == nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the web ACL of load balancer %s: %w", lb.ID, err)
	}
	found := &engine.Found{Record: assocRecord(lb, aws.ToString(out.WebACL.ARN))}
	if got := aws.ToString(out.WebACL.ARN); got != acl.ARN {
		found.Changes = append(found.Changes, engine.Change{Field: "web_acl", From: got, To: acl.ARN})
	}
	return found, nil
}

func assocRecord(lb *state.Resource, aclARN string) state.Resource {
	return state.Resource{ID: lb.ARN, Attrs: map[string]string{"web_acl": aclARN}}
}

// Create retries while WAF does not see a just-created ACL yet, which it reports as
// WAFUnavailableEntityException. Associating replaces an ACL the ALB had before.
func (r *webACLAssociation) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	acl, lb := deps.Get(KeyWAFACL), deps.Get(kit.KeyALB)
	err := r.in.RetryWhileInUse(ctx, "web ACL "+acl.Attrs["name"]+" to be available", 2*time.Minute, func(ctx context.Context) error {
		_, err := r.api.AssociateWebACL(ctx, &wafv2.AssociateWebACLInput{WebACLArn: &acl.ARN, ResourceArn: &lb.ARN})
		return kit.InUseAs(err, "WAFUnavailableEntityException")
	})
	if err != nil {
		return nil, fmt.Errorf("associating web ACL %s with load balancer %s: %w", acl.Attrs["name"], lb.ID, err)
	}
	rec := assocRecord(lb, acl.ARN)
	return &rec, nil
}

func (r *webACLAssociation) Update(ctx context.Context, deps engine.Deps, _ *engine.Found) (*state.Resource, error) {
	return r.Create(ctx, deps)
}

// Delete disassociates the ALB only from the ACL it was associated with here: another
// ACL put there since is someone else's decision.
func (r *webACLAssociation) Delete(ctx context.Context, rec *state.Resource) error {
	out, err := r.api.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: &rec.ID})
	if WAFNotFound(err) || err == nil && (out.WebACL == nil || aws.ToString(out.WebACL.ARN) != rec.Attrs["web_acl"]) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the web ACL of load balancer %s: %w", rec.ID, err)
	}
	if _, err := r.api.DisassociateWebACL(ctx, &wafv2.DisassociateWebACLInput{ResourceArn: &rec.ID}); err != nil && !WAFNotFound(err) {
		return fmt.Errorf("disassociating web ACL %s from load balancer %s: %w", rec.Attrs["web_acl"], rec.ID, err)
	}
	return nil
}
