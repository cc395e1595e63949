package awsclients

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/fvdeploy/fvdeploy/internal/testenv"
)

var moto *testenv.Moto

func TestMain(m *testing.M) { os.Exit(testenv.RunWithMoto(m, &moto)) }

// The emulator answers the SDK's default RPCv2-CBOR for CloudWatch and the tagging API
// with 404; these calls pass only with the protocol fallback in place.
func TestClientsWorkBehindAnEndpointOverride(t *testing.T) {
	moto.Reset(t)
	ctx := context.Background()
	rec := &Recorder{}
	c, err := Load(ctx, Options{Version: "1.2.3", Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Identity(ctx)
	if err != nil || id.Account != "123456789012" {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if _, err := c.CloudWatch().DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{}); err != nil {
		t.Errorf("cloudwatch: %v", err)
	}
	if _, err := c.Tagging().GetResources(ctx, &resourcegroupstaggingapi.GetResourcesInput{}); err != nil {
		t.Errorf("tagging: %v", err)
	}
	bucket := "path-style-bucket"
	if _, err := c.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("s3 (path-style): %v", err)
	}
	var ops []string
	for _, call := range rec.Calls() {
		ops = append(ops, call.Service+"."+call.Operation)
	}
	want := "STS.GetCallerIdentity CloudWatch.DescribeAlarms Resource Groups Tagging API.GetResources S3.CreateBucket"
	if got := strings.Join(ops, " "); got != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

func TestUserAgentNamesFvdeploy(t *testing.T) {
	var mu sync.Mutex
	var agent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agent = r.Header.Get("User-Agent")
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<GetCallerIdentityResponse><GetCallerIdentityResult><Account>111122223333</Account><Arn>arn:aws:iam::111122223333:user/x</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	c, err := Load(context.Background(), Options{Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Identity(context.Background())
	if err != nil || id.Account != "111122223333" {
		t.Fatalf("identity %+v, %v", id, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(agent, "fvdeploy/1.2.3") {
		t.Errorf("User-Agent %q lacks fvdeploy/1.2.3", agent)
	}
}

func TestNoRegionIsAnError(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := Load(context.Background(), Options{}); err != ErrNoRegion {
		t.Errorf("err = %v, want ErrNoRegion", err)
	}
}

// The SDK's own log lines go to Options.Log, never to its default stderr logger.
func TestSDKLogLinesGoToLog(t *testing.T) {
	var got []string
	c, err := Load(context.Background(), Options{Region: "us-east-1", Log: func(level, msg string) { got = append(got, level+" "+msg) }})
	if err != nil {
		t.Fatal(err)
	}
	c.Config.Logger.Logf(logging.Warn, "falling back to IMDSv1: %s", "403")
	if len(got) != 1 || got[0] != "warn falling back to IMDSv1: 403" {
		t.Errorf("logged %q", got)
	}
	silent, err := Load(context.Background(), Options{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := silent.Config.Logger.(logging.Nop); !ok {
		t.Errorf("without Log the SDK logs with %T", silent.Config.Logger)
	}
}

func TestMutatingCalls(t *testing.T) {
	tests := map[string]bool{
		"DescribeVpcs": false, "ListTagsForResource": false, "GetSecretValue": false, "HeadObject": false,
		"BatchGetImage": false, "CreateVpc": true, "PutObject": true, "DeleteSubnet": true,
		"UpdateService": true, "RegisterTaskDefinition": true, "ModifyVpcAttribute": true, "TagResource": true,
	}
	for op, want := range tests {
		if got := (Call{Operation: op}).Mutating(); got != want {
			t.Errorf("%s: mutating = %v, want %v", op, got, want)
		}
	}
}
