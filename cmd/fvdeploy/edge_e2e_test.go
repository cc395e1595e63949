package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

// Where the emulator (moto) is thinner than AWS, these tests pass without proving:
//   - ACM issues certificates at once (MOTO_ACM_VALIDATION_WAIT=0), validation CNAME or
//     not, delegation or not: the wait for ISSUED and its timeout message are covered by
//     TestEdgeWaitIssued in internal/phases, with SDK middleware stubs.
//   - Nothing resolves DNS or carries traffic: the redirect and the records are checked
//     as configuration, through the API.
//   - ACM and WAF do not refuse deleting a certificate in use or an associated ACL: the
//     order is checked here from the progress lines, and in internal/phases from the
//     recorded calls.

const edgeE2EDomain = "api.example.com"

func edgeUpArgs(extra ...string) []string {
	return append([]string{"up", "--env", "prod", "--phases", "network,secrets,cluster,edge", "--image", stackImage}, extra...)
}

func writeConfig(t *testing.T, c *testenv.CLI, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "fvdeploy.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// edgeOrder checks, from the progress lines, that first appears before second.
func edgeOrder(t *testing.T, stderr, first, second string) {
	t.Helper()
	if i, j := strings.Index(stderr, first), strings.Index(stderr, second); i < 0 || j < 0 || i > j {
		t.Errorf("want %q (at %d) before %q (at %d)", first, i, second, j)
	}
}

// edgeState is what the AWS API, never fvdeploy's state, says of the edge of prod.
type edgeState struct {
	zones     map[string]string // name -> ID
	records   map[string]r53types.ResourceRecordSet
	certs     []string
	listeners map[int32]elbtypes.Listener
	tgARN     string
	lbDNS     string
	lbZone    string
	acls      map[string]waftypes.WebACL // by ARN
	aclOnALB  string
}

// takeEdge describes the zones, the records of the zone called recordZone, the
// certificates, prod's ALB listeners and the web ACLs.
func takeEdge(t *testing.T, recordZone string) *edgeState {
	t.Helper()
	ctx := context.Background()
	c := testClients(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	s := &edgeState{zones: map[string]string{}, records: map[string]r53types.ResourceRecordSet{}, listeners: map[int32]elbtypes.Listener{}, acls: map[string]waftypes.WebACL{}}
	name := func(n string) string { return strings.TrimSuffix(n, ".") }
	zones, err := c.Route53().ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	must(err)
	for _, z := range zones.HostedZones {
		s.zones[name(aws.ToString(z.Name))] = strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
	}
	if id, ok := s.zones[recordZone]; ok {
		rrs, err := c.Route53().ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: &id})
		must(err)
		for _, rr := range rrs.ResourceRecordSets {
			s.records[string(rr.Type)+" "+name(aws.ToString(rr.Name))] = rr
		}
	}
	certs, err := c.ACM().ListCertificates(ctx, &acm.ListCertificatesInput{})
	must(err)
	for _, cs := range certs.CertificateSummaryList {
		s.certs = append(s.certs, aws.ToString(cs.CertificateArn))
	}
	lbs, err := c.ELB().DescribeLoadBalancers(ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{Names: []string{"fastapi-vars-prod"}})
	if err == nil && len(lbs.LoadBalancers) == 1 {
		lb := lbs.LoadBalancers[0]
		s.lbDNS, s.lbZone = aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)
		ls, err := c.ELB().DescribeListeners(ctx, &elasticloadbalancingv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		must(err)
		for _, l := range ls.Listeners {
			s.listeners[aws.ToInt32(l.Port)] = l
		}
		tgs, err := c.ELB().DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{Names: []string{"fastapi-vars-prod"}})
		must(err)
		s.tgARN = aws.ToString(tgs.TargetGroups[0].TargetGroupArn)
		acl, err := c.WAF().GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: lb.LoadBalancerArn})
		must(err)
		if acl.WebACL != nil {
			s.aclOnALB = aws.ToString(acl.WebACL.ARN)
		}
	}
	acls, err := c.WAF().ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional})
	must(err)
	for _, a := range acls.WebACLs {
		out, err := c.WAF().GetWebACL(ctx, &wafv2.GetWebACLInput{Name: a.Name, Id: a.Id, Scope: waftypes.ScopeRegional})
		must(err)
		s.acls[aws.ToString(a.ARN)] = *out.WebACL
	}
	return s
}

