package edge_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases"
	"github.com/fvdeploy/fvdeploy/internal/phases/edge"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/phases/network"
	"github.com/fvdeploy/fvdeploy/internal/phases/phasetest"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The emulator (moto) is thinner than AWS here, and these tests say where:
//   - ACM issues a certificate at once (MOTO_ACM_VALIDATION_WAIT=0), whether or not its
//     validation CNAME exists or the zone is delegated; the wait for ISSUED and its
//     timeout are covered by TestEdgeWaitIssued with SDK middleware stubs instead.
//   - Every certificate of the account gets the same validation CNAME.
//   - ACM deletes a certificate a listener uses (its InUseBy is set by CreateListener and
//     never cleared) and WAF deletes an ACL still associated: the teardown order AWS
//     insists on is proven from the recorded calls, not from a refusal. (Route 53 does
//     refuse to delete a zone that still holds records, as AWS does.)
//   - Route 53 GetChange answers INSYNC at once; nothing resolves the names.

const edgeDomain = "api.example.com"

// edgeInputs are prod's Inputs (WAF on) with a domain, on a clean emulator.
func edgeInputs(t *testing.T) *kit.Inputs {
	t.Helper()
	in, _ := phasetest.NewTestInputs(t, "prod", nil)
	in.Config.Edge.Domain = edgeDomain
	return in
}

// edgeBeside is a fresh Inputs of prod with a domain, as a new process would have, on the
// same emulator, with its own call recorder.
func edgeBeside(t *testing.T, domain string) (*kit.Inputs, *callLog) {
	t.Helper()
	in, _ := phasetest.InputsBeside(t, "prod", nil)
	in.Config.Edge.Domain = domain
	return in, logCalls(in)
}

// callLog records, in order, each operation with the ID it acts on.
// callLog holds "Service.Operation\tid" lines.
type callLog struct{ *phasetest.CallTrace }

func logCalls(in *kit.Inputs) *callLog {
	return &callLog{phasetest.TraceCalls(in, func(ctx context.Context, params any) string {
		return awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx) + "\t" + edgeParamID(params)
	})}
}

func edgeParamID(p any) string {
	switch v := p.(type) {
	case *elbv2.DeleteListenerInput:
		return aws.ToString(v.ListenerArn)
	case *elbv2.ModifyListenerInput:
		return aws.ToString(v.ListenerArn) + " " + kit.ActionString(v.DefaultActions)
	case *elbv2.DeleteLoadBalancerInput:
		return aws.ToString(v.LoadBalancerArn)
	case *acm.DeleteCertificateInput:
		return aws.ToString(v.CertificateArn)
	case *wafv2.DisassociateWebACLInput:
		return aws.ToString(v.ResourceArn)
	case *wafv2.DeleteWebACLInput:
		return aws.ToString(v.Id)
	case *route53.ChangeResourceRecordSetsInput:
		var parts []string
		for _, c := range v.ChangeBatch.Changes {
			parts = append(parts, string(c.Action)+" "+string(c.ResourceRecordSet.Type))
		}
		return aws.ToString(v.HostedZoneId) + " " + strings.Join(parts, ",")
	case *route53.DeleteHostedZoneInput:
		return aws.ToString(v.Id)
	}
	return ""
}

// mutating lists the calls that may change something, as the recorder judges them.
func (l *callLog) mutating() []string {
	var out []string
	for _, c := range l.All() {
		op, _, _ := strings.Cut(c, "\t")
		_, name, _ := strings.Cut(op, ".")
		if !slices.ContainsFunc([]string{"Describe", "List", "Get"}, func(p string) bool { return strings.HasPrefix(name, p) }) {
			out = append(out, c)
		}
	}
	return out
}

// index is the position of the first (last) call starting with prefix, or -1.
func (l *callLog) index(prefix string, last bool) int {
	i := -1
	for j, c := range l.All() {
		if strings.HasPrefix(c, prefix) {
			i = j
			if !last {
				break
			}
		}
	}
	return i
}

// before asserts that the last call starting with a comes before the first starting with b.
func (l *callLog) before(t *testing.T, a, b string) {
	t.Helper()
	i, j := l.index(a, true), l.index(b, false)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q (call %d) before %q (call %d); calls:\n%s", a, i, b, j, strings.Join(l.All(), "\n"))
	}
}

// edgeView is what the AWS API, never state, says the edge is.
type edgeView struct {
	zones     map[string]string // name -> ID
	records   map[string]r53types.ResourceRecordSet
	certs     []string // ARNs
	listeners map[int32]elbtypes.Listener
	acls      []waftypes.WebACL
	aclOnALB  string
}

