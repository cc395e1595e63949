package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TestDiagramE2E draws prod, deployed with a domain and WAF on the emulator, in both
// formats. The emulator's IDs are random, so the structure is asserted, not the bytes
// (the layout has golden files in internal/diagram).
func TestDiagramE2E(t *testing.T) {
	c := newCLI(t)

	res := c.Run(t, "diagram", "--env", "prod")
	if res.Code != 1 || !strings.Contains(res.Stderr, "nothing deployed for prod") || res.Stdout != "" {
		t.Errorf("diagram before up: exit %d, stdout %q, stderr %s; want exit 1 saying nothing is deployed", res.Code, res.Stdout, res.Stderr)
	}
	if res := c.Run(t, "diagram", "--env", "prod", "--format", "png"); res.Code != 2 || !strings.Contains(res.Stderr, "--format: want svg or mermaid") {
		t.Errorf("unknown format: exit %d\n%s", res.Code, res.Stderr)
	}

	writeConfig(t, c, "edge:\n  domain: "+edgeE2EDomain+"\nalarms:\n  email: [ops@example.com]\n")
	mustRun(t, c, "up", "--env", "prod", "--phases", "network,secrets,cluster,edge,observability", "--image", stackImage)

	// An alarm firing, as CloudWatch would set it: the diagram names it.
	if _, err := testClients(t).CloudWatch().SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String("fastapi-vars-prod-ecs-cpu"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("test"),
	}); err != nil {
		t.Fatal(err)
	}

	ids := regexp.MustCompile(`\b(vpc|subnet|nat)-[0-9a-f]+\b`)
	mmd := ids.ReplaceAllString(mustRun(t, c, "diagram", "--env", "prod", "--format", "mermaid").Stdout, "$1-ID")
	for _, want := range []string{
		`subgraph region["AWS us-east-1 · account 123456789012 · fastapi-vars-prod"]`,
		`subgraph vpc["VPC vpc-ID 10.0.0.0/16"]`,
		`subgraph az0["us-east-1a"]`, `subgraph az1["us-east-1b"]`,
		`subgraph public0["public subnet subnet-ID 10.0.0.0/20"]`, `subgraph private1["private subnet subnet-ID 10.0.48.0/20"]`,
		`nat0["NAT gateway<br/>nat-ID"]`, `nat1["NAT gateway<br/>nat-ID"]`,
		`alb["Application Load Balancer<br/>fastapi-vars-prod<br/>HTTP :80 → redirect to HTTPS<br/>HTTPS :443 → forward"]`,
		`tg["Target group<br/>fastapi-vars-prod"]`,
		// moto reports running = desired (MOTO_ECS_SERVICE_RUNNING); no task runs.
		`2/2 tasks running · ACTIVE`,
		`secret["Secrets Manager secret<br/>fastapi-vars-prod-admin"]`,
		`alarms["CloudWatch alarms: 7<br/>in ALARM: fastapi-vars-prod-ecs-cpu"]`, `class alarms firing`,
		`topic["SNS topic<br/>fastapi-vars-prod-alerts"]`,
		`waf["WAF web ACL<br/>fastapi-vars-prod"]`,
		`zone["Route 53 zone<br/>api.example.com"]`, `cert["ACM certificate<br/>api.example.com"]`,
		`internet -->|"HTTP :80, HTTPS :443"| waf`, `waf -->|"filters requests"| alb`, `alb -->|"forward"| tg`,
		`tg -->|"HTTP :8000"| tasks0`, `tg -->|"HTTP :8000"| tasks1`,
		`tasks0 -->|"egress"| nat0`, `tasks1 -->|"egress"| nat1`, `igw -->|"outbound"| internet`,
		`svc -.->|"ADMIN_USER, ADMIN_PASS at task start"| secret`, `alarms -->|"notify"| topic`,
	} {
		if !strings.Contains(mmd, want) {
			t.Errorf("mermaid lacks %s:\n%s", want, mmd)
		}
	}

	file := filepath.Join(c.Dir, "prod.svg")
	res = mustRun(t, c, "diagram", "--env", "prod", "-f", file)
	if res.Stdout != "" {
		t.Errorf("diagram -f wrote to stdout too: %q", res.Stdout)
	}
	svg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg)
	for _, want := range []string{
		"AWS us-east-1 · account 123456789012 · fastapi-vars-prod", "us-east-1a", "us-east-1b",
		"HTTP :80 → redirect to HTTPS", "HTTPS :443 → forward", "2/2 tasks running · ACTIVE", "fastapi-vars-prod-admin",
		"CloudWatch alarms: 7", "fastapi-vars-prod-ecs-cpu: ALARM", "fastapi-vars-prod-ecs-memory: OK", "fastapi-vars-prod-alerts", "WAF web ACL", "Route 53 zone",
		"ACM certificate", "filters requests", "egress", "outbound", "HTTP :8000",
	} {
		if !texts[want] {
			t.Errorf("SVG has no text %q; it has %v", want, texts)
		}
	}
	var stdout bytes.Buffer
	stdout.WriteString(mustRun(t, c, "diagram", "--env", "prod").Stdout)
	if !bytes.Equal(stdout.Bytes(), svg) {
		t.Error("the SVG on stdout differs from the one written with -f")
	}
}

// svgTexts parses the SVG (failing if it is not well-formed) and returns its texts.
func svgTexts(t *testing.T, svg []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(cd)); s != "" {
				out[s] = true
			}
		}
	}
}
