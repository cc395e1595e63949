package edge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type certWaitAPI interface {
	DescribeCertificate(ctx context.Context, in *acm.DescribeCertificateInput, opts ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
}

type certAPI interface {
	certWaitAPI
	ListCertificates(ctx context.Context, in *acm.ListCertificatesInput, opts ...func(*acm.Options)) (*acm.ListCertificatesOutput, error)
	ListTagsForCertificate(ctx context.Context, in *acm.ListTagsForCertificateInput, opts ...func(*acm.Options)) (*acm.ListTagsForCertificateOutput, error)
	RequestCertificate(ctx context.Context, in *acm.RequestCertificateInput, opts ...func(*acm.Options)) (*acm.RequestCertificateOutput, error)
	DeleteCertificate(ctx context.Context, in *acm.DeleteCertificateInput, opts ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error)
}

// certificate is the ACM certificate for the domain and the SANs, validated through DNS.
// ACM certificates cannot change their names: new names get a new certificate, and the
// old one is deleted once the HTTPS listener has moved off it (see listenerHTTPS).
type certificate struct {
	in  *kit.Inputs
	api certAPI
}

func (r *certificate) Key() string         { return KeyCertificate }
func (r *certificate) Type() string        { return "acm:certificate" }
func (r *certificate) DependsOn() []string { return nil }

// certDead are the statuses from which a certificate never becomes usable.
var certDead = []acmtypes.CertificateStatus{
	acmtypes.CertificateStatusFailed, acmtypes.CertificateStatusValidationTimedOut, acmtypes.CertificateStatusRevoked,
	acmtypes.CertificateStatusExpired, acmtypes.CertificateStatusInactive,
}

func liveCertNames(c *acmtypes.CertificateDetail) []string {
	names := []string{DNSName(aws.ToString(c.DomainName))}
	for _, s := range c.SubjectAlternativeNames {
		names = append(names, DNSName(s))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// certRecord keeps what the validation records and the listener need: the CNAMEs ACM
// asks for ("name=value", sorted) and the status.
func certRecord(c *acmtypes.CertificateDetail) state.Resource {
	arn := aws.ToString(c.CertificateArn)
	return state.Resource{ID: arn[strings.LastIndex(arn, "/")+1:], ARN: arn, Attrs: map[string]string{
		"names":      strings.Join(liveCertNames(c), ","),
		"status":     string(c.Status),
		"validation": EncodeRecords(validationRecords(c)),
	}}
}

// validationRecords are the CNAMEs of DNS validation by record name (a name and its
// wildcard share one).
func validationRecords(c *acmtypes.CertificateDetail) map[string]string {
	out := map[string]string{}
	for _, o := range c.DomainValidationOptions {
		if rr := o.ResourceRecord; rr != nil {
			out[DNSName(aws.ToString(rr.Name))] = aws.ToString(rr.Value)
		}
	}
	return out
}

func EncodeRecords(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func DecodeRecords(s string) map[string]string {
	out := map[string]string{}
	for p := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			out[k] = v
		}
	}
	return out
}

func (r *certificate) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	var c *acmtypes.CertificateDetail
	var err error
	if rec != nil && rec.ARN != "" {
		c, err = describeCert(ctx, r.api, rec.ARN)
		if err != nil {
			return nil, err
		}
	}
	if c == nil {
		if c, err = r.lookup(ctx); err != nil || c == nil {
			return nil, err
		}
	}
	found := &engine.Found{Record: certRecord(c)}
	if got, want := found.Record.Attrs["names"], strings.Join(certNames(r.in), ","); got != want {
		found.Changes = append(found.Changes, engine.Change{Field: "names", From: got, To: want})
	}
	if slices.Contains(certDead, c.Status) {
		found.Changes = append(found.Changes, engine.Change{Field: "status", From: string(c.Status), To: string(acmtypes.CertificateStatusIssued)})
	}
	return found, nil
}

// describeCert returns nil when the certificate does not exist.
func describeCert(ctx context.Context, api certWaitAPI, arn string) (*acmtypes.CertificateDetail, error) {
	out, err := api.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: &arn})
	if kit.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing certificate %s: %w", arn, err)
	}
	return out.Certificate, nil
}