func describeEdge(t *testing.T, in *kit.Inputs, zoneName string, doc *state.Document) *edgeView {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	v := &edgeView{zones: map[string]string{}, records: map[string]r53types.ResourceRecordSet{}, listeners: map[int32]elbtypes.Listener{}}
	r53 := in.AWS.Route53()
	zones, err := r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	must(err)
	for _, z := range zones.HostedZones {
		v.zones[edge.DNSName(aws.ToString(z.Name))] = edge.ZoneID(aws.ToString(z.Id))
	}
	if id := v.zones[zoneName]; id != "" {
		rrs, err := r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: &id})
		must(err)
		for _, rr := range rrs.ResourceRecordSets {
			v.records[string(rr.Type)+" "+edge.DNSName(aws.ToString(rr.Name))] = rr
		}
	}
	certs, err := in.AWS.ACM().ListCertificates(ctx, &acm.ListCertificatesInput{})
	must(err)
	for _, c := range certs.CertificateSummaryList {
		v.certs = append(v.certs, aws.ToString(c.CertificateArn))
	}
	if lb := doc.Resources[kit.KeyALB]; lb != nil {
		ls, err := in.AWS.ELB().DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &lb.ARN})
		must(err)
		for _, l := range ls.Listeners {
			v.listeners[aws.ToInt32(l.Port)] = l
		}
		assoc, err := in.AWS.WAF().GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: &lb.ARN})
		must(err)
		if assoc.WebACL != nil {
			v.aclOnALB = aws.ToString(assoc.WebACL.ARN)
		}
	}
	acls, err := in.AWS.WAF().ListWebACLs(ctx, &wafv2.ListWebACLsInput{Scope: waftypes.ScopeRegional})
	must(err)
	for _, s := range acls.WebACLs {
		out, err := in.AWS.WAF().GetWebACL(ctx, &wafv2.GetWebACLInput{Name: s.Name, Id: s.Id, Scope: waftypes.ScopeRegional})
		must(err)
		v.acls = append(v.acls, *out.WebACL)
	}
	return v
}

// checkEdge verifies through the AWS API that the edge in front of doc's ALB is the one
// of the design, with the domain's records in zoneName, and returns what it saw.
func checkEdge(t *testing.T, in *kit.Inputs, doc *state.Document, zoneName string, rateLimit int64) *edgeView {
	t.Helper()
	v := describeEdge(t, in, zoneName, doc)
	lb, tg := doc.Resources[kit.KeyALB], doc.Resources[kit.KeyTG]
	if len(v.certs) != 1 {
		t.Fatalf("certificates %v, want 1", v.certs)
	}
	certARN := v.certs[0]
	c, err := in.AWS.ACM().DescribeCertificate(context.Background(), &acm.DescribeCertificateInput{CertificateArn: &certARN})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(c.Certificate.DomainName); got != edgeDomain || c.Certificate.Status != "ISSUED" {
		t.Errorf("certificate for %s is %s, want %s ISSUED", got, c.Certificate.Status, edgeDomain)
	}
	for _, o := range c.Certificate.DomainValidationOptions {
		rr := o.ResourceRecord
		got, ok := v.records["CNAME "+edge.DNSName(aws.ToString(rr.Name))]
		if !ok || len(got.ResourceRecords) != 1 || aws.ToString(got.ResourceRecords[0].Value) != aws.ToString(rr.Value) {
			t.Errorf("zone %s lacks the validation CNAME %s -> %s: %+v", zoneName, aws.ToString(rr.Name), aws.ToString(rr.Value), got)
		}
	}
	for _, typ := range []string{"A", "AAAA"} {
		rr, ok := v.records[typ+" "+edgeDomain]
		if !ok || rr.AliasTarget == nil || edge.DNSName(aws.ToString(rr.AliasTarget.DNSName)) != "dualstack."+lb.Attrs["dns_name"] ||
			aws.ToString(rr.AliasTarget.HostedZoneId) != lb.Attrs["zone_id"] || !rr.AliasTarget.EvaluateTargetHealth {
			t.Errorf("%s %s is %+v, want an alias of dualstack.%s (zone %s) evaluating target health", typ, edgeDomain, rr.AliasTarget, lb.Attrs["dns_name"], lb.Attrs["zone_id"])
		}
	}

	https, ok := v.listeners[443]
	var certs []string
	for _, c := range https.Certificates {
		certs = append(certs, aws.ToString(c.CertificateArn))
	}
	if policy := in.Config.Edge.TLSPolicy; !ok || https.Protocol != elbtypes.ProtocolEnumHttps || aws.ToString(https.SslPolicy) != policy ||
		!slices.Equal(certs, []string{certARN}) || kit.ActionString(https.DefaultActions) != "forward "+tg.ARN {
		t.Errorf("listener 443: %s %s certificates %v %s; want HTTPS with %s, %s, forwarding to %s",
			https.Protocol, aws.ToString(https.SslPolicy), certs, kit.ActionString(https.DefaultActions), certARN, policy, tg.ARN)
	}
	http := v.listeners[80]
	if len(http.DefaultActions) != 1 || http.DefaultActions[0].RedirectConfig == nil {
		t.Fatalf("listener 80 does %s, want a redirect", kit.ActionString(http.DefaultActions))
	}
	rc := http.DefaultActions[0].RedirectConfig
	if rc.StatusCode != elbtypes.RedirectActionStatusCodeEnumHttp301 || aws.ToString(rc.Protocol) != "HTTPS" || aws.ToString(rc.Port) != "443" ||
		aws.ToString(rc.Host) != "#{host}" || aws.ToString(rc.Path) != "/#{path}" || aws.ToString(rc.Query) != "#{query}" {
		t.Errorf("listener 80 does %s, want a 301 to HTTPS:443 keeping host, path and query", kit.ActionString(http.DefaultActions))
	}

	if len(v.acls) != 1 || v.aclOnALB != aws.ToString(v.acls[0].ARN) {
		t.Fatalf("%d web ACLs, the ALB has %q; want one, on the ALB", len(v.acls), v.aclOnALB)
	}
	checkRules(t, v.acls[0], rateLimit)
	return v
}

