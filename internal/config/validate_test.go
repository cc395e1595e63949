package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		env    string // "" means hml
		change func(c *Config)
		want   string // the one expected problem; "" means valid
	}{
		"env unknown": {change: func(c *Config) { c.Env = "qa" }, want: `env: unknown environment "qa" (want dev, hml or prod)`},

		"app one letter":      {change: func(c *Config) { c.App = "a" }},
		"app 20 chars":        {change: func(c *Config) { c.App = "abcdefghij-klmnopq12" }},
		"app 21 chars":        {change: func(c *Config) { c.App = "abcdefghij-klmnopq123" }, want: `app: "abcdefghij-klmnopq123": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"app empty":           {change: func(c *Config) { c.App = "" }, want: `app: "": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"app starts digit":    {change: func(c *Config) { c.App = "1app" }, want: `app: "1app": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"app ends hyphen":     {change: func(c *Config) { c.App = "app-" }, want: `app: "app-": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"app uppercase":       {change: func(c *Config) { c.App = "App" }, want: `app: "App": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"app underscore":      {change: func(c *Config) { c.App = "my_app" }, want: `app: "my_app": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`},
		"region us-east-1":    {change: func(c *Config) { c.Region = "us-east-1" }},
		"region us-gov":       {change: func(c *Config) { c.Region = "us-gov-west-1" }},
		"region uppercase":    {change: func(c *Config) { c.Region = "US-EAST-1" }, want: `region: "US-EAST-1" is not an AWS region name like us-east-1`},
		"region no hyphens":   {change: func(c *Config) { c.Region = "useast1" }, want: `region: "useast1" is not an AWS region name like us-east-1`},
		"vpc /24":             {change: func(c *Config) { c.Network.VPCCIDR = "172.16.5.0/24" }},
		"vpc not a CIDR":      {change: func(c *Config) { c.Network.VPCCIDR = "10.0.0.0/33" }, want: `network.vpc_cidr: "10.0.0.0/33" is not a valid CIDR`},
		"vpc host bits":       {change: func(c *Config) { c.Network.VPCCIDR = "10.0.0.1/16" }, want: `network.vpc_cidr: "10.0.0.1/16" has host bits set (did you mean 10.0.0.0/16?)`},
		"vpc too large":       {change: func(c *Config) { c.Network.VPCCIDR = "10.0.0.0/8" }, want: `network.vpc_cidr: "10.0.0.0/8": want an IPv4 block from /16 to /24, with room for the public and private subnets`},
		"vpc too small":       {change: func(c *Config) { c.Network.VPCCIDR = "10.0.0.0/25" }, want: `network.vpc_cidr: "10.0.0.0/25": want an IPv4 block from /16 to /24, with room for the public and private subnets`},
		"vpc ipv6":            {change: func(c *Config) { c.Network.VPCCIDR = "fd00::/20" }, want: `network.vpc_cidr: "fd00::/20": want an IPv4 block from /16 to /24, with room for the public and private subnets`},
		"az 3":                {change: func(c *Config) { c.Network.AZCount = 3 }},
		"rotation negative":   {change: func(c *Config) { c.Secrets.RotationDays = -1 }, want: `secrets.rotation_days: -1 is out of range (want 0 to 1000)`},
		"az 1":                {change: func(c *Config) { c.Network.AZCount = 1 }, want: `network.az_count: 1 is out of range (want 2 to 3)`},
		"az 4":                {change: func(c *Config) { c.Network.AZCount = 4 }, want: `network.az_count: 4 is out of range (want 2 to 3)`},
		"nat per_az":          {change: func(c *Config) { c.Network.NAT = NATPerAZ }},
		"nat none":            {change: func(c *Config) { c.Network.NAT = "none" }, want: `network.nat: "none": want single or per_az`},
		"fargate 1024/3072":   {change: func(c *Config) { c.Service.CPU, c.Service.Memory = 1024, 3072 }},
		"fargate 4096/30720":  {change: func(c *Config) { c.Service.CPU, c.Service.Memory = 4096, 30720 }},
		"fargate 16384 max":   {change: func(c *Config) { c.Service.CPU, c.Service.Memory = 16384, 122880 }},
		"fargate bad cpu":     {change: func(c *Config) { c.Service.CPU = 300 }, want: `service.cpu: 300 is not a Fargate CPU size (want 256, 512, 1024, 2048, 4096, 8192 or 16384)`},
		"fargate 256/4096":    {change: func(c *Config) { c.Service.Memory = 4096 }, want: `service.memory: 4096 does not go with cpu 256 (want 512, 1024 or 2048)`},
		"fargate 256/1536":    {change: func(c *Config) { c.Service.Memory = 1536 }, want: `service.memory: 1536 does not go with cpu 256 (want 512, 1024 or 2048)`},
		"fargate 8192/20000":  {change: func(c *Config) { c.Service.CPU, c.Service.Memory = 8192, 20000 }, want: `service.memory: 20000 does not go with cpu 8192 (want 16384 to 61440 in steps of 4096)`},
		"fargate 512/512":     {change: func(c *Config) { c.Service.CPU = 512 }, want: `service.memory: 512 does not go with cpu 512 (want 1024, 2048, 3072 or 4096)`},
		"tasks dev 1":         {env: "dev"},
		"tasks hml 1":         {change: func(c *Config) { c.Service.Min, c.Service.Desired = 1, 1 }},
		"tasks 100":           {change: func(c *Config) { c.Service.Max = 100 }},
		"tasks min 0":         {change: func(c *Config) { c.Service.Min = 0 }, want: `service.min: 0 is out of range (want 1 to 100)`},
		"tasks max 101":       {change: func(c *Config) { c.Service.Max = 101 }, want: `service.max: 101 is out of range (want 1 to 100)`},
		"tasks min > desired": {change: func(c *Config) { c.Service.Min = 3 }, want: `service.min: 3 is above service.desired (2)`},
		"tasks desired > max": {change: func(c *Config) { c.Service.Desired = 5 }, want: `service.desired: 5 is above service.max (4)`},
		"prod min 1":          {env: "prod", change: func(c *Config) { c.Service.Min = 1 }, want: `service.min: prod needs at least 2 tasks for high availability`},
		"cpu target 10":       {change: func(c *Config) { c.Service.CPUTarget = 10 }},
		"cpu target 90":       {change: func(c *Config) { c.Service.CPUTarget = 90 }},
		"cpu target 9":        {change: func(c *Config) { c.Service.CPUTarget = 9 }, want: `service.cpu_target: 9 is out of range (want 10 to 90)`},
		"cpu target 91":       {change: func(c *Config) { c.Service.CPUTarget = 91 }, want: `service.cpu_target: 91 is out of range (want 10 to 90)`},
		"port 65535":          {change: func(c *Config) { c.Service.ContainerPort = 65535 }},
		"port 0":              {change: func(c *Config) { c.Service.ContainerPort = 0 }, want: `service.container_port: 0 is out of range (want 1 to 65535)`},
		"port 65536":          {change: func(c *Config) { c.Service.ContainerPort = 65536 }, want: `service.container_port: 65536 is out of range (want 1 to 65535)`},
		"health path /":       {change: func(c *Config) { c.Service.HealthCheckPath = "/" }},
		"health path no /":    {change: func(c *Config) { c.Service.HealthCheckPath = "health" }, want: `service.health_check_path: "health": want a path starting with /`},
		"interval 5":          {change: func(c *Config) { c.Service.HealthCheckInterval = 5 }},
		"interval 300":        {change: func(c *Config) { c.Service.HealthCheckInterval = 300 }},
		"interval 4":          {change: func(c *Config) { c.Service.HealthCheckInterval = 4 }, want: `service.health_check_interval: 4 is out of range (want 5 to 300)`},
		"interval 301":        {change: func(c *Config) { c.Service.HealthCheckInterval = 301 }, want: `service.health_check_interval: 301 is out of range (want 5 to 300)`},
		"threshold 10":        {change: func(c *Config) { c.Service.HealthyThreshold = 10 }},
		"strategy linear":     {change: func(c *Config) { c.Deploy.Strategy = StrategyLinear }},
		"strategy blue_green": {change: func(c *Config) { c.Deploy.Strategy = StrategyBlueGreen }},
		"strategy unknown":    {change: func(c *Config) { c.Deploy.Strategy = "bluegreen" }, want: `deploy.strategy: "bluegreen": want rolling, canary, linear, blue_green`},
		"canary 1":            {change: func(c *Config) { c.Deploy.CanaryPercent = 1 }},
		"canary 0":            {change: func(c *Config) { c.Deploy.CanaryPercent = 0 }, want: `deploy.canary_percent: 0 is out of range (want 1 to 99)`},
		"canary 100":          {change: func(c *Config) { c.Deploy.CanaryPercent = 100 }, want: `deploy.canary_percent: 100 is out of range (want 1 to 99)`},
		"linear step 3":       {change: func(c *Config) { c.Deploy.LinearStepPercent = 3 }},
		"linear step 2":       {change: func(c *Config) { c.Deploy.LinearStepPercent = 2 }, want: `deploy.linear_step_percent: 2 is out of range (want 3 to 99)`},
		"bake 1440":           {change: func(c *Config) { c.Deploy.BakeMinutes = 1440 }},
		"bake 1441":           {change: func(c *Config) { c.Deploy.BakeMinutes = 1441 }, want: `deploy.bake_minutes: 1441 is out of range (want 0 to 1440)`},
		"canary bake -1":      {change: func(c *Config) { c.Deploy.CanaryBakeMinutes = -1 }, want: `deploy.canary_bake_minutes: -1 is out of range (want 0 to 1440)`},
		"step bake 1441":      {change: func(c *Config) { c.Deploy.LinearStepBakeMinutes = 1441 }, want: `deploy.linear_step_bake_minutes: 1441 is out of range (want 0 to 1440)`},
		"threshold 2":         {change: func(c *Config) { c.Service.HealthyThreshold = 2 }},
		"threshold 1":         {change: func(c *Config) { c.Service.HealthyThreshold = 1 }, want: `service.healthy_threshold: 1 is out of range (want 2 to 10)`},
		"threshold 11":        {change: func(c *Config) { c.Service.HealthyThreshold = 11 }, want: `service.healthy_threshold: 11 is out of range (want 2 to 10)`},
		"deregistration 0":    {change: func(c *Config) { c.Service.DeregistrationDelay = 0 }},
		"deregistration 3600": {change: func(c *Config) { c.Service.DeregistrationDelay = 3600 }},
		"deregistration -1":   {change: func(c *Config) { c.Service.DeregistrationDelay = -1 }, want: `service.deregistration_delay: -1 is out of range (want 0 to 3600)`},
		"deregistration 3601": {change: func(c *Config) { c.Service.DeregistrationDelay = 3601 }, want: `service.deregistration_delay: 3601 is out of range (want 0 to 3600)`},
		"grace 0":             {change: func(c *Config) { c.Service.HealthCheckGracePeriod = 0 }},
		"grace -1":            {change: func(c *Config) { c.Service.HealthCheckGracePeriod = -1 }, want: `service.health_check_grace_period: -1 is out of range (want 0 to 2147483647)`},
		"scale in -1":         {change: func(c *Config) { c.Service.ScaleInCooldown = -1 }, want: `service.scale_in_cooldown: -1 is out of range (want 0 to 2147483647)`},
		"scale out -1":        {change: func(c *Config) { c.Service.ScaleOutCooldown = -1 }, want: `service.scale_out_cooldown: -1 is out of range (want 0 to 2147483647)`},
		"egress several":      {change: func(c *Config) { c.Service.EgressCIDRs = []string{"10.0.0.0/8", "::/0"} }},
		"egress none":         {change: func(c *Config) { c.Service.EgressCIDRs = nil }, want: `service.egress_cidrs: empty: tasks need outbound HTTPS to pull their image from ECR and read their secret`},
		"egress bad cidr":     {change: func(c *Config) { c.Service.EgressCIDRs = []string{"0.0.0.0/0", "anywhere"} }, want: `service.egress_cidrs[1]: "anywhere" is not a valid CIDR`},
		"egress ports":        {change: func(c *Config) { c.Service.EgressPorts = []int{80, 443} }},
		"egress 18 rules": {change: func(c *Config) {
			c.Service.EgressCIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15", "::/0"}
			c.Service.EgressPorts = []int{443, 5432, 6379}
		}},
		"egress 20 rules": {change: func(c *Config) {
			c.Service.EgressCIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15"}
			c.Service.EgressPorts = []int{443, 5432, 6379, 9200}
		}, want: `service.egress_cidrs: 5 CIDRs × 4 ports make 20 outbound rules, more than the 18 a network ACL holds beside its own two`},
		"egress no 443":       {change: func(c *Config) { c.Service.EgressPorts = []int{80} }, want: `service.egress_ports: must include 443: tasks pull their image from ECR and read their secret over HTTPS`},
		"egress port 0":       {change: func(c *Config) { c.Service.EgressPorts = []int{443, 0} }, want: `service.egress_ports[1]: 0 is out of range (want 1 to 65535)`},
		"domain":              {change: func(c *Config) { c.Edge.Domain = "api.example.com" }},
		"domain uppercase":    {change: func(c *Config) { c.Edge.Domain = "API.example.com" }, want: `edge.domain: "API.example.com" is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"domain one label":    {change: func(c *Config) { c.Edge.Domain = "localhost" }, want: `edge.domain: "localhost" is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"domain hyphen":       {change: func(c *Config) { c.Edge.Domain = "-api.example.com" }, want: `edge.domain: "-api.example.com" is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"domain empty label":  {change: func(c *Config) { c.Edge.Domain = "api..com" }, want: `edge.domain: "api..com" is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"domain trailing dot": {change: func(c *Config) { c.Edge.Domain = "example.com." }, want: `edge.domain: "example.com." is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"domain label 64":     {change: func(c *Config) { c.Edge.Domain = strings.Repeat("a", 64) + ".com" }, want: `edge.domain: "` + strings.Repeat("a", 64) + `.com" is not a DNS name like api.example.com (lowercase, no trailing dot)`},
		"zone with domain":    {change: func(c *Config) { c.Edge.Domain, c.Edge.ZoneID = "example.com", "Z0123456789ABC" }},
		"zone bad":            {change: func(c *Config) { c.Edge.Domain, c.Edge.ZoneID = "example.com", "/hostedzone/Z1" }, want: `edge.zone_id: "/hostedzone/Z1" is not a Route 53 hosted zone ID like Z0123456789ABCDEFGHIJ`},
		"zone without domain": {change: func(c *Config) { c.Edge.ZoneID = "Z0123456789ABC" }, want: `edge.zone_id: set without edge.domain`},
		"waf without domain":  {env: "dev", change: func(c *Config) { c.Edge.WAF = true }},
		"retention 3653":      {change: func(c *Config) { c.Logs.RetentionDays = 3653 }},
		"retention 10":        {change: func(c *Config) { c.Logs.RetentionDays = 10 }, want: `logs.retention_days: 10 is not a CloudWatch Logs retention period (want 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)`},
		"alarm cpu 100":       {change: func(c *Config) { c.Alarms.CPUPercent = 100 }},
		"alarm cpu 0":         {change: func(c *Config) { c.Alarms.CPUPercent = 0 }, want: `alarms.cpu_percent: 0 is out of range (want 1 to 100)`},
		"alarm memory 101":    {change: func(c *Config) { c.Alarms.MemoryPercent = 101 }, want: `alarms.memory_percent: 101 is out of range (want 1 to 100)`},
		"alarm latency 0":     {change: func(c *Config) { c.Alarms.P95LatencyMS = 0 }, want: `alarms.p95_latency_ms: 0 is out of range (want 1 to 2147483647)`},
		"alarm 5xx 0":         {change: func(c *Config) { c.Alarms.HTTP5xxCount = 0 }, want: `alarms.http_5xx_count: 0 is out of range (want 1 to 2147483647)`},
		"email":               {change: func(c *Config) { c.Alarms.Email = []string{"ops@example.com", "a.b+c@x.example.org"} }},
		"email no at":         {change: func(c *Config) { c.Alarms.Email = []string{"ops"} }, want: `alarms.email[0]: "ops" is not an email address`},
		"email no dot":        {change: func(c *Config) { c.Alarms.Email = []string{"ops@example.com", "ops@localhost"} }, want: `alarms.email[1]: "ops@localhost" is not an email address`},
		"https":               {change: func(c *Config) { c.Alarms.HTTPS = []string{"https://hooks.example.com/alarm?x=1"} }},
		"https plain http":    {change: func(c *Config) { c.Alarms.HTTPS = []string{"http://hooks.example.com"} }, want: `alarms.https[0]: "http://hooks.example.com" is not an https:// URL`},
		"https no host":       {change: func(c *Config) { c.Alarms.HTTPS = []string{"https://"} }, want: `alarms.https[0]: "https://" is not an https:// URL`},
		"repo":                {change: func(c *Config) { c.CICD.GitHubRepo = "fvdeploy/fastapi-vars.go" }},
		"repo no owner":       {change: func(c *Config) { c.CICD.GitHubRepo = "fastapi-vars" }, want: `cicd.github_repo: "fastapi-vars": want owner/name of a GitHub repository`},
		"repo three parts":    {change: func(c *Config) { c.CICD.GitHubRepo = "a/b/c" }, want: `cicd.github_repo: "a/b/c": want owner/name of a GitHub repository`},
		"repo dot dot":        {change: func(c *Config) { c.CICD.GitHubRepo = "a/.." }, want: `cicd.github_repo: "a/..": want owner/name of a GitHub repository`},
		"branches wildcard":   {change: func(c *Config) { c.CICD.Branches = []string{"main", "release/*"} }},
		"branches none":       {change: func(c *Config) { c.CICD.Branches = nil }},
		"branches none repo":  {change: func(c *Config) { c.CICD.GitHubRepo, c.CICD.Branches = "o/n", nil }, want: `cicd.branches: empty: the deploy role would trust no branch of o/n`},
		"branch empty":        {change: func(c *Config) { c.CICD.Branches = []string{"main", ""} }, want: `cicd.branches[1]: "" is not a branch name`},
		"branch space":        {change: func(c *Config) { c.CICD.Branches = []string{"my branch"} }, want: `cicd.branches[0]: "my branch" is not a branch name`},
		"tag pattern":         {change: func(c *Config) { c.CICD.Tags = []string{"v*", "release-*"} }},
		"managers role": {change: func(c *Config) {
			c.Secrets.Managers = []string{"arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*Admin*"}
		}},
		"managers user root": {change: func(c *Config) {
			c.Secrets.Managers = []string{"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:root"}
		}},
		"managers name only": {change: func(c *Config) { c.Secrets.Managers = []string{"deployer"} }, want: `secrets.managers[0]: "deployer": want the ARN (or an ArnLike pattern) of an IAM principal, e.g. arn:aws:iam::123456789012:role/admin`},
		"managers wildcard":  {change: func(c *Config) { c.Secrets.Managers = []string{"*"} }, want: `secrets.managers[0]: "*": want the ARN (or an ArnLike pattern) of an IAM principal, e.g. arn:aws:iam::123456789012:role/admin`},
		"managers session":   {change: func(c *Config) { c.Secrets.Managers = []string{"arn:aws:sts::123456789012:assumed-role/r/s"} }, want: `secrets.managers[0]: "arn:aws:sts::123456789012:assumed-role/r/s": want the ARN (or an ArnLike pattern) of an IAM principal, e.g. arn:aws:iam::123456789012:role/admin`},
		"tag empty":          {change: func(c *Config) { c.CICD.Tags = []string{""} }, want: `cicd.tags[0]: "" is not a tag pattern`},
		"sans": {change: func(c *Config) {
			c.Edge.Domain, c.Edge.SANs = "api.example.com", []string{"www.example.com", "*.example.com"}
		}},
		"sans no domain":     {change: func(c *Config) { c.Edge.SANs = []string{"www.example.com"} }, want: `edge.sans: set without edge.domain`},
		"sans bad":           {change: func(c *Config) { c.Edge.Domain, c.Edge.SANs = "api.example.com", []string{"no spaces.com"} }, want: `edge.sans[0]: "no spaces.com" is not a DNS name like www.example.com or *.example.com`},
		"tls policy current": {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-3-2021-06" }},
		"tls policy fips pq": {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09" }},
		"tls policy 1.2 fs":  {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-FS-1-2-Res-2020-10" }},
		"tls policy old":     {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-2016-08" }, want: tlsPolicyError("ELBSecurityPolicy-2016-08")},
		// Names a pattern would have let through: TLS 1.0/1.1 under a TLS13 name, a typo.
		"tls policy tls13 1.0": {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09" }, want: tlsPolicyError("ELBSecurityPolicy-TLS13-1-0-PQ-2025-09")},
		"tls policy tls13 1.1": {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-1-2021-06" }, want: tlsPolicyError("ELBSecurityPolicy-TLS13-1-1-2021-06")},
		"tls policy fs 1.1":    {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-FS-1-1-2019-08" }, want: tlsPolicyError("ELBSecurityPolicy-FS-1-1-2019-08")},
		"tls policy typo":      {change: func(c *Config) { c.Edge.TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-9" }, want: tlsPolicyError("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-9")},
		"waf rate too low":     {change: func(c *Config) { c.Edge.WAFRateLimit = 5 }, want: `edge.waf_rate_limit: 5 is out of range (want 10 to 2000000000)`},
		"waf logs":             {change: func(c *Config) { c.Edge.WAF, c.Edge.WAFLogs = true, true }},
		"waf logs no waf":      {change: func(c *Config) { c.Edge.WAF, c.Edge.WAFLogs = false, true }, want: `edge.waf_logs: on while edge.waf is off: there is no web ACL to log`},
		"waf log expiry 0":     {change: func(c *Config) { c.Edge.WAFLogExpiryDays = 0 }, want: `edge.waf_log_expiry_days: 0 is out of range (want 1 to 3650)`},
		"periods":              {change: func(c *Config) { c.Alarms.EvaluationPeriods, c.Alarms.DatapointsToAlarm = 10, 10 }},
		"periods 0":            {change: func(c *Config) { c.Alarms.EvaluationPeriods = 0 }, want: `alarms.evaluation_periods: 0 is out of range (want 1 to 100)`},
		"datapoints above":     {change: func(c *Config) { c.Alarms.DatapointsToAlarm = 6 }, want: `alarms.datapoints_to_alarm: 6: want 1 to alarms.evaluation_periods (5)`},
		"kms alias":            {change: func(c *Config) { c.Observability.KMSKeyID = "alias/ops-logs" }},
		"kms arn": {change: func(c *Config) {
			c.Observability.KMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}},
		"kms bad":              {change: func(c *Config) { c.Observability.KMSKeyID = "my key" }, want: `observability.kms_key_id: "my key" is not a KMS key ID, key ARN or alias/NAME`},
		"image repo nested":    {change: func(c *Config) { c.Image.Repository = "team/fastapi-vars" }},
		"image repo upper":     {change: func(c *Config) { c.Image.Repository = "Team/api" }, want: `image.repository: "Team/api" is not an ECR repository name (lowercase letters, digits, and . _ - / between them)`},
		"image repo slash":     {change: func(c *Config) { c.Image.Repository = "api/" }, want: `image.repository: "api/" is not an ECR repository name (lowercase letters, digits, and . _ - / between them)`},
		"image registry":       {change: func(c *Config) { c.Image.Registry = "127.0.0.1:5000" }},
		"image registry ecr":   {change: func(c *Config) { c.Image.Registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com" }},
		"image registry url":   {change: func(c *Config) { c.Image.Registry = "https://registry.example.com" }, want: `image.registry: "https://registry.example.com": want a registry host[:port], without a scheme or path`},
		"image arm64":          {change: func(c *Config) { c.Image.Platform = "linux/arm64" }},
		"image platform":       {change: func(c *Config) { c.Image.Platform = "linux/386" }, want: `image.platform: "linux/386": want linux/amd64 or linux/arm64 (what Fargate runs)`},
		"image keep 0":         {change: func(c *Config) { c.Image.Keep = 0 }, want: `image.keep: 0 is out of range (want 1 to 1000)`},
		"image build arg":      {change: func(c *Config) { c.Image.BuildArgs = []string{"BASE_IMAGE=python:3.12-slim", "EMPTY="} }},
		"image build arg no =": {change: func(c *Config) { c.Image.BuildArgs = []string{"BASE_IMAGE"} }, want: `image.build_args[0]: "BASE_IMAGE": want NAME=VALUE`},
		"env":                  {change: func(c *Config) { c.Service.Env = map[string]string{"LOG_LEVEL": "debug", "_X1": ""} }},
		"env bad name":         {change: func(c *Config) { c.Service.Env = map[string]string{"1X": "a"} }, want: `service.env.1X: not a valid environment variable name (letters, digits and _, not starting with a digit)`},
		"env dash":             {change: func(c *Config) { c.Service.Env = map[string]string{"LOG-LEVEL": "a"} }, want: `service.env.LOG-LEVEL: not a valid environment variable name (letters, digits and _, not starting with a digit)`},
		"env admin pass":       {change: func(c *Config) { c.Service.Env = map[string]string{"ADMIN_PASS": "a"} }, want: `service.env.ADMIN_PASS: set by fvdeploy from the admin secret`},
		"env fvdeploy":         {change: func(c *Config) { c.Service.Env = map[string]string{"FVDEPLOY_TRACING": "false"} }, want: `service.env.FVDEPLOY_TRACING: set by fvdeploy itself`},
		"env otel no tracing":  {change: func(c *Config) { c.Service.Env = map[string]string{"OTEL_SERVICE_NAME": "x"} }},
		"env otel tracing": {change: func(c *Config) {
			c.Observability.Tracing, c.Service.Env = true, map[string]string{"OTEL_SERVICE_NAME": "x"}
		}, want: `service.env.OTEL_SERVICE_NAME: set by fvdeploy itself`},
		"env aws": {change: func(c *Config) { c.Service.Env = map[string]string{"AWS_REGION": "x"} }, want: `service.env.AWS_REGION: AWS_ and ECS_ names are reserved for AWS and the ECS agent`},
		"env ecs": {change: func(c *Config) { c.Service.Env = map[string]string{"ECS_AGENT": "x"} }, want: `service.env.ECS_AGENT: AWS_ and ECS_ names are reserved for AWS and the ECS agent`},
		"secrets named": {change: func(c *Config) {
			c.Service.Secrets = map[string]SecretRef{"DB_PASS": {Secret: "team/db", Key: "password"}}
		}},
		"secrets arn": {change: func(c *Config) {
			c.Service.Secrets = map[string]SecretRef{"DB_PASS": {Secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/db-AbCdEf", Key: "pass.word"}}
		}},
		"secrets own": {change: func(c *Config) {
			c.Service.Secrets = map[string]SecretRef{"API_TOKEN": {Key: "API_TOKEN"}, "APP_PASS": {Key: "ADMIN_PASS"}}
		}},
		"secrets bad name":   {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"db pass": {Key: "K"}} }, want: `service.secrets.db pass: not a valid environment variable name (letters, digits and _, not starting with a digit)`},
		"secrets admin user": {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"ADMIN_USER": {Key: "K"}} }, want: `service.secrets.ADMIN_USER: set by fvdeploy from the admin secret`},
		"secrets aws":        {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"AWS_SECRET_ACCESS_KEY": {Key: "K"}} }, want: `service.secrets.AWS_SECRET_ACCESS_KEY: AWS_ and ECS_ names are reserved for AWS and the ECS agent`},
		"secrets also env": {change: func(c *Config) {
			c.Service.Env, c.Service.Secrets = map[string]string{"K": "v"}, map[string]SecretRef{"K": {Key: "K"}}
		}, want: `service.secrets.K: K is also in service.env: a variable is either plain or secret`},
		"secrets bad secret": {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"K": {Secret: "my secret", Key: "k"}} }, want: `service.secrets.K.secret: "my secret" is not a secret name or a Secrets Manager secret ARN`},
		"secrets other arn": {change: func(c *Config) {
			c.Service.Secrets = map[string]SecretRef{"K": {Secret: "arn:aws:ssm:us-east-1:123456789012:parameter/x", Key: "k"}}
		}, want: `service.secrets.K.secret: "arn:aws:ssm:us-east-1:123456789012:parameter/x" is not a secret name or a Secrets Manager secret ARN`},
		"secrets no key":       {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"K": {Secret: "team/db"}} }, want: `service.secrets.K.key: "": want the secret's JSON key (letters, digits and _ . @ / + = -)`},
		"secrets key colon":    {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"K": {Secret: "team/db", Key: "a:b"}} }, want: `service.secrets.K.key: "a:b": want the secret's JSON key (letters, digits and _ . @ / + = -)`},
		"secrets own bad key":  {change: func(c *Config) { c.Service.Secrets = map[string]SecretRef{"K": {Key: "api.token"}} }, want: `service.secrets.K.key: "api.token": want the name of an environment variable (letters, digits, _), the one up stores in fastapi-vars-hml-admin`},
		"command":              {change: func(c *Config) { c.Service.Command = []string{"uvicorn", "app:app", ""} }, want: `service.command[2]: empty argument`},
		"image context":        {change: func(c *Config) { c.Image.Context, c.Image.Dockerfile = "services/api", "docker/Dockerfile.prod" }},
		"image context up":     {change: func(c *Config) { c.Image.Context = "../other" }, want: `image.context: "../other": want a folder inside the git repository, relative to its root`},
		"image context abs":    {change: func(c *Config) { c.Image.Context = "/srv/app" }, want: `image.context: "/srv/app": want a folder inside the git repository, relative to its root`},
		"image context empty":  {change: func(c *Config) { c.Image.Context = "" }, want: `image.context: "": want a folder inside the git repository, relative to its root`},
		"image dockerfile out": {change: func(c *Config) { c.Image.Dockerfile = "sub/../../Dockerfile" }, want: `image.dockerfile: "sub/../../Dockerfile": want a path inside image.context, relative to it`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := tt.env
			if env == "" {
				env = "hml"
			}
			c, err := Defaults(env)
			if err != nil {
				t.Fatal(err)
			}
			if tt.change != nil {
				tt.change(c)
			}
			err = c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want no error", err)
			case tt.want == "":
			case err == nil:
				t.Errorf("Validate() = nil, want %q", tt.want)
			case err.Error() != tt.want:
				t.Errorf("Validate() =\n%v\nwant\n%s", err, tt.want)
			case !errors.Is(err, ErrInvalid):
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c, _ := Defaults("prod")
	c.App = "Bad"
	c.Service.Min = 1
	c.Logs.RetentionDays = 2
	err := c.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v, want joined errors", err)
	}
	var fields []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%T is not a *FieldError", e)
		}
		fields = append(fields, fe.Field)
	}
	if got, want := strings.Join(fields, " "), "app service.min logs.retention_days"; got != want {
		t.Errorf("fields = %s, want %s", got, want)
	}
}

// tlsPolicyError is the error for a refused edge.tls_policy: it names every allowed policy.
func tlsPolicyError(name string) string {
	return `edge.tls_policy: "` + name + `" is not an ELB TLS policy that negotiates only TLS 1.2 or later (want one of ` +
		strings.Join(TLSPolicies(), ", ") + `)`
}

func TestTLSPolicies(t *testing.T) {
	// The default is AWS's current recommendation and on the list; every name is TLS 1.2+.
	for _, env := range []string{"dev", "hml", "prod"} {
		c, err := Defaults(env)
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Edge.TLSPolicy; d != "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09" || !CurrentTLSPolicy(d) {
			t.Errorf("%s: default TLS policy %q", env, d)
		}
	}
	for _, p := range TLSPolicies() {
		if !strings.HasPrefix(p, "ELBSecurityPolicy-TLS13-1-2-") && !strings.HasPrefix(p, "ELBSecurityPolicy-TLS13-1-3-") &&
			!strings.HasPrefix(p, "ELBSecurityPolicy-TLS-1-2-") && !strings.HasPrefix(p, "ELBSecurityPolicy-FS-1-2-") {
			t.Errorf("%s does not name a TLS 1.2+ policy family", p)
		}
	}
}
