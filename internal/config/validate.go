package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// The app name prefixes "<app>-<env>" resource names; ALB and target
	// group names are limited to 32 characters and to these characters.
	appName    = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$`)
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	dnsName    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	zoneID     = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	email      = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	githubRepo = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	// ECR's repository name rule.
	ecrRepository = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	registryHost  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[::1\])(:\d{1,5})?$`)
	buildArg      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	envName       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A secret's name, or its ARN (full, or partial without the random suffix).
	secretID  = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512})$`)
	secretKey = regexp.MustCompile(`^[A-Za-z0-9_.@/+=-]{1,256}$`)
	// An IAM principal's ARN in this or another account, as aws:PrincipalArn reads it:
	// users, roles (with path), the root, federated users; ArnLike wildcards allowed.
	principalPattern = regexp.MustCompile(`^arn:aws[a-z-]*:(iam::(\d{12}|\*):(root|user/\S+|role/\S+)|sts::(\d{12}|\*):federated-user/\S+)$`)
	kmsKey           = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$`)
)

// fargateMemory is the memory (MiB) Fargate accepts for each CPU size (CPU units).
var fargateMemory = map[int][]int{
	256:   {512, 1024, 2048},
	512:   steps(1024, 4096, 1024),
	1024:  steps(2048, 8192, 1024),
	2048:  steps(4096, 16384, 1024),
	4096:  steps(8192, 30720, 1024),
	8192:  steps(16384, 61440, 4096),
	16384: steps(32768, 122880, 8192),
}

// retentionDays are the values CloudWatch Logs accepts for a log group.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// maxEgressRules is what AWS's default quota of 20 rules a direction per network ACL
// leaves for service.egress_cidrs × service.egress_ports.
const maxEgressRules = 18