// checkRules reads the ACL's rules independently of ruleString.
func checkRules(t *testing.T, acl waftypes.WebACL, rateLimit int64) {
	t.Helper()
	var groups []string
	var rate *waftypes.RateBasedStatement
	for _, r := range acl.Rules {
		vc := r.VisibilityConfig
		if vc == nil || !vc.CloudWatchMetricsEnabled || !vc.SampledRequestsEnabled {
			t.Errorf("rule %s: metrics or sampled requests off: %+v", aws.ToString(r.Name), vc)
		}
		switch st := r.Statement; {
		case st.ManagedRuleGroupStatement != nil:
			if r.OverrideAction == nil || r.OverrideAction.None == nil {
				t.Errorf("rule %s overrides its group's actions", aws.ToString(r.Name))
			}
			groups = append(groups, aws.ToString(st.ManagedRuleGroupStatement.VendorName)+"/"+aws.ToString(st.ManagedRuleGroupStatement.Name))
		case st.RateBasedStatement != nil:
			if r.Action == nil || r.Action.Block == nil {
				t.Errorf("rate rule %s does not block", aws.ToString(r.Name))
			}
			rate = st.RateBasedStatement
		}
	}
	slices.Sort(groups)
	if want := []string{"AWS/AWSManagedRulesCommonRuleSet", "AWS/AWSManagedRulesKnownBadInputsRuleSet", "AWS/AWSManagedRulesSQLiRuleSet"}; !slices.Equal(groups, want) {
		t.Errorf("managed groups %v, want %v", groups, want)
	}
	if rate == nil || aws.ToInt64(rate.Limit) != rateLimit || rate.AggregateKeyType != waftypes.RateBasedStatementAggregateKeyTypeIp || rate.EvaluationWindowSec != 300 {
		t.Errorf("rate rule %+v, want %d per IP over 300 s", rate, rateLimit)
	}
	if acl.DefaultAction == nil || acl.DefaultAction.Allow == nil || acl.VisibilityConfig == nil || !acl.VisibilityConfig.CloudWatchMetricsEnabled || !acl.VisibilityConfig.SampledRequestsEnabled {
		t.Errorf("ACL default action %+v, visibility %+v; want allow with metrics and sampling", acl.DefaultAction, acl.VisibilityConfig)
	}
}

