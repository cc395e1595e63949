package config

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestEnvNames(t *testing.T) {
	if got, want := EnvNames(), []string{"dev", "hml", "prod"}; !slices.Equal(got, want) {
		t.Errorf("EnvNames() = %v, want %v", got, want)
	}
}

func TestDefaultsPerEnv(t *testing.T) {
	type perEnv struct {
		nat                         string
		min, desired, max, target   int
		waf, deletionProt, insights bool
		retention                   int
		flowLogs                    bool
	}
	tests := map[string]perEnv{
		"dev":  {NATSingle, 1, 1, 2, 60, false, false, false, 7, false},
		"hml":  {NATSingle, 2, 2, 4, 60, true, false, false, 30, false},
		"prod": {NATPerAZ, 2, 2, 6, 60, true, true, true, 30, true},
	}
	for env, want := range tests {
		t.Run(env, func(t *testing.T) {
			c, err := Defaults(env)
			if err != nil {
				t.Fatal(err)
			}
			s := c.Service
			got := perEnv{c.Network.NAT, s.Min, s.Desired, s.Max, s.CPUTarget, c.Edge.WAF, c.ALB.DeletionProtection,
				c.Observability.ContainerInsights, c.Logs.RetentionDays, c.Network.FlowLogs}
			if got != want {
				t.Errorf("Defaults(%q) = %+v, want %+v", env, got, want)
			}
			if c.Env != env {
				t.Errorf("Env = %q, want %q", c.Env, env)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("defaults do not validate: %v", err)
			}
		})
	}
}

func TestDefaultsShared(t *testing.T) {
	want := &Config{
		App:     "fastapi-vars",
		Env:     "dev",
		Network: Network{VPCCIDR: "10.0.0.0/16", AZCount: 2, NAT: NATSingle},
		Service: Service{
			CPU: 256, Memory: 512, Min: 1, Desired: 1, Max: 2, CPUTarget: 60, ContainerPort: 8000,
			HealthCheckPath: "/health", HealthCheckInterval: 5, HealthyThreshold: 2, DeregistrationDelay: 5,
			HealthCheckGracePeriod: 60, ScaleInCooldown: 300, ScaleOutCooldown: 60,
			EgressCIDRs: []string{"0.0.0.0/0"}, EgressPorts: []int{443},
		},
		Edge:   Edge{TLSPolicy: "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", WAFRateLimit: 1000, WAFLogExpiryDays: 90, SANs: []string{}},
		Logs:   Logs{RetentionDays: 7},
		Alarms: Alarms{CPUPercent: 80, MemoryPercent: 80, P95LatencyMS: 1000, HTTP5xxCount: 10, EvaluationPeriods: 5, DatapointsToAlarm: 3, Email: []string{}, HTTPS: []string{}},
		CICD:   CICD{Branches: []string{"dev"}, Tags: []string{}},
		Image:  Image{Platform: "linux/amd64", Keep: 30, ImmutableTags: true, BuildArgs: []string{}, Context: ".", Dockerfile: "Dockerfile"},
		Deploy: Deploy{Strategy: StrategyRolling, CanaryPercent: 10, CanaryBakeMinutes: 5, LinearStepPercent: 25, LinearStepBakeMinutes: 2, BakeMinutes: 2},
	}
	got, err := Defaults("dev")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults(dev) =\n%+v\nwant\n%+v", got, want)
	}
}

// Each call must return a fresh value: callers change it (e.g. --region).
func TestDefaultsIndependent(t *testing.T) {
	a, _ := Defaults("prod")
	a.Service.EgressPorts[0] = 1
	a.CICD.Branches[0] = "x"
	b, _ := Defaults("prod")
	if b.Service.EgressPorts[0] != 443 || b.CICD.Branches[0] != "main" {
		t.Errorf("Defaults shares slices between calls: %v %v", b.Service.EgressPorts, b.CICD.Branches)
	}
}

func TestUnknownEnv(t *testing.T) {
	const want = `unknown environment "nope" (want dev, hml or prod)`
	for name, load := range map[string]func() (*Config, error){
		"Defaults": func() (*Config, error) { return Defaults("nope") },
		"Load":     func() (*Config, error) { return Load("", "nope") },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := load()
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
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

func TestErrorMessages(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"field from file":     {&FieldError{File: "f.yaml", Line: 3, Field: "app", Reason: "bad"}, "f.yaml:3: app: bad"},
		"field not from file": {&FieldError{Field: "app", Reason: "bad"}, "app: bad"},
		"file with line":      {&FileError{File: "f.yaml", Line: 2, Err: errors.New("yaml syntax: x")}, "f.yaml:2: yaml syntax: x"},
		"file without line":   {&FileError{File: "f.yaml", Err: errors.New("is a directory")}, "f.yaml: is a directory"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

// The image repository follows the app's name unless set.
func TestImageRepositoryDefaultsToTheApp(t *testing.T) {
	c, _ := Defaults("dev")
	c.App = "shop"
	if got := c.ImageRepository(); got != "shop" {
		t.Errorf("ImageRepository() = %q, want shop", got)
	}
	c.Image.Repository = "team/shop"
	if got := c.ImageRepository(); got != "team/shop" {
		t.Errorf("ImageRepository() = %q, want team/shop", got)
	}
}

// Prod reaches its traffic by canary with alarm rollback; dev and hml roll.
func TestDefaultStrategies(t *testing.T) {
	for env, want := range map[string]string{"dev": StrategyRolling, "hml": StrategyRolling, "prod": StrategyCanary} {
		c, err := Defaults(env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Deploy.Strategy != want {
			t.Errorf("%s strategy %q, want %q", env, c.Deploy.Strategy, want)
		}
	}
}
