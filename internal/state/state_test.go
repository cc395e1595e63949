package state

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func sampleDoc() *Document {
	doc := New("shop", "prod", "us-east-1", "123456789012")
	doc.Serial = 7
	doc.Resources["network/vpc"] = &Resource{Type: "ec2:vpc", ID: "vpc-123", Attrs: map[string]string{"cidr": "10.0.0.0/16"}}
	doc.Resources["app/service"] = &Resource{
		Type:      "ecs:service",
		ID:        "shop-prod",
		ARN:       "arn:aws:ecs:us-east-1:123456789012:service/shop-prod/shop-prod",
		DependsOn: []string{"network/vpc"},
	}
	doc.Outputs = map[string]string{"url": "https://shop.example.com", "alb_dns": "shop-prod-1.elb.amazonaws.com"}
	return doc
}

func TestDocumentRoundTrip(t *testing.T) {
	doc := sampleDoc()
	data, err := encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode("test.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, doc) {
		t.Fatalf("round trip changed the document:\n got %+v\nwant %+v", got, doc)
	}
	again, _ := encode(got)
	if !bytes.Equal(again, data) {
		t.Fatalf("encoding is not stable:\n%s\n%s", data, again)
	}
	text := string(data)
	if !strings.Contains(text, "\n  \"resources\": {\n    \"app/service\"") {
		t.Errorf("want indented JSON with sorted keys, got:\n%s", text)
	}
	if strings.Index(text, `"app/service"`) > strings.Index(text, `"network/vpc"`) {
		t.Errorf("resource keys not sorted:\n%s", text)
	}
}

func TestNewDocument(t *testing.T) {
	a, b := New("shop", "dev", "eu-west-1", "1"), New("shop", "dev", "eu-west-1", "1")
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(a.Lineage) || a.Lineage == b.Lineage {
		t.Errorf("lineages %q and %q: want distinct random UUIDs", a.Lineage, b.Lineage)
	}
	if a.Version != FormatVersion || a.Serial != 0 || a.Resources == nil {
		t.Errorf("New() = %+v", a)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"newer format", `{"version": 2, "serial": 1, "resources": {}, "new_field": [1]}`,
			"state s3://b/prod.json was written by a newer fvdeploy (format 2; this one understands up to 1): upgrade fvdeploy"},
		{"invalid JSON", `{"version": 1,`, "state s3://b/prod.json is not valid JSON"},
		{"not JSON at all", `<html>`, "state s3://b/prod.json is not valid JSON"},
		{"no version", `{"serial": 3}`, "state s3://b/prod.json has no valid format version"},
		{"wrong type", `{"version": 1, "serial": "three"}`, "state s3://b/prod.json is not a valid state document"},
		{"unknown field", `{"version": 1, "secret": "x"}`, `state s3://b/prod.json is not a valid state document: json: unknown field "secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode("s3://b/prod.json", []byte(tc.data))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("decode error = %v, want one starting %q", err, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		location, env, where, err string
	}{
		{"", "prod", ".fvdeploy/prod.json", ""},
		{"infra/state", "dev", "infra/state/dev.json", ""},
		{"s3://team-state", "prod", "s3://team-state/prod.json", ""},
		{"s3://team-state/apps/shop/", "hml", "s3://team-state/apps/shop/hml.json", ""},
		{"s3://", "prod", "", "want s3://bucket[/prefix]"},
		{"s3://Team_State/x", "prod", "", "want s3://bucket[/prefix]"},
		{"gs://bucket", "prod", "", "unsupported state location"},
		{"", "../prod", "", "invalid environment name"},
		{"", "", "", "invalid environment name"},
	} {
		t.Run(tc.location+"|"+tc.env, func(t *testing.T) {
			b, err := Open(tc.location, tc.env, func() (S3API, error) { return nil, nil })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Open error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Where() != tc.where {
				t.Errorf("Where() = %q, want %q", b.Where(), tc.where)
			}
		})
	}
}

func TestLockHeldErrorMessage(t *testing.T) {
	err := &LockHeldError{Where: ".fvdeploy/prod.json", Env: "prod", Holder: LockInfo{
		Who: "alice@host", PID: 42, Operation: "up", Created: mustTime(t, "2026-11-27T06:00:00Z"),
	}}
	want := "state .fvdeploy/prod.json is locked by alice@host (pid 42, fvdeploy up) since 2026-11-27T06:00:00Z; " +
		"if that run is dead, clear it with `fvdeploy unlock --env prod`"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