func edgeKeys(doc *state.Document) []string {
	var keys []string
	for k := range doc.Resources {
		if strings.HasPrefix(k, "edge/") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func edgeRecordIDs(doc *state.Document) map[string]string {
	out := map[string]string{}
	for _, k := range edgeKeys(doc) {
		r := doc.Resources[k]
		out[k] = r.ID + " " + r.ARN + " " + edge.EncodeRecords(r.Attrs)
	}
	return out
}

func TestEdgeDeclare(t *testing.T) {
	in, _ := phasetest.NewTestInputs(t, "dev", nil)
	keys := func() []string {
		var out []string
		for _, r := range phasetest.Declared(t, in, "edge") {
			out = append(out, r.Key())
		}
		return out
	}
	if got := keys(); len(got) != 0 {
		t.Errorf("dev without a domain declares %v, want nothing", got)
	}
	in.Config.Edge.WAF = true
	if got := keys(); !slices.Equal(got, []string{edge.KeyWAFACL, edge.KeyWAFAssoc}) {
		t.Errorf("WAF without a domain declares %v", got)
	}
	in.Config.Edge.Domain = edgeDomain
	if got := keys(); len(got) != 7 {
		t.Errorf("domain and WAF declare %v, want 7 resources", got)
	}
	// What an earlier config created stays deletable when the current one declares none
	// of its types.
	in.Config.Edge.Domain, in.Config.Edge.WAF = "", false
	deleters, err := phases.Deleters(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range edge.Deleters(in) {
		if deleters[r.Type()] == nil {
			t.Errorf("no deleter for %s (%s)", r.Type(), r.Key())
		}
	}
}

// TestEdgeApply: a domain with no zone in the account gets a zone of its own, and the
// edge is complete; a second run makes no mutating call and reads sparingly; destroy
// deletes everything in an order AWS accepts.
func TestEdgeApply(t *testing.T) {
	in := edgeInputs(t)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	if z := doc.Resources[edge.KeyZone]; z.Attrs["owned"] != "true" || z.Attrs["name"] != edgeDomain || z.Attrs["name_servers"] == "" {
		t.Errorf("zone record %+v, want an owned zone for %s with its name servers", z, edgeDomain)
	}
	checkEdge(t, in, doc, edgeDomain, 1000)

	again, calls := edgeBeside(t, edgeDomain)
	res := phasetest.ApplyPhases(t, again, doc, "network", "edge")
	if res.Changed() {
		t.Errorf("second apply changed something: %+v", res.Items)
	}
	if m := calls.mutating(); len(m) > 0 {
		t.Errorf("second apply made mutating calls: %v", m)
	}
	n := len(phasetest.Declared(t, again, "network", "edge"))
	t.Logf("no-op apply: %d read calls for %d resources", len(calls.All()), n)
	if reads := len(calls.All()); reads > n*3/2 {
		t.Errorf("no-op apply made %d read calls for %d resources, want at most %d:\n%s", reads, n, n*3/2, strings.Join(calls.All(), "\n"))
	}
	plan, err := phasetest.NewEngine(t, again).Plan(context.Background(), phasetest.Declared(t, again, "network", "edge"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	if plan.Changed() {
		t.Errorf("plan after convergence: %+v", plan.Items)
	}

	ids := edgeRecordIDs(doc)
	zone, lbARN := doc.Resources[edge.KeyZone].ID, doc.Resources[kit.KeyALB].ARN
	https, cert := doc.Resources[kit.KeyListenerHTTPS].ARN, doc.Resources[edge.KeyCertificate].ARN
	aclID := doc.Resources[edge.KeyWAFACL].ID
	phasetest.DestroyAll(t, again, doc)
	if v := describeEdge(t, again, edgeDomain, doc); len(v.zones) != 0 || len(v.certs) != 0 || len(v.acls) != 0 {
		t.Errorf("destroy left zones %v, certificates %v, %d web ACLs", v.zones, v.certs, len(v.acls))
	}
	calls.before(t, "Elastic Load Balancing v2.DeleteListener\t"+https, "ACM.DeleteCertificate\t"+cert)
	calls.before(t, "WAFV2.DisassociateWebACL\t"+lbARN, "WAFV2.DeleteWebACL\t"+aclID)
	calls.before(t, "WAFV2.DisassociateWebACL\t"+lbARN, "Elastic Load Balancing v2.DeleteLoadBalancer\t"+lbARN)
	calls.before(t, "Elastic Load Balancing v2.DeleteListener\t"+https, "Elastic Load Balancing v2.DeleteLoadBalancer\t"+lbARN)
	calls.before(t, "Route 53.ChangeResourceRecordSets\t"+zone+" DELETE CNAME", "Route 53.DeleteHostedZone\t"+zone)
	calls.before(t, "Route 53.ChangeResourceRecordSets\t"+zone+" DELETE A,DELETE AAAA", "Route 53.DeleteHostedZone\t"+zone)
	if t.Failed() {
		t.Logf("state before destroy: %v", ids)
	}
}

// TestEdgeAdoptsParentZone: the longest public zone the domain ends in is used as it is,
// someone else's records in it are left alone, and destroy never deletes it.
func TestEdgeAdoptsParentZone(t *testing.T) {
	ctx := context.Background()
	in := edgeInputs(t)
	in.Config.Edge.WAF = false
	r53 := in.AWS.Route53()
	mkZone := func(name string) string {
		t.Helper()
		out, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(name), CallerReference: aws.String("test-" + name)})
		if err != nil {
			t.Fatal(err)
		}
		return edge.ZoneID(aws.ToString(out.HostedZone.Id))
	}
	parent := mkZone("example.com")
	mkZone("other-api.example.com") // a sibling, not a suffix of the domain
	theirs := r53types.ResourceRecordSet{Name: aws.String("www.example.com"), Type: r53types.RRTypeA, TTL: aws.Int64(60),
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.10")}}}
	if _, err := r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: &parent, ChangeBatch: &r53types.ChangeBatch{
		Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &theirs}},
	}}); err != nil {
		t.Fatal(err)
	}

	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	if z := doc.Resources[edge.KeyZone]; z.ID != parent || z.Attrs["owned"] != "false" {
		t.Errorf("zone record %+v, want example.com (%s) adopted, not owned", z, parent)
	}
	v := describeEdge(t, in, "example.com", doc)
	if len(v.zones) != 2 {
		t.Errorf("zones %v: fvdeploy created one next to the parent's", v.zones)
	}
	for _, k := range []string{"A " + edgeDomain, "AAAA " + edgeDomain} {
		if _, ok := v.records[k]; !ok {
			t.Errorf("the parent zone lacks %s", k)
		}
	}

	phasetest.DestroyAll(t, in, doc)
	v = describeEdge(t, in, "example.com", doc)
	if v.zones["example.com"] != parent {
		t.Fatalf("destroy deleted the parent zone: %v", v.zones)
	}
	var left []string
	for k := range v.records {
		left = append(left, k)
	}
	slices.Sort(left)
	if want := []string{"A www.example.com", "NS example.com", "SOA example.com"}; !slices.Equal(left, want) {
		t.Errorf("parent zone after destroy holds %v, want %v", left, want)
	}
	if len(v.certs) != 0 {
		t.Errorf("destroy left certificates %v", v.certs)
	}
}