// lookup finds a certificate of this environment for exactly the configured names: an
// issued one first, else one still being validated (a run that ended before saving it).
func (r *certificate) lookup(ctx context.Context) (*acmtypes.CertificateDetail, error) {
	domain, want := DNSName(r.in.Config.Edge.Domain), strings.Join(certNames(r.in), ",")
	var best *acmtypes.CertificateDetail
	p := acm.NewListCertificatesPaginator(r.api, &acm.ListCertificatesInput{CertificateStatuses: []acmtypes.CertificateStatus{
		acmtypes.CertificateStatusIssued, acmtypes.CertificateStatusPendingValidation,
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing certificates: %w", err)
		}
		for _, s := range page.CertificateSummaryList {
			if DNSName(aws.ToString(s.DomainName)) != domain {
				continue
			}
			arn := aws.ToString(s.CertificateArn)
			ours, err := certOwned(ctx, r.in, r.api, arn)
			if err != nil {
				return nil, err
			}
			if !ours {
				continue
			}
			c, err := describeCert(ctx, r.api, arn)
			if err != nil {
				return nil, err
			}
			if c == nil || strings.Join(liveCertNames(c), ",") != want {
				continue
			}
			if best == nil || c.Status == acmtypes.CertificateStatusIssued && best.Status != acmtypes.CertificateStatusIssued {
				best = c
			}
		}
	}
	return best, nil
}

// certOwned reports whether the certificate carries the environment's certificate tags.
func certOwned(ctx context.Context, in *kit.Inputs, api certAPI, arn string) (bool, error) {
	out, err := api.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: &arn})
	if kit.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the tags of certificate %s: %w", arn, err)
	}
	got := kit.TagMap(out.Tags, func(t acmtypes.Tag) (*string, *string) { return t.Key, t.Value })
	return in.Owns(KeyCertificate, got), nil
}

// Create requests the certificate without an idempotency token: a token reused within
// its hour returns the certificate it first produced even after that one was deleted
// (domain removed and set again). The tags, set by the request itself, let the next run
// find a certificate whose request outlived the process that made it.
func (r *certificate) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	names := certNames(r.in)
	tags := kit.TagList(r.in.Tags(KeyCertificate), func(k, v *string) acmtypes.Tag { return acmtypes.Tag{Key: k, Value: v} })
	domain := DNSName(r.in.Config.Edge.Domain)
	if len(domain) > 64 {
		// The first name becomes the certificate's subject, which X.509 caps at 64.
		return nil, fmt.Errorf("edge.domain %s is %d characters long; ACM allows at most 64 for a certificate's first name", domain, len(domain))
	}
	out, err := r.api.RequestCertificate(ctx, &acm.RequestCertificateInput{
		DomainName:              aws.String(domain),
		SubjectAlternativeNames: names,
		ValidationMethod:        acmtypes.ValidationMethodDns,
		IdempotencyToken:        aws.String(r.in.ClientToken(r.Key())),
		KeyAlgorithm:            acmtypes.KeyAlgorithmRsa2048,
		Tags:                    tags,
	})
	if err != nil {
		return nil, fmt.Errorf("requesting a certificate for %s: %w", strings.Join(names, ", "), err)
	}
	arn := aws.ToString(out.CertificateArn)
	// ACM fills in the validation records a few seconds after the request.
	var c *acmtypes.CertificateDetail
	err = r.in.WaitFor(ctx, "the validation records of certificate "+arn, func(ctx context.Context) (bool, string, error) {
		if c, err = describeCert(ctx, r.api, arn); err != nil {
			return false, "", err
		}
		if c == nil {
			return false, "", errors.New("the certificate disappeared")
		}
		if len(validationRecords(c)) == 0 || slices.ContainsFunc(c.DomainValidationOptions, func(o acmtypes.DomainValidation) bool { return o.ResourceRecord == nil }) {
			return false, "not published yet", nil
		}
		return true, "", nil
	})
	if err != nil {
		return nil, err
	}
	rec := certRecord(c)
	return &rec, nil
}