// Validate checks every value and returns all problems joined, each a
// *FieldError. A problem with a value read from a file names its line.
func (c *Config) Validate() error {
	v := &validator{origins: c.origins}
	_, known := envDefaults[c.Env]
	v.check(known, "env", c.Env, "%v", &unknownEnvError{c.Env})
	v.check(appName.MatchString(c.App), "app", c.App,
		"%q: want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen", c.App)
	v.check(c.Region == "" || regionName.MatchString(c.Region), "region", c.Region,
		"%q is not an AWS region name like us-east-1", c.Region)

	n := c.Network
	if p, ok := v.cidr("network.vpc_cidr", n.VPCCIDR); ok {
		v.check(p.Addr().Is4() && p.Bits() >= 16 && p.Bits() <= 24, "network.vpc_cidr", n.VPCCIDR,
			"%q: want an IPv4 block from /16 to /24, with room for the public and private subnets", n.VPCCIDR)
	}
	v.between("network.az_count", n.AZCount, 2, 3)
	v.check(n.NAT == NATSingle || n.NAT == NATPerAZ, "network.nat", n.NAT,
		"%q: want %s or %s", n.NAT, NATSingle, NATPerAZ)

	v.between("secrets.rotation_days", c.Secrets.RotationDays, 0, 1000)

	s := c.Service
	if mems, ok := fargateMemory[s.CPU]; !ok {
		v.check(false, "service.cpu", s.CPU, "%d is not a Fargate CPU size (want %s)", s.CPU, list(slices.Sorted(maps.Keys(fargateMemory))))
	} else {
		v.check(slices.Contains(mems, s.Memory), "service.memory", s.Memory,
			"%d does not go with cpu %d (want %s)", s.Memory, s.CPU, list(mems))
	}
	v.between("service.min", s.Min, 1, 100)
	v.between("service.desired", s.Desired, 1, 100)
	v.between("service.max", s.Max, 1, 100)
	v.check(s.Min <= s.Desired, "service.min", s.Min, "%d is above service.desired (%d)", s.Min, s.Desired)
	v.check(s.Desired <= s.Max, "service.desired", s.Desired, "%d is above service.max (%d)", s.Desired, s.Max)
	v.check(c.Env != "prod" || s.Min >= 2, "service.min", s.Min, "prod needs at least 2 tasks for high availability")
	v.between("service.cpu_target", s.CPUTarget, 10, 90)
	v.between("service.container_port", s.ContainerPort, 1, 65535)
	v.check(strings.HasPrefix(s.HealthCheckPath, "/"), "service.health_check_path", s.HealthCheckPath,
		"%q: want a path starting with /", s.HealthCheckPath)
	v.between("service.health_check_interval", s.HealthCheckInterval, 5, 300)
	v.between("service.healthy_threshold", s.HealthyThreshold, 2, 10)
	v.between("service.deregistration_delay", s.DeregistrationDelay, 0, 3600)
	v.between("service.health_check_grace_period", s.HealthCheckGracePeriod, 0, math.MaxInt32)
	v.between("service.scale_in_cooldown", s.ScaleInCooldown, 0, math.MaxInt32)
	v.between("service.scale_out_cooldown", s.ScaleOutCooldown, 0, math.MaxInt32)
	// Without outbound HTTPS a task cannot even start: no image, no secret.
	v.check(len(s.EgressCIDRs) > 0, "service.egress_cidrs", s.EgressCIDRs,
		"empty: tasks need outbound HTTPS to pull their image from ECR and read their secret")
	for i, cidr := range s.EgressCIDRs {
		v.cidr(fmt.Sprintf("service.egress_cidrs[%d]", i), cidr)
	}
	v.check(slices.Contains(s.EgressPorts, 443), "service.egress_ports", s.EgressPorts,
		"must include 443: tasks pull their image from ECR and read their secret over HTTPS")
	for i, port := range s.EgressPorts {
		v.between(fmt.Sprintf("service.egress_ports[%d]", i), port, 1, 65535)
	}
	// Each CIDR and port is one outbound rule of the public subnets' network ACL, which
	// also needs one to the VPC and one for replies to the load balancer's clients.
	v.check(len(s.EgressCIDRs)*len(s.EgressPorts) <= maxEgressRules, "service.egress_cidrs", s.EgressCIDRs,
		"%d CIDRs × %d ports make %d outbound rules, more than the %d a network ACL holds beside its own two",
		len(s.EgressCIDRs), len(s.EgressPorts), len(s.EgressCIDRs)*len(s.EgressPorts), maxEgressRules)

	for _, name := range slices.Sorted(maps.Keys(s.Env)) {
		v.envName("service.env."+name, name, s.Env[name], c.Observability.Tracing)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Secrets)) {
		field, ref := "service.secrets."+name, s.Secrets[name]
		if !v.envName(field, name, name, c.Observability.Tracing) {
			continue
		}
		if _, dup := s.Env[name]; dup {
			v.check(false, field, name, "%s is also in service.env: a variable is either plain or secret", name)
			continue
		}
		v.check(ref.Secret == "" || secretID.MatchString(ref.Secret), field+".secret", ref.Secret,
			"%q is not a secret name or a Secrets Manager secret ARN", ref.Secret)
		if ref.Secret == "" {
			// up reads the value from the deployer's variable of that name.
			v.check(envName.MatchString(ref.Key), field+".key", ref.Key,
				"%q: want the name of an environment variable (letters, digits, _), the one up stores in %s-%s-admin", ref.Key, c.App, c.Env)
		} else {
			v.check(secretKey.MatchString(ref.Key), field+".key", ref.Key,
				"%q: want the secret's JSON key (letters, digits and _ . @ / + = -)", ref.Key)
		}
	}
	for i, arg := range s.Command {
		v.check(arg != "", fmt.Sprintf("service.command[%d]", i), arg, "empty argument")
	}

	d := c.Deploy
	strategies := []string{StrategyRolling, StrategyCanary, StrategyLinear, StrategyBlueGreen}
	v.check(slices.Contains(strategies, d.Strategy), "deploy.strategy", d.Strategy, "%q: want %s", d.Strategy, strings.Join(strategies, ", "))
	// ECS's ranges: a canary share from 0.1 to 100 %, a linear step from 3 to 100 %,
	// bake times up to a day. A 100 % canary or step would be blue_green by another name.
	v.between("deploy.canary_percent", d.CanaryPercent, 1, 99)
	v.between("deploy.linear_step_percent", d.LinearStepPercent, 3, 99)
	v.between("deploy.canary_bake_minutes", d.CanaryBakeMinutes, 0, 1440)
	v.between("deploy.linear_step_bake_minutes", d.LinearStepBakeMinutes, 0, 1440)
	v.between("deploy.bake_minutes", d.BakeMinutes, 0, 1440)

	e := c.Edge
	v.check(e.Domain == "" || len(e.Domain) <= 253 && dnsName.MatchString(e.Domain), "edge.domain", e.Domain,
		"%q is not a DNS name like api.example.com (lowercase, no trailing dot)", e.Domain)
	v.check(e.ZoneID == "" || zoneID.MatchString(e.ZoneID), "edge.zone_id", e.ZoneID,
		"%q is not a Route 53 hosted zone ID like Z0123456789ABCDEFGHIJ", e.ZoneID)
	v.check(e.ZoneID == "" || e.Domain != "", "edge.zone_id", e.ZoneID, "set without edge.domain")
	v.check(len(e.SANs) == 0 || e.Domain != "", "edge.sans", e.SANs, "set without edge.domain")
	for i, san := range e.SANs {
		v.check(len(san) <= 253 && dnsName.MatchString(strings.TrimPrefix(san, "*.")), fmt.Sprintf("edge.sans[%d]", i), san,
			"%q is not a DNS name like www.example.com or *.example.com", san)
	}
	v.check(CurrentTLSPolicy(e.TLSPolicy), "edge.tls_policy", e.TLSPolicy,
		"%q is not an ELB TLS policy that negotiates only TLS 1.2 or later (want one of %s)", e.TLSPolicy, strings.Join(TLSPolicies(), ", "))
	v.between("edge.waf_rate_limit", e.WAFRateLimit, 10, 2000000000)
	v.check(!e.WAFLogs || e.WAF, "edge.waf_logs", e.WAFLogs, "on while edge.waf is off: there is no web ACL to log")
	v.between("edge.waf_log_expiry_days", e.WAFLogExpiryDays, 1, 3650)

	v.check(slices.Contains(retentionDays, c.Logs.RetentionDays), "logs.retention_days", c.Logs.RetentionDays,
		"%d is not a CloudWatch Logs retention period (want %s)", c.Logs.RetentionDays, list(retentionDays))

	a := c.Alarms
	v.between("alarms.cpu_percent", a.CPUPercent, 1, 100)
	v.between("alarms.memory_percent", a.MemoryPercent, 1, 100)
	v.between("alarms.p95_latency_ms", a.P95LatencyMS, 1, math.MaxInt32)
	v.between("alarms.http_5xx_count", a.HTTP5xxCount, 1, math.MaxInt32)
	v.between("alarms.evaluation_periods", a.EvaluationPeriods, 1, 100)
	// Only against a valid evaluation_periods, or one mistake would read as two.
	v.check(a.EvaluationPeriods < 1 || a.DatapointsToAlarm >= 1 && a.DatapointsToAlarm <= a.EvaluationPeriods, "alarms.datapoints_to_alarm", a.DatapointsToAlarm,
		"%d: want 1 to alarms.evaluation_periods (%d)", a.DatapointsToAlarm, a.EvaluationPeriods)
	v.check(c.Observability.KMSKeyID == "" || kmsKey.MatchString(c.Observability.KMSKeyID), "observability.kms_key_id", c.Observability.KMSKeyID,
		"%q is not a KMS key ID, key ARN or alias/NAME", c.Observability.KMSKeyID)
	for i, addr := range a.Email {
		v.check(email.MatchString(addr), fmt.Sprintf("alarms.email[%d]", i), addr, "%q is not an email address", addr)
	}
	for i, raw := range a.HTTPS {
		u, err := url.Parse(raw)
		v.check(err == nil && strings.HasPrefix(raw, "https://") && u.Host != "", fmt.Sprintf("alarms.https[%d]", i), raw,
			"%q is not an https:// URL", raw)
	}

	im := c.Image
	v.check(im.Repository == "" || len(im.Repository) >= 2 && len(im.Repository) <= 256 && ecrRepository.MatchString(im.Repository), "image.repository", im.Repository,
		"%q is not an ECR repository name (lowercase letters, digits, and . _ - / between them)", im.Repository)
	v.check(im.Registry == "" || registryHost.MatchString(im.Registry), "image.registry", im.Registry,
		"%q: want a registry host[:port], without a scheme or path", im.Registry)
	v.check(im.Platform == "linux/amd64" || im.Platform == "linux/arm64", "image.platform", im.Platform,
		"%q: want linux/amd64 or linux/arm64 (what Fargate runs)", im.Platform)
	v.between("image.keep", im.Keep, 1, 1000)
	for i, arg := range im.BuildArgs {
		v.check(buildArg.MatchString(arg), fmt.Sprintf("image.build_args[%d]", i), arg, "%q: want NAME=VALUE", arg)
	}
	v.check(filepath.IsLocal(im.Context), "image.context", im.Context,
		"%q: want a folder inside the git repository, relative to its root", im.Context)
	v.check(filepath.IsLocal(im.Dockerfile), "image.dockerfile", im.Dockerfile,
		"%q: want a path inside image.context, relative to it", im.Dockerfile)

	for i, m := range c.Secrets.Managers {
		v.check(principalPattern.MatchString(m), fmt.Sprintf("secrets.managers[%d]", i), m,
			"%q: want the ARN (or an ArnLike pattern) of an IAM principal, e.g. arn:aws:iam::123456789012:role/admin", m)
	}

	ci := c.CICD
	_, name, _ := strings.Cut(ci.GitHubRepo, "/")
	v.check(ci.GitHubRepo == "" || githubRepo.MatchString(ci.GitHubRepo) && name != "." && name != "..", "cicd.github_repo", ci.GitHubRepo,
		"%q: want owner/name of a GitHub repository", ci.GitHubRepo)
	v.check(ci.GitHubRepo == "" || len(ci.Branches) > 0, "cicd.branches", ci.Branches,
		"empty: the deploy role would trust no branch of %s", ci.GitHubRepo)
	for i, b := range ci.Branches {
		v.check(b != "" && !strings.ContainsAny(b, " \t\r\n"), fmt.Sprintf("cicd.branches[%d]", i), b,
			"%q is not a branch name", b)
	}
	for i, t := range ci.Tags {
		v.check(t != "" && !strings.ContainsAny(t, " \t\r\n"), fmt.Sprintf("cicd.tags[%d]", i), t,
			"%q is not a tag pattern", t)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	origins map[string]origin
	errs    []error
}

