package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// inDir switches to a fresh directory holding fvdeploy.yaml with content, so
// that error messages name the file as users see it.
func inDir(t *testing.T, content string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(DefaultFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadValues(t *testing.T) {
	const layered = `
app: shop
service: {min: 3, desired: 3, max: 5}
logs:
  retention_days: 14
environments:
  prod:
    service: {max: 8}
    edge: {waf: false}
  dev:
    service: {min: 1, desired: 1}
    logs: {retention_days: 1}
`
	tests := map[string]struct {
		file   string
		env    string
		change func(c *Config) // from the env's defaults to the expected result
	}{
		"empty file":         {file: "", env: "prod"},
		"only comments":      {file: "# nothing here\n", env: "prod"},
		"empty document":     {file: "---\n", env: "dev"},
		"null sections":      {file: "service:\nalarms: ~\nenvironments:\n  dev:\n", env: "dev"},
		"explicit zeros":     {file: "service: {deregistration_delay: 0}\nalb: {deletion_protection: false}\n", env: "prod", change: func(c *Config) { c.Service.DeregistrationDelay = 0; c.ALB.DeletionProtection = false }},
		"empty list":         {file: "cicd: {branches: []}\n", env: "dev", change: func(c *Config) { c.CICD.Branches = []string{} }},
		"null list":          {file: "cicd: {branches: ~}\n", env: "dev", change: func(c *Config) { c.CICD.Branches = []string{} }},
		"numbers as strings": {file: "cicd: {branches: [2024, 1.0]}\n", env: "dev", change: func(c *Config) { c.CICD.Branches = []string{"2024", "1.0"} }},
		"app settings": {file: "service:\n  env: {A: x, B: 2}\n  secrets:\n    DB: {secret: team/db, key: pw}\n    TOKEN: {key: TOKEN}\n  command: [uvicorn, main:app]\n" +
			"image: {context: api, dockerfile: docker/Dockerfile}\nenvironments:\n  dev:\n    service:\n      env: {B: 3, C: y}\n", env: "dev", change: func(c *Config) {
			c.Service.Env = map[string]string{"A": "x", "B": "3", "C": "y"}
			c.Service.Secrets = map[string]SecretRef{"DB": {Secret: "team/db", Key: "pw"}, "TOKEN": {Key: "TOKEN"}}
			c.Service.Command = []string{"uvicorn", "main:app"}
			c.Image.Context, c.Image.Dockerfile = "api", "docker/Dockerfile"
		}},
		"layered dev": {file: layered, env: "dev", change: func(c *Config) {
			c.App = "shop"
			c.Service.Min, c.Service.Desired, c.Service.Max = 1, 1, 5
			c.Logs.RetentionDays = 1
		}},
		"layered hml": {file: layered, env: "hml", change: func(c *Config) {
			c.App = "shop"
			c.Service.Min, c.Service.Desired, c.Service.Max = 3, 3, 5
			c.Logs.RetentionDays = 14
		}},
		"layered prod": {file: layered, env: "prod", change: func(c *Config) {
			c.App = "shop"
			c.Service.Min, c.Service.Desired, c.Service.Max = 3, 3, 8
			c.Logs.RetentionDays = 14
			c.Edge.WAF = false
		}},
		"environments first in file": {file: "environments:\n  hml: {app: late}\napp: early\n", env: "hml", change: func(c *Config) { c.App = "late" }},
		"anchors":                    {file: "network: &net {az_count: 3}\nenvironments:\n  prod: {network: *net}\n", env: "prod", change: func(c *Config) { c.Network.AZCount = 3 }},
		"every field": {file: `
app: every-field
region: eu-west-3
network: {vpc_cidr: 10.20.0.0/20, az_count: 3, nat: per_az, ipv6: true, flow_logs: true}
service:
  cpu: 1024
  memory: 4096
  min: 3
  desired: 4
  max: 10
  cpu_target: 70
  container_port: 8080
  health_check_path: /healthz
  health_check_interval: 15
  healthy_threshold: 3
  deregistration_delay: 5
  health_check_grace_period: 120
  scale_in_cooldown: 600
  scale_out_cooldown: 30
  egress_cidrs: [10.0.0.0/8, 0.0.0.0/0]
  egress_ports: [443, 5432]
  env: {LOG_LEVEL: debug}
  secrets: {DB_PASS: {secret: team/db, key: password}}
  command: [uvicorn, main:app]
alb: {deletion_protection: true}
edge: {domain: api.example.com, zone_id: Z123ABC, waf: true, sans: [www.example.com], tls_policy: ELBSecurityPolicy-TLS13-1-3-2021-06, waf_rate_limit: 500,
  waf_logs: true, waf_log_expiry_days: 30}
logs: {retention_days: 90}
alarms:
  cpu_percent: 70
  memory_percent: 75
  p95_latency_ms: 500
  http_5xx_count: 5
  evaluation_periods: 10
  datapoints_to_alarm: 4
  email: [ops@example.com]
  https: ["https://hooks.example.com/x"]
  chat_relay: true
observability: {cloudtrail: true, container_insights: true, alb_access_logs: true, kms_key_id: alias/ops, tracing: true, guardrails: true}
cicd: {github_repo: fvdeploy/shop, branches: [main, release], tags: ["v*"]}
image: {repository: team/shop, registry: "127.0.0.1:5000", platform: linux/arm64, keep: 10, immutable_tags: false, build_args: [BASE_IMAGE=python:3.12-slim],
  context: services/api, dockerfile: Dockerfile.prod}
deploy: {strategy: linear, canary_percent: 5, canary_bake_minutes: 10, linear_step_percent: 20, linear_step_bake_minutes: 3, bake_minutes: 4}
secrets: {managers: ["arn:aws:iam::123456789012:role/admin*"]}
`, env: "dev", change: func(c *Config) {
			*c = Config{
				App: "every-field", Env: "dev", Region: "eu-west-3",
				Network: Network{VPCCIDR: "10.20.0.0/20", AZCount: 3, NAT: NATPerAZ, IPv6: true, FlowLogs: true},
				Service: Service{
					CPU: 1024, Memory: 4096, Min: 3, Desired: 4, Max: 10, CPUTarget: 70, ContainerPort: 8080,
					HealthCheckPath: "/healthz", HealthCheckInterval: 15, HealthyThreshold: 3, DeregistrationDelay: 5,
					HealthCheckGracePeriod: 120, ScaleInCooldown: 600, ScaleOutCooldown: 30,
					EgressCIDRs: []string{"10.0.0.0/8", "0.0.0.0/0"}, EgressPorts: []int{443, 5432},
					Env:     map[string]string{"LOG_LEVEL": "debug"},
					Secrets: map[string]SecretRef{"DB_PASS": {Secret: "team/db", Key: "password"}},
					Command: []string{"uvicorn", "main:app"},
				},
				Deploy: Deploy{Strategy: StrategyLinear, CanaryPercent: 5, CanaryBakeMinutes: 10, LinearStepPercent: 20, LinearStepBakeMinutes: 3, BakeMinutes: 4},
				ALB:    ALB{DeletionProtection: true},
				Edge: Edge{Domain: "api.example.com", ZoneID: "Z123ABC", SANs: []string{"www.example.com"},
					TLSPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06", WAF: true, WAFRateLimit: 500, WAFLogs: true, WAFLogExpiryDays: 30},
				Logs: Logs{RetentionDays: 90},
				Alarms: Alarms{CPUPercent: 70, MemoryPercent: 75, P95LatencyMS: 500, HTTP5xxCount: 5, EvaluationPeriods: 10, DatapointsToAlarm: 4,
					Email: []string{"ops@example.com"}, HTTPS: []string{"https://hooks.example.com/x"}, ChatRelay: true},
				Observability: Observability{CloudTrail: true, ContainerInsights: true, ALBAccessLogs: true, KMSKeyID: "alias/ops",
					Tracing: true, Guardrails: true},
				CICD: CICD{GitHubRepo: "fvdeploy/shop", Branches: []string{"main", "release"}, Tags: []string{"v*"}},
				Image: Image{Repository: "team/shop", Registry: "127.0.0.1:5000", Platform: "linux/arm64", Keep: 10,
					BuildArgs: []string{"BASE_IMAGE=python:3.12-slim"}, Context: "services/api", Dockerfile: "Dockerfile.prod"},
				Secrets: Secrets{Managers: []string{"arn:aws:iam::123456789012:role/admin*"}},
			}
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			inDir(t, tt.file)
			got, err := Load(DefaultFile, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Defaults(tt.env)
			if tt.change != nil {
				tt.change(want)
			}
			got.origins = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]struct {
		file string
		env  string // "" means dev
		want string
	}{
		"unknown top-level key": {file: "app: x\nnope: 1\n", want: "fvdeploy.yaml:2: nope: unknown field"},
		"unknown nested key":    {file: "app: x\nservice:\n  cpu: 256\n  nope: 1\n", want: "fvdeploy.yaml:4: service.nope: unknown field"},
		"misspelt key":          {file: "service:\n  cpu_targt: 50\n", want: `fvdeploy.yaml:2: service.cpu_targt: unknown field (did you mean "cpu_target"?)`},
		"transposed key":        {file: "service:\n  memroy: 512\n", want: `fvdeploy.yaml:2: service.memroy: unknown field (did you mean "memory"?)`},
		"evn not suggested":     {file: "evn: prod\n", want: "fvdeploy.yaml:1: evn: unknown field"},
		"misspelt environments": {file: "enviroments: {}\n", want: `fvdeploy.yaml:1: enviroments: unknown field (did you mean "environments"?)`},
		"unknown deploy key":    {file: "deploy:\n  strategy: canary\n  canary_bake: 3\n", want: `fvdeploy.yaml:3: deploy.canary_bake: unknown field`},
		"unknown key in env":    {file: "environments:\n  dev:\n    service: {nope: 1}\n", want: "fvdeploy.yaml:3: environments.dev.service.nope: unknown field"},
		"unknown key other env": {file: "environments:\n  prod:\n    alarms:\n      sms: [x]\n", want: "fvdeploy.yaml:4: environments.prod.alarms.sms: unknown field"},
		"nested environments":   {file: "environments:\n  dev:\n    environments: {}\n", want: "fvdeploy.yaml:3: environments.dev.environments: unknown field"},
		"env in file":           {file: "env: prod\n", want: "fvdeploy.yaml:1: env: set with --env, not in the file"},
		"unknown environment":   {file: "environments:\n  staging: {}\n", want: `fvdeploy.yaml:2: environments.staging: unknown environment (want dev, hml or prod)`},
		"environments a list":   {file: "environments: [dev]\n", want: "fvdeploy.yaml:1: environments: want a mapping, got a list"},
		"duplicate key":         {file: "app: a\nservice: {cpu: 256}\napp: b\n", want: "fvdeploy.yaml:3: app: duplicate key (first on line 1)"},
		"duplicate nested key":  {file: "service:\n  cpu: 256\n  cpu: 512\n", want: "fvdeploy.yaml:3: service.cpu: duplicate key (first on line 2)"},
		"int from word":         {file: "app: x\nregion: us-east-1\nservice:\n  cpu: lots\n", want: `fvdeploy.yaml:4: service.cpu: want an integer, got "lots"`},
		"int from quoted":       {file: "service: {cpu: \"256\"}\n", want: `fvdeploy.yaml:1: service.cpu: want an integer, got "256"`},
		"int from float":        {file: "service: {cpu_target: 60.5}\n", want: `fvdeploy.yaml:1: service.cpu_target: want an integer, got "60.5"`},
		"int overflow":          {file: "service: {max: 99999999999999999999}\n", want: `fvdeploy.yaml:1: service.max: want an integer, got "99999999999999999999"`},
		"int from nothing":      {file: "service:\n  cpu:\n", want: "fvdeploy.yaml:2: service.cpu: want an integer, got nothing"},
		"bool from yes":         {file: "alb: {deletion_protection: yes}\n", want: `fvdeploy.yaml:1: alb.deletion_protection: want true or false, got "yes"`},
		"string from bool":      {file: "region: true\n", want: `fvdeploy.yaml:1: region: want a string, got "true"`},
		"string from mapping":   {file: "app: {name: x}\n", want: "fvdeploy.yaml:1: app: want a string, got a mapping"},
		"list from scalar":      {file: "cicd: {branches: main}\n", want: `fvdeploy.yaml:1: cicd.branches: want a list, got "main"`},
		"list element":          {file: "service:\n  egress_ports:\n    - 443\n    - https\n", want: `fvdeploy.yaml:4: service.egress_ports[1]: want an integer, got "https"`},
		"section from scalar":   {file: "service: 3\n", want: `fvdeploy.yaml:1: service: want a mapping, got "3"`},
		"section from list":     {file: "network:\n  - a\n", want: "fvdeploy.yaml:2: network: want a mapping, got a list"},
		"top level a list":      {file: "- app\n", want: "fvdeploy.yaml:1: want a mapping at the top level, got a list"},
		"top level a scalar":    {file: "fastapi\n", want: `fvdeploy.yaml:1: want a mapping at the top level, got "fastapi"`},
		// The library's line for parser errors is sometimes that of the
		// enclosing construct, minus one; these cases are ones it gets right.
		"syntax unclosed flow":  {file: "service: {cpu: 256\n", want: "fvdeploy.yaml:1: yaml syntax: did not find expected ',' or '}'"},
		"syntax tab":            {file: "app: x\n\tregion: y\n", want: "fvdeploy.yaml:2: yaml syntax: found a tab character that violates indentation"},
		"syntax no line":        {file: "app: *missing\n", want: "fvdeploy.yaml: yaml syntax: unknown anchor 'missing' referenced"},
		"two documents":         {file: "app: a\n---\napp: b\n", want: "fvdeploy.yaml:2: yaml syntax: more than one document"},
		"syntax second doc":     {file: "app: a\n---\napp: *missing\n", want: "fvdeploy.yaml: yaml syntax: unknown anchor 'missing' referenced"},
		"invalid value":         {file: "app: x\nnetwork:\n  az_count: 2\n  vpc_cidr: 10.0.0.0/33\n", want: `fvdeploy.yaml:4: network.vpc_cidr: "10.0.0.0/33" is not a valid CIDR`},
		"invalid list element":  {file: "alarms:\n  email:\n    - ops@example.com\n    - nobody\n", want: `fvdeploy.yaml:4: alarms.email[1]: "nobody" is not an email address`},
		"invalid from env":      {file: "service: {min: 2}\nenvironments:\n  prod:\n    service: {min: 1, desired: 1}\n", env: "prod", want: "fvdeploy.yaml:4: service.min: prod needs at least 2 tasks for high availability"},
		"invalid with default":  {file: "service:\n  desired: 7\n", env: "prod", want: "fvdeploy.yaml:2: service.desired: 7 is above service.max (6)"},
		"invalid not from file": {file: "service:\n  max: 1\n", env: "hml", want: "service.desired: 2 is above service.max (1)"},
		"env not a mapping":     {file: "service:\n  env: [A=1]\n", want: "fvdeploy.yaml:2: service.env: want a mapping, got a list"},
		"env value a list":      {file: "service:\n  env:\n    A: [1]\n", want: "fvdeploy.yaml:3: service.env.A: want a string, got a list"},
		"env bad name":          {file: "service:\n  env:\n    OK: 1\n    AWS_REGION: x\n", want: "fvdeploy.yaml:4: service.env.AWS_REGION: AWS_ and ECS_ names are reserved for AWS and the ECS agent"},
		"secret unknown key":    {file: "service:\n  secrets:\n    DB: {secret: db, key: k, stage: x}\n", want: "fvdeploy.yaml:3: service.secrets.DB.stage: unknown field"},
		"secret bad name":       {file: "service:\n  secrets:\n    ADMIN_PASS: {key: P}\n", want: "fvdeploy.yaml:3: service.secrets.ADMIN_PASS: set by fvdeploy from the admin secret"},
		"secret bad key":        {file: "service:\n  secrets:\n    DB:\n      secret: db\n      key: a:b\n", want: `fvdeploy.yaml:5: service.secrets.DB.key: "a:b": want the secret's JSON key (letters, digits and _ . @ / + = -)`},
		"command not a list":    {file: "service: {command: uvicorn app:app}\n", want: `fvdeploy.yaml:1: service.command: want a list, got "uvicorn app:app"`},
		"context outside":       {file: "image:\n  context: ../x\n", want: `fvdeploy.yaml:2: image.context: "../x": want a folder inside the git repository, relative to its root`},
		"all problems": {file: "app: x\nnope: 1\nservice:\n  cpu: big\n  mem: 1\nenvironments:\n  qa: {}\n", want: "fvdeploy.yaml:2: nope: unknown field\n" +
			`fvdeploy.yaml:4: service.cpu: want an integer, got "big"` + "\n" +
			"fvdeploy.yaml:5: service.mem: unknown field\n" +
			"fvdeploy.yaml:7: environments.qa: unknown environment (want dev, hml or prod)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			inDir(t, tt.file)
			env := tt.env
			if env == "" {
				env = "dev"
			}
			c, err := Load(DefaultFile, env)
			if err == nil {
				t.Fatalf("Load() = nil error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Load() =\n%v\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
			if c != nil {
				t.Error("config returned with the error")
			}
		})
	}
}

func TestLoadPath(t *testing.T) {
	t.Run("explicit missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := Load(path, "dev")
		if err == nil || err.Error() != path+": no such file or directory" {
			t.Fatalf("Load() = %v, want %s: no such file or directory", err, path)
		}
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(err, ErrInvalid/fs.ErrNotExist) = %v/%v, want both", errors.Is(err, ErrInvalid), errors.Is(err, fs.ErrNotExist))
		}
	})
	t.Run("explicit directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Load(dir, "dev"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Load(dir) = %v, want an input error", err)
		}
	})
	t.Run("explicit other name", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.yml")
		if err := os.WriteFile(path, []byte("app: other\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, "dev")
		if err != nil || c.App != "other" {
			t.Errorf("Load() = %v, %v; want app other", c, err)
		}
	})
	t.Run("default absent", func(t *testing.T) {
		t.Chdir(t.TempDir())
		c, err := Load("", "prod")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Defaults("prod")
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Load() = %+v, want the defaults %+v", c, want)
		}
	})
	t.Run("default present", func(t *testing.T) {
		inDir(t, "app: from-cwd\n")
		c, err := Load("", "prod")
		if err != nil {
			t.Fatal(err)
		}
		if c.App != "from-cwd" {
			t.Errorf("App = %q, want from-cwd", c.App)
		}
	})
	t.Run("default present and invalid", func(t *testing.T) {
		inDir(t, "app: Bad\n")
		_, err := Load("", "prod")
		if want := `fvdeploy.yaml:1: app: "Bad": want 1 to 20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`; err == nil || err.Error() != want {
			t.Errorf("Load() = %v, want %s", err, want)
		}
	})
}

// A value the CLI replaces after Load (e.g. with --region) no longer came
// from the file, so its problems must not point at the file's line.
func TestValidateAfterOverride(t *testing.T) {
	inDir(t, "region: us-east-1\nservice:\n  desired: 2\n")
	c, err := Load("", "dev")
	if err != nil {
		t.Fatal(err)
	}
	c.Region = "moon"
	c.Service.Max = 1 // desired keeps its value from the file, and its line
	want := `region: "moon" is not an AWS region name like us-east-1` + "\n" +
		"fvdeploy.yaml:3: service.desired: 2 is above service.max (1)"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() =\n%v\nwant\n%s", err, want)
	}
}