// Update gets a certificate for the new names, or replaces a dead one, reusing a live one
// of this environment for the same names. The old certificate goes at once if
// nothing uses it; otherwise the HTTPS listener deletes it after moving off it.
func (r *certificate) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	c, err := r.lookup(ctx)
	if err != nil {
		return nil, err
	}
	var rec *state.Resource
	if c != nil {
		cr := certRecord(c)
		rec = &cr
	} else if rec, err = r.Create(ctx, deps); err != nil {
		return nil, err
	}
	old, err := describeCert(ctx, r.api, found.Record.ARN)
	if err != nil || old == nil || len(old.InUseBy) > 0 {
		return rec, err
	}
	if _, err := r.api.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: &found.Record.ARN}); err != nil && !kit.IsNotFound(err) && kit.ErrorCode(err) != "ResourceInUseException" {
		return nil, fmt.Errorf("deleting replaced certificate %s: %w", found.Record.ARN, err)
	}
	return rec, nil
}

// Delete waits while a listener still holds the certificate: AWS takes a moment to
// notice that the HTTPS listener, deleted just before, is gone.
func (r *certificate) Delete(ctx context.Context, rec *state.Resource) error {
	return deleteCert(ctx, r.in, r.api, rec.ARN)
}

func deleteCert(ctx context.Context, in *kit.Inputs, api certAPI, arn string) error {
	err := in.RetryWhileInUse(ctx, "certificate "+arn+" to be unused", 5*time.Minute, func(ctx context.Context) error {
		_, err := api.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: &arn})
		if kit.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting certificate %s: %w", arn, err)
	}
	return nil
}

// WaitIssued waits until ACM has issued the certificate. Validation takes minutes after
// the CNAMEs resolve, and never happens while the zone is not delegated: a timeout says
// what to check.
func WaitIssued(ctx context.Context, in *kit.Inputs, api certWaitAPI, arn string, zone *state.Resource) error {
	err := in.WaitFor(ctx, "certificate "+arn+" to be issued", func(ctx context.Context) (bool, string, error) {
		c, err := describeCert(ctx, api, arn)
		if err != nil {
			return false, "", err
		}
		if c == nil {
			return false, "", fmt.Errorf("certificate %s does not exist", arn)
		}
		switch {
		case c.Status == acmtypes.CertificateStatusIssued:
			return true, "", nil
		case slices.Contains(certDead, c.Status):
			return false, "", fmt.Errorf("certificate %s is %s (%s): the next `fvdeploy up` requests a new one", arn, c.Status, c.FailureReason)
		}
		var pending []string
		for _, o := range c.DomainValidationOptions {
			pending = append(pending, aws.ToString(o.DomainName)+" "+string(o.ValidationStatus))
		}
		return false, string(c.Status) + " (" + strings.Join(pending, ", ") + ")", nil
	})
	if err == nil || ctx.Err() == nil {
		return err
	}
	name, ns := "", ""
	if zone != nil {
		name, ns = zone.Attrs["name"], strings.ReplaceAll(zone.Attrs["name_servers"], ",", " ")
	}
	return fmt.Errorf("%w\nACM issues the certificate only once it can resolve the validation CNAMEs in hosted zone %s. "+
		"Check the delegation: `dig +short NS %s` must answer the zone's name servers (%s); if it does not, add those NS records "+
		"at the parent domain or registrar. Then run `fvdeploy up` again: it resumes the wait", err, name, name, ns)
}