// check records a problem with field unless ok. val is the field's current
// value: the file's line is cited only while the value is the one read there
// (the CLI may have replaced it, e.g. with --region).
func (v *validator) check(ok bool, field string, val any, format string, args ...any) {
	if ok {
		return
	}
	e := &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	if o, found := v.origins[field]; found && reflect.DeepEqual(o.val, val) {
		e.File, e.Line = o.file, o.line
	}
	v.errs = append(v.errs, e)
}

// reservedEnv are the app container's variables fvdeploy sets itself.
var reservedEnv = []string{"ADMIN_USER", "ADMIN_PASS", "ADMIN_PASS_PREVIOUS"}

// envName checks the name of an app container variable; val is the field's value for the
// file's line. It reports whether the name is good.
func (v *validator) envName(field, name string, val any, tracing bool) bool {
	var reason string
	switch {
	case !envName.MatchString(name):
		reason = "not a valid environment variable name (letters, digits and _, not starting with a digit)"
	case slices.Contains(reservedEnv, name):
		reason = "set by fvdeploy from the admin secret"
	case strings.HasPrefix(name, "FVDEPLOY_") || tracing && name == "OTEL_SERVICE_NAME":
		reason = "set by fvdeploy itself"
	case strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "ECS_"):
		reason = "AWS_ and ECS_ names are reserved for AWS and the ECS agent"
	}
	v.check(reason == "", field, val, "%s", reason)
	return reason == ""
}