// TestEdgeRefusesForeignRecord: an A record someone else made for the domain is reported,
// not overwritten.
func TestEdgeRefusesForeignRecord(t *testing.T) {
	ctx := context.Background()
	in := edgeInputs(t)
	r53 := in.AWS.Route53()
	out, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.com"), CallerReference: aws.String("test")})
	if err != nil {
		t.Fatal(err)
	}
	zone := edge.ZoneID(aws.ToString(out.HostedZone.Id))
	if _, err := r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: &zone, ChangeBatch: &r53types.ChangeBatch{
		Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(edgeDomain), Type: r53types.RRTypeA, TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.10")}},
		}}},
	}}); err != nil {
		t.Fatal(err)
	}
	doc := phasetest.NewDoc(in)
	res, err := phasetest.NewEngine(t, in).Apply(ctx, phasetest.Declared(t, in, "network", "edge"), doc, func(context.Context, *state.Document) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "fvdeploy did not create") {
		t.Errorf("apply over someone else's A record: %v", err)
	}
	if v := describeEdge(t, in, "example.com", doc); len(v.records["A "+edgeDomain].ResourceRecords) != 1 {
		t.Errorf("the foreign A record was changed: %+v", v.records["A "+edgeDomain])
	}
}

// TestEdgeRateLimitInPlace: a new rate limit shows in the plan on the rule it changes and
// is applied with one UpdateWebACL to the same ACL.
func TestEdgeRateLimitInPlace(t *testing.T) {
	in := edgeInputs(t)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	arn := doc.Resources[edge.KeyWAFACL].ARN

	again, calls := edgeBeside(t, edgeDomain)
	again.Config.Edge.WAFRateLimit = 2000
	plan, err := phasetest.NewEngine(t, again).Plan(context.Background(), phasetest.Declared(t, again, "network", "edge"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	var changed []string
	for _, it := range plan.Items {
		if it.Action != engine.NoOp {
			changed = append(changed, it.Key+" "+string(it.Action))
			for _, c := range it.Changes {
				changed = append(changed, c.String())
			}
		}
	}
	if len(changed) != 2 || changed[0] != edge.KeyWAFACL+" update" || !strings.HasPrefix(changed[1], "rule rate-limit-per-ip:") ||
		!strings.Contains(changed[1], "1000 requests") || !strings.Contains(changed[1], "2000 requests") {
		t.Errorf("plan shows %v, want the rate rule of %s updated from 1000 to 2000", changed, edge.KeyWAFACL)
	}
	phasetest.ApplyPhases(t, again, doc, "network", "edge")
	var ops []string
	for _, c := range calls.mutating() {
		op, _, _ := strings.Cut(c, "\t")
		ops = append(ops, op)
	}
	if !slices.Equal(ops, []string{"WAFV2.UpdateWebACL"}) {
		t.Errorf("rate limit change made %v, want one UpdateWebACL", ops)
	}
	if doc.Resources[edge.KeyWAFACL].ARN != arn {
		t.Errorf("ACL ARN %s -> %s, want the same ACL", arn, doc.Resources[edge.KeyWAFACL].ARN)
	}
	checkEdge(t, again, doc, edgeDomain, 2000)
}

// TestEdgeDomainRemoved: without the domain, port 80 forwards again before 443 goes, and
// the listener, records, certificate and the zone fvdeploy created are pruned; the WAF
// stays while it is on, and goes when it is switched off.
func TestEdgeDomainRemoved(t *testing.T) {
	in := edgeInputs(t)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	http, https := doc.Resources[kit.KeyListenerHTTP].ARN, doc.Resources[kit.KeyListenerHTTPS].ARN
	zone, cert := doc.Resources[edge.KeyZone].ID, doc.Resources[edge.KeyCertificate].ARN

	again, calls := edgeBeside(t, "")
	phasetest.ApplyPhases(t, again, doc, "network", "edge")
	if got, want := edgeKeys(doc), []string{edge.KeyWAFACL, edge.KeyWAFAssoc}; !slices.Equal(got, want) {
		t.Errorf("edge state %v, want %v", got, want)
	}
	v := describeEdge(t, again, edgeDomain, doc)
	if _, ok := v.listeners[443]; ok || len(v.listeners) != 1 || kit.ActionString(v.listeners[80].DefaultActions) != "forward "+doc.Resources[kit.KeyTG].ARN {
		t.Errorf("listeners %v; want only 80, forwarding", slices.Sorted(maps.Keys(v.listeners)))
	}
	if len(v.zones) != 0 || len(v.certs) != 0 {
		t.Errorf("zones %v and certificates %v left", v.zones, v.certs)
	}
	if len(v.acls) != 1 || v.aclOnALB == "" {
		t.Errorf("WAF removed with the domain: %d ACLs, ALB has %q", len(v.acls), v.aclOnALB)
	}
	calls.before(t, "Elastic Load Balancing v2.ModifyListener\t"+http+" forward", "Elastic Load Balancing v2.DeleteListener\t"+https)
	calls.before(t, "Elastic Load Balancing v2.DeleteListener\t"+https, "ACM.DeleteCertificate\t"+cert)
	calls.before(t, "Route 53.ChangeResourceRecordSets\t"+zone+" DELETE", "Route 53.DeleteHostedZone\t"+zone)

	off, _ := edgeBeside(t, "")
	off.Config.Edge.WAF = false
	phasetest.ApplyPhases(t, off, doc, "network", "edge")
	if got := edgeKeys(doc); len(got) != 0 {
		t.Errorf("edge state with WAF off: %v", got)
	}
	if v := describeEdge(t, off, edgeDomain, doc); len(v.acls) != 0 || v.aclOnALB != "" {
		t.Errorf("WAF off left %d ACLs, ALB has %q", len(v.acls), v.aclOnALB)
	}
	phasetest.CheckNetwork(t, off, "prod", 2, true)
}

// TestEdgeNewNames: a new SAN needs a new certificate; the listener moves to it once it
// is issued, and only then is the old one deleted. The validation CNAME of the new name
// is added.
func TestEdgeNewNames(t *testing.T) {
	in := edgeInputs(t)
	in.Config.Edge.WAF = false
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	old, https := doc.Resources[edge.KeyCertificate].ARN, doc.Resources[kit.KeyListenerHTTPS].ARN

	again, calls := edgeBeside(t, edgeDomain)
	again.Config.Edge.WAF = false
	again.Config.Edge.SANs = []string{"www." + edgeDomain}
	phasetest.ApplyPhases(t, again, doc, "network", "edge")
	cur := doc.Resources[edge.KeyCertificate]
	if cur.ARN == old || cur.Attrs["names"] != edgeDomain+",www."+edgeDomain {
		t.Errorf("certificate %s for %s; want a new one for both names", cur.ARN, cur.Attrs["names"])
	}
	v := describeEdge(t, again, edgeDomain, doc)
	if !slices.Equal(v.certs, []string{cur.ARN}) {
		t.Errorf("certificates %v, want only %s", v.certs, cur.ARN)
	}
	if l := v.listeners[443]; len(l.Certificates) != 1 || aws.ToString(l.Certificates[0].CertificateArn) != cur.ARN {
		t.Errorf("443 uses %+v, want %s", l.Certificates, cur.ARN)
	}
	for name := range edge.DecodeRecords(cur.Attrs["validation"]) {
		if _, ok := v.records["CNAME "+name]; !ok {
			t.Errorf("no validation CNAME %s", name)
		}
	}
	calls.before(t, "Elastic Load Balancing v2.ModifyListener\t"+https, "ACM.DeleteCertificate\t"+old)
	calls.before(t, "Route 53.ChangeResourceRecordSets", "Elastic Load Balancing v2.ModifyListener\t"+https)

	// Dropping the SAN again removes the CNAME written for it.
	var wwwRecord string
	for name := range edge.DecodeRecords(cur.Attrs["validation"]) {
		if strings.HasSuffix(name, ".www."+edgeDomain) {
			wwwRecord = "CNAME " + name
		}
	}
	if wwwRecord == "" {
		t.Fatalf("no validation record for www.%s in %s", edgeDomain, cur.Attrs["validation"])
	}
	back, _ := edgeBeside(t, edgeDomain)
	back.Config.Edge.WAF = false
	phasetest.ApplyPhases(t, back, doc, "network", "edge")
	v = describeEdge(t, back, edgeDomain, doc)
	if _, ok := v.records[wwwRecord]; ok || len(v.certs) != 1 || doc.Resources[edge.KeyCertificate].Attrs["names"] != edgeDomain {
		t.Errorf("after dropping the SAN: %s still there (%v), certificates %v for %s", wwwRecord, ok, v.certs, doc.Resources[edge.KeyCertificate].Attrs["names"])
	}
	if owned := edge.DecodeRecords(doc.Resources[edge.KeyCertRecords].Attrs["owned"]); len(owned) != 1 {
		t.Errorf("validation records owned: %v, want one", owned)
	}
}

// TestEdgeLostState: with state lost, every edge object is found again (the zone by the
// caller reference fvdeploy gave it, the certificate and ACL by their tags, records by
// name) and nothing is created.
func TestEdgeLostState(t *testing.T) {
	in := edgeInputs(t)
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	want := edgeRecordIDs(doc)
	for _, k := range edgeKeys(doc) {
		delete(doc.Resources, k)
	}
	again, calls := edgeBeside(t, edgeDomain)
	phasetest.ApplyPhases(t, again, doc, "network", "edge")
	if m := calls.mutating(); len(m) > 0 {
		t.Errorf("adoption made mutating calls: %v", m)
	}
	if got := edgeRecordIDs(doc); !maps.Equal(got, want) {
		t.Errorf("state after adoption\n%v\nwant\n%v", got, want)
	}
}

// TestEdgeWaitIssued covers what the emulator cannot: a certificate that stays
// PENDING_VALIDATION for a while. The ACM client answers from SDK middleware stubs.
func TestEdgeWaitIssued(t *testing.T) {
	stub := func(statuses ...string) (*acm.Client, *int) {
		calls := new(int)
		c := acm.New(acm.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("stubDescribeCertificate",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					st := statuses[min(*calls, len(statuses)-1)]
					*calls++
					return middleware.InitializeOutput{Result: &acm.DescribeCertificateOutput{Certificate: stubCert(st)}}, middleware.Metadata{}, nil
				}), middleware.Before)
		}}})
		return c, calls
	}
	var said []string
	in := &kit.Inputs{PollInterval: 1, Progress: func(f string, a ...any) { said = append(said, f) }}
	zone := &state.Resource{ID: "Z1", Attrs: map[string]string{"name": edgeDomain, "name_servers": "ns-1.example.net,ns-2.example.org"}}

	t.Run("issued", func(t *testing.T) {
		c, calls := stub("PENDING_VALIDATION", "PENDING_VALIDATION", "ISSUED")
		if err := edge.WaitIssued(context.Background(), in, c, "arn:aws:acm:us-east-1:123456789012:certificate/x", zone); err != nil {
			t.Fatal(err)
		}
		if *calls != 3 || len(said) == 0 || !strings.Contains(said[0], "waiting for") {
			t.Errorf("%d calls, progress %v; want 3 polls and progress", *calls, said)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c, _ := stub("PENDING_VALIDATION")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := edge.WaitIssued(ctx, in, c, "arn:aws:acm:us-east-1:123456789012:certificate/x", zone)
		if err == nil {
			t.Fatal("no error from a certificate that is never issued")
		}
		for _, want := range []string{"PENDING_VALIDATION", "dig +short NS " + edgeDomain, "ns-1.example.net ns-2.example.org", "fvdeploy up"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("timeout message lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("failed", func(t *testing.T) {
		c, _ := stub("PENDING_VALIDATION", "FAILED")
		err := edge.WaitIssued(context.Background(), in, c, "arn:aws:acm:us-east-1:123456789012:certificate/x", zone)
		if err == nil || !strings.Contains(err.Error(), "FAILED") || strings.Contains(err.Error(), "dig") {
			t.Errorf("failed certificate: %v", err)
		}
	})
}

func stubCert(status string) *acmtypes.CertificateDetail {
	return &acmtypes.CertificateDetail{
		CertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/x"),
		DomainName:     aws.String(edgeDomain),
		Status:         acmtypes.CertificateStatus(status),
		DomainValidationOptions: []acmtypes.DomainValidation{{
			DomainName: aws.String(edgeDomain), ValidationStatus: acmtypes.DomainStatus(status),
		}},
	}
}

// TestEdgeDrift: records, port 80 and the TLS policy changed out of band show in the plan
// by name, and apply puts them back.
func TestEdgeDrift(t *testing.T) {
	ctx := context.Background()
	in := edgeInputs(t)
	in.Config.Edge.WAF = false
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	zone, tg, http := doc.Resources[edge.KeyZone].ID, doc.Resources[kit.KeyTG].ARN, doc.Resources[kit.KeyListenerHTTP].ARN
	sets, err := edge.RecordSets(ctx, in.AWS.Route53(), zone, edgeDomain, r53types.RRTypeAaaa)
	if err != nil || len(sets) != 1 {
		t.Fatal(err, sets)
	}
	aaaa := sets[r53types.RRTypeAaaa]
	if _, err := in.AWS.Route53().ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: &zone, ChangeBatch: &r53types.ChangeBatch{
		Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: &aaaa}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.AWS.ELB().ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: &http, DefaultActions: kit.ForwardTo(tg)}); err != nil {
		t.Fatal(err)
	}
	in.Config.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"

	plan, err := phasetest.NewEngine(t, in).Plan(ctx, phasetest.Declared(t, in, "network", "edge"), doc)
	if err != nil || plan.Err() != nil {
		t.Fatal(err, plan.Err())
	}
	got := map[string][]string{}
	for _, it := range plan.Items {
		if it.Action != engine.NoOp {
			for _, c := range it.Changes {
				got[it.Key+" "+string(it.Action)] = append(got[it.Key+" "+string(it.Action)], c.Field)
			}
		}
	}
	want := map[string][]string{
		edge.KeyDNS + " update":          {"AAAA " + edgeDomain},
		kit.KeyListenerHTTP + " update":  {"default_action"},
		kit.KeyListenerHTTPS + " update": {"ssl_policy", edge.AttrPort80},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("plan changes %v, want %v", got, want)
	}
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	in.Config.Edge.WAF = true // checkEdge wants the WAF: apply it too
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	checkEdge(t, in, doc, edgeDomain, 1000)
}