// checkServedEdge checks every "what it must show" of a deployed edge, records in zone.
func checkServedEdge(t *testing.T, zone string, rateLimit int64) *edgeState {
	t.Helper()
	s := takeEdge(t, zone)
	if len(s.certs) != 1 {
		t.Fatalf("certificates %v, want one", s.certs)
	}
	c := testClients(t)
	cert, err := c.ACM().DescribeCertificate(context.Background(), &acm.DescribeCertificateInput{CertificateArn: &s.certs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cert.Certificate.DomainName) != edgeE2EDomain || cert.Certificate.Status != "ISSUED" {
		t.Errorf("certificate %s %s, want %s ISSUED", aws.ToString(cert.Certificate.DomainName), cert.Certificate.Status, edgeE2EDomain)
	}
	for _, o := range cert.Certificate.DomainValidationOptions {
		rr := o.ResourceRecord
		got := s.records["CNAME "+strings.TrimSuffix(aws.ToString(rr.Name), ".")]
		if len(got.ResourceRecords) != 1 || aws.ToString(got.ResourceRecords[0].Value) != aws.ToString(rr.Value) {
			t.Errorf("zone %s lacks validation CNAME %s -> %s", zone, aws.ToString(rr.Name), aws.ToString(rr.Value))
		}
	}
	for _, typ := range []string{"A", "AAAA"} {
		a := s.records[typ+" "+edgeE2EDomain].AliasTarget
		if a == nil || !strings.EqualFold(strings.TrimSuffix(aws.ToString(a.DNSName), "."), "dualstack."+s.lbDNS) ||
			aws.ToString(a.HostedZoneId) != s.lbZone || !a.EvaluateTargetHealth {
			t.Errorf("%s %s: alias %+v, want dualstack.%s in %s evaluating target health", typ, edgeE2EDomain, a, s.lbDNS, s.lbZone)
		}
	}
	https := s.listeners[443]
	if https.Protocol != elbtypes.ProtocolEnumHttps || aws.ToString(https.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09" ||
		len(https.Certificates) != 1 || aws.ToString(https.Certificates[0].CertificateArn) != s.certs[0] ||
		len(https.DefaultActions) != 1 || aws.ToString(https.DefaultActions[0].TargetGroupArn) != s.tgARN {
		t.Errorf("listener 443: %s %s %+v %+v; want HTTPS, the TLS 1.3 policy, the certificate, forward to %s",
			https.Protocol, aws.ToString(https.SslPolicy), https.Certificates, https.DefaultActions, s.tgARN)
	}
	http := s.listeners[80]
	if len(http.DefaultActions) != 1 || http.DefaultActions[0].Type != elbtypes.ActionTypeEnumRedirect {
		t.Fatalf("listener 80: %+v, want a redirect", http.DefaultActions)
	}
	if rc := http.DefaultActions[0].RedirectConfig; rc.StatusCode != elbtypes.RedirectActionStatusCodeEnumHttp301 ||
		aws.ToString(rc.Protocol) != "HTTPS" || aws.ToString(rc.Port) != "443" || aws.ToString(rc.Host) != "#{host}" ||
		aws.ToString(rc.Path) != "/#{path}" || aws.ToString(rc.Query) != "#{query}" {
		t.Errorf("listener 80 redirects %s %s://%s:%s%s?%s, want 301 to HTTPS keeping host, path and query", rc.StatusCode,
			aws.ToString(rc.Protocol), aws.ToString(rc.Host), aws.ToString(rc.Port), aws.ToString(rc.Path), aws.ToString(rc.Query))
	}
	acl, ok := s.acls[s.aclOnALB]
	if len(s.acls) != 1 || !ok {
		t.Fatalf("%d web ACLs, the ALB has %q: want one, on the ALB", len(s.acls), s.aclOnALB)
	}
	var groups []string
	var rate *waftypes.RateBasedStatement
	for _, r := range acl.Rules {
		if v := r.VisibilityConfig; v == nil || !v.CloudWatchMetricsEnabled || !v.SampledRequestsEnabled {
			t.Errorf("rule %s without metrics or sampled requests", aws.ToString(r.Name))
		}
		if m := r.Statement.ManagedRuleGroupStatement; m != nil {
			groups = append(groups, aws.ToString(m.VendorName)+"/"+aws.ToString(m.Name))
		}
		if rb := r.Statement.RateBasedStatement; rb != nil && r.Action != nil && r.Action.Block != nil {
			rate = rb
		}
	}
	slices.Sort(groups)
	if want := []string{"AWS/AWSManagedRulesCommonRuleSet", "AWS/AWSManagedRulesKnownBadInputsRuleSet", "AWS/AWSManagedRulesSQLiRuleSet"}; !slices.Equal(groups, want) {
		t.Errorf("managed rule groups %v, want %v", groups, want)
	}
	if rate == nil || aws.ToInt64(rate.Limit) != rateLimit || rate.AggregateKeyType != waftypes.RateBasedStatementAggregateKeyTypeIp || rate.EvaluationWindowSec != 300 {
		t.Errorf("rate rule %+v, want blocking above %d per IP per 5 minutes", rate, rateLimit)
	}
	return s
}

// TestEdgeE2E drives the edge through the binary: a domain whose zone fvdeploy creates,
// a converged second run, a rate limit changed in place, the domain removed and set
// again, and a destroy that leaves nothing fvdeploy created.
func TestEdgeE2E(t *testing.T) {
	c := newCLI(t)
	trace := func(name string) string { return filepath.Join(c.Dir, name) }
	writeConfig(t, c, "edge:\n  domain: "+edgeE2EDomain+"\n")

	res := mustRun(t, c, edgeUpArgs()...)
	if !strings.Contains(res.Stderr, "created hosted zone "+edgeE2EDomain) || !strings.Contains(res.Stderr, "add an NS record for "+edgeE2EDomain+" with ns-") {
		t.Errorf("up did not print the new zone's name servers with the delegation to make:\n%s", res.Stderr)
	}
	first := checkServedEdge(t, edgeE2EDomain, 1000)
	aclARN := first.aclOnALB
	var st statusJSON
	if err := json.Unmarshal([]byte(mustRun(t, c, "status", "--env", "prod", "--output", "json").Stdout), &st); err != nil || st.Outputs["url"] != "https://"+edgeE2EDomain {
		t.Errorf("status url = %q (%v), want https://%s", st.Outputs["url"], err, edgeE2EDomain)
	}

	res = mustRun(t, c, edgeUpArgs("--trace-calls", trace("up2"))...)
	if m := mutatingCalls(traced(t, trace("up2"))); len(m) != 0 {
		t.Errorf("second up made mutating calls: %v", m)
	}
	if !strings.Contains(res.Stdout, "No changes") {
		t.Errorf("second up:\n%s", res.Stdout)
	}

	writeConfig(t, c, "edge:\n  domain: "+edgeE2EDomain+"\n  waf_rate_limit: 2000\n")
	res = mustRun(t, c, "plan", "--env", "prod", "--phases", "network,secrets,cluster,edge")
	if !strings.Contains(res.Stdout, "edge/waf-acl") || !strings.Contains(res.Stdout, "rule rate-limit-per-ip") || !strings.Contains(res.Stdout, "2000 requests") {
		t.Errorf("plan does not show the rate rule changing:\n%s", res.Stdout)
	}
	mustRun(t, c, edgeUpArgs("--trace-calls", trace("rate"))...)
	if m := mutatingCalls(traced(t, trace("rate"))); !slices.Equal(m, []string{"WAFV2.UpdateWebACL"}) {
		t.Errorf("a new rate limit made %v, want one UpdateWebACL", m)
	}
	if s := checkServedEdge(t, edgeE2EDomain, 2000); s.aclOnALB != aclARN {
		t.Errorf("web ACL %s replaced by %s; want it updated in place", aclARN, s.aclOnALB)
	}

	writeConfig(t, c, "edge:\n  waf_rate_limit: 2000\n")
	res = mustRun(t, c, edgeUpArgs()...)
	edgeOrder(t, res.Stderr, "updated network/listener-http", "deleting edge/listener-https")
	s := takeEdge(t, edgeE2EDomain)
	if _, ok := s.listeners[443]; ok || len(s.listeners) != 1 || s.listeners[80].DefaultActions[0].Type != elbtypes.ActionTypeEnumForward ||
		aws.ToString(s.listeners[80].DefaultActions[0].TargetGroupArn) != s.tgARN {
		t.Errorf("without the domain: listeners %+v, want only 80 forwarding to %s", s.listeners, s.tgARN)
	}
	if len(s.zones) != 0 || len(s.records) != 0 || len(s.certs) != 0 {
		t.Errorf("without the domain: zones %v, records %d, certificates %v left", s.zones, len(s.records), s.certs)
	}
	if s.aclOnALB != aclARN {
		t.Errorf("the WAF, still on, went with the domain: ALB has %q", s.aclOnALB)
	}

	writeConfig(t, c, "edge:\n  domain: "+edgeE2EDomain+"\n")
	mustRun(t, c, edgeUpArgs()...)
	checkServedEdge(t, edgeE2EDomain, 1000)
	res = mustRun(t, c, "destroy", "--env", "prod", "--yes")
	// The emulator would accept any order; AWS refuses these the other way round.
	edgeOrder(t, res.Stderr, "deleted edge/listener-https (", "deleting edge/certificate ...")
	edgeOrder(t, res.Stderr, "deleted edge/waf-association (", "deleting edge/waf-acl ...")
	edgeOrder(t, res.Stderr, "deleted edge/waf-association (", "deleting network/alb ...")
	edgeOrder(t, res.Stderr, "deleted edge/listener-https (", "deleting network/alb ...")
	edgeOrder(t, res.Stderr, "deleted edge/dns (", "deleting edge/zone ...")
	edgeOrder(t, res.Stderr, "deleted edge/cert-validation (", "deleting edge/zone ...")
	if s := takeEdge(t, edgeE2EDomain); len(s.zones) != 0 || len(s.certs) != 0 || len(s.acls) != 0 || s.lbDNS != "" {
		t.Errorf("destroy left zones %v, certificates %v, %d web ACLs, ALB %q", s.zones, s.certs, len(s.acls), s.lbDNS)
	}
	if got := takeInventory(t, "fastapi-vars", "prod"); got != (inventory{}) {
		t.Errorf("left behind after destroy: %+v", got)
	}
}

// TestEdgeE2EParentZone: the account's zone for the parent domain serves the records, its
// other records are left alone, and destroy leaves it standing.
func TestEdgeE2EParentZone(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	clients := testClients(t)
	r53 := clients.Route53()
	out, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.com"), CallerReference: aws.String("someone-else")})
	if err != nil {
		t.Fatal(err)
	}
	parent := strings.TrimPrefix(aws.ToString(out.HostedZone.Id), "/hostedzone/")
	if _, err := r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: &parent, ChangeBatch: &r53types.ChangeBatch{
		Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String("www.example.com"), Type: r53types.RRTypeA, TTL: aws.Int64(60),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.10")}},
		}}},
	}}); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, c, "edge:\n  domain: "+edgeE2EDomain+"\n")

	res := mustRun(t, c, edgeUpArgs()...)
	if strings.Contains(res.Stderr, "created hosted zone") {
		t.Errorf("up created a zone beside example.com:\n%s", res.Stderr)
	}
	s := checkServedEdge(t, "example.com", 1000)
	if len(s.zones) != 1 || s.zones["example.com"] != parent {
		t.Errorf("zones %v, want only example.com (%s)", s.zones, parent)
	}

	mustRun(t, c, "destroy", "--env", "prod", "--yes")
	s = takeEdge(t, "example.com")
	if s.zones["example.com"] != parent {
		t.Fatalf("destroy deleted the parent zone: %v", s.zones)
	}
	var left []string
	for k := range s.records {
		left = append(left, k)
	}
	slices.Sort(left)
	if want := []string{"A www.example.com", "NS example.com", "SOA example.com"}; !slices.Equal(left, want) {
		t.Errorf("example.com after destroy holds %v, want %v", left, want)
	}
	if len(s.certs) != 0 || len(s.acls) != 0 {
		t.Errorf("destroy left certificates %v and %d web ACLs", s.certs, len(s.acls))
	}
}