func (v *validator) between(field string, n, lo, hi int) {
	v.check(lo <= n && n <= hi, field, n, "%d is out of range (want %d to %d)", n, lo, hi)
}

// cidr checks that s is a CIDR block in canonical form, which EC2 insists on.
func (v *validator) cidr(field, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		v.check(false, field, s, "%q is not a valid CIDR", s)
	case p != p.Masked():
		v.check(false, field, s, "%q has host bits set (did you mean %s?)", s, p.Masked())
	default:
		return p, true
	}
	return p, false
}

func steps(lo, hi, step int) []int {
	var out []int
	for n := lo; n <= hi; n += step {
		out = append(out, n)
	}
	return out
}

// list renders allowed values for a message: "a, b or c", or as a range
// when they are evenly spaced and too many to read.
func list(ns []int) string {
	even := len(ns) > 4
	for i := 2; even && i < len(ns); i++ {
		even = ns[i]-ns[i-1] == ns[1]-ns[0]
	}
	if even {
		return fmt.Sprintf("%d to %d in steps of %d", ns[0], ns[len(ns)-1], ns[1]-ns[0])
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// tlsPolicies are AWS's predefined ELB security policies whose lowest protocol is TLS 1.2
// (AWS's published list for Application Load Balancers, December 2026). A list, not a
// pattern: ELB refuses any other name, and a pattern would pass a typo or an older
// policy with a modern-looking name (TLS13-1-0, TLS13-1-1 and FS-1-1 allow TLS 1.0/1.1).
var tlsPolicies = []string{
	// TLS 1.3 and 1.2, hybrid post-quantum key exchange (2025-09). Res-PQ is AWS's recommendation.
	"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
	// TLS 1.3 and 1.2, classical key exchange.
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
	// TLS 1.2 only.
	"ELBSecurityPolicy-TLS-1-2-2017-01",
	"ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
	"ELBSecurityPolicy-FS-1-2-2019-08",
	"ELBSecurityPolicy-FS-1-2-Res-2019-08",
	"ELBSecurityPolicy-FS-1-2-Res-2020-10",
}

// TLSPolicies lists the ELB security policies edge.tls_policy accepts.
func TLSPolicies() []string { return slices.Clone(tlsPolicies) }

// CurrentTLSPolicy reports whether an ELB security policy is one fvdeploy accepts as
// current (TLS 1.2 or later); validate --security audits the live listener with it.
func CurrentTLSPolicy(name string) bool { return slices.Contains(tlsPolicies, name) }