// TestEdgeExplicitZone: edge.zone_id wins over the longest matching zone.
func TestEdgeExplicitZone(t *testing.T) {
	ctx := context.Background()
	in := edgeInputs(t)
	in.Config.Edge.WAF = false
	var ids []string
	for _, name := range []string{"example.com", edgeDomain} {
		out, err := in.AWS.Route53().CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(name), CallerReference: aws.String("test-" + name)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, edge.ZoneID(aws.ToString(out.HostedZone.Id)))
	}
	in.Config.Edge.ZoneID = ids[0]
	doc := phasetest.NewDoc(in)
	phasetest.ApplyPhases(t, in, doc, "network", "edge")
	if z := doc.Resources[edge.KeyZone]; z.ID != ids[0] || z.Attrs["owned"] != "false" {
		t.Errorf("zone %+v, want example.com (%s), not owned", z, ids[0])
	}
	if v := describeEdge(t, in, "example.com", doc); v.records["A "+edgeDomain].AliasTarget == nil {
		t.Errorf("no alias for %s in example.com", edgeDomain)
	}
}

// TestEdgePort80 is the rule for port 80: redirect only with a domain and a 443 listener.
func TestEdgePort80(t *testing.T) {
	with443 := []elbtypes.Listener{{Port: aws.Int32(80)}, {Port: aws.Int32(443)}}
	for _, tc := range []struct {
		domain    string
		listeners []elbtypes.Listener
		want      string
	}{
		{edgeDomain, with443, "redirect HTTPS://#{host}:443/#{path}?#{query} HTTP_301"},
		{edgeDomain, with443[:1], "forward tg"},
		{"", with443, "forward tg"},
	} {
		r := &network.ListenerHTTP{In: &kit.Inputs{Config: &config.Config{Edge: config.Edge{Domain: tc.domain}}}}
		if got := kit.ActionString(r.DefaultActions("tg", tc.listeners)); got != tc.want {
			t.Errorf("domain %q, %d listeners: %s, want %s", tc.domain, len(tc.listeners), got, tc.want)
		}
	}
}
