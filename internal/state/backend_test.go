package state

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fvdeploy/fvdeploy/internal/awsclients"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const testBucket = "fvdeploy-state-test"

func testS3Client(t *testing.T) *s3.Client {
	t.Helper()
	c, err := awsclients.Load(context.Background(), awsclients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.S3()
}

// backendKinds give, for each backend, a fresh empty location and a way to open it as
// many times as a test needs (separate Backend values act as separate runs).
var backendKinds = []struct {
	name     string
	location func(t *testing.T) func(t *testing.T) Backend
}{
	{"local", func(t *testing.T) func(t *testing.T) Backend {
		return opener(filepath.Join(t.TempDir(), "state"))
	}},
	{"s3", func(t *testing.T) func(t *testing.T) Backend {
		moto.Reset(t)
		t.Setenv("AWS_ENDPOINT_URL_S3", atomicWritesProxy(t))
		if _, err := testS3Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
			t.Fatal(err)
		}
		return opener("s3://" + testBucket + "/apps/shop")
	}},
}

// atomicWritesProxy returns the URL of a proxy to moto that passes one write at a time.
// Moto checks If-Match/If-None-Match and then stores the object without holding a lock,
// on a threaded server, so two concurrent conditional writes can both succeed there (seen:
// 2 of 8 concurrent lock creations won); S3 decides them atomically. Serialising writes
// gives the tests S3's guarantee while moto still decides every precondition.
func atomicWritesProxy(t *testing.T) string {
	target, err := url.Parse(moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var writes sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writes.Lock()
			defer writes.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func opener(location string) func(t *testing.T) Backend {
	return func(t *testing.T) Backend {
		t.Helper()
		b, err := Open(location, "prod", func() (S3API, error) { return testS3Client(t), nil })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func lock(t *testing.T, b Backend) Locked {
	t.Helper()
	l, err := b.Lock(context.Background(), "up")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func unlock(t *testing.T, l Locked) {
	t.Helper()
	if err := l.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// saveNew stores a fresh document at serial 1, as a first run would.
func saveNew(t *testing.T, b Backend) *Document {
	t.Helper()
	l := lock(t, b)
	defer unlock(t, l)
	doc := sampleDoc()
	doc.Serial = 0
	if err := l.Save(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSaveAndRead(t *testing.T) {
	ctx := context.Background()
	for _, kind := range backendKinds {
		t.Run(kind.name, func(t *testing.T) {
			open := kind.location(t)
			b := open(t)
			if doc, err := b.Read(ctx); doc != nil || err != nil {
				t.Fatalf("Read of an empty location = %v, %v; want nil, nil", doc, err)
			}
			l := lock(t, b)
			if doc, err := l.Read(ctx); doc != nil || err != nil {
				t.Fatalf("locked Read of an empty location = %v, %v; want nil, nil", doc, err)
			}
			doc := sampleDoc()
			doc.Serial = 0
			for want := uint64(1); want <= 3; want++ {
				doc.Outputs["url"] = fmt.Sprintf("https://v%d.example.com", want)
				if err := l.Save(ctx, doc); err != nil {
					t.Fatal(err)
				}
				if doc.Serial != want {
					t.Fatalf("serial after save %d = %d", want, doc.Serial)
				}
			}
			unlock(t, l)
			if err := l.Save(ctx, doc); err == nil || !strings.Contains(err.Error(), "already released") {
				t.Errorf("Save after Unlock = %v, want a refusal", err)
			}
			got, err := open(t).Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, doc) {
				t.Errorf("read back %+v, want %+v", got, doc)
			}
		})
	}
}

func TestLockHeld(t *testing.T) {
	ctx := context.Background()
	for _, kind := range backendKinds {
		t.Run(kind.name, func(t *testing.T) {
			open := kind.location(t)
			first, second := open(t), open(t)
			before := time.Now().Add(-time.Second)
			l := lock(t, first)

			_, err := second.Lock(ctx, "destroy")
			var held *LockHeldError
			if !errors.As(err, &held) {
				t.Fatalf("second Lock = %v, want *LockHeldError", err)
			}
			host, _ := os.Hostname()
			h := held.Holder
			if !strings.HasSuffix(h.Who, "@"+host) || h.PID != os.Getpid() || h.Operation != "up" || h.ID == "" ||
				h.Created.Before(before.Truncate(time.Second)) || h.Created.After(time.Now()) {
				t.Errorf("holder = %+v, want this process, op up, created just now", h)
			}
			for _, want := range []string{"state " + first.Where() + " is locked by " + h.Who, "fvdeploy up", "`fvdeploy unlock --env prod`"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}

			unlock(t, l)
			unlock(t, lock(t, second))
		})
	}
}

func TestConcurrentLock(t *testing.T) {
	const runs = 8
	for _, kind := range backendKinds {
		t.Run(kind.name, func(t *testing.T) {
			open := kind.location(t)
			backends := make([]Backend, runs)
			for i := range backends {
				backends[i] = open(t)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			locks, errs := make([]Locked, runs), make([]error, runs)
			for i, b := range backends {
				wg.Go(func() {
					<-start
					locks[i], errs[i] = b.Lock(context.Background(), "up")
				})
			}
			close(start)
			wg.Wait()
			var winners []Locked
			for i, err := range errs {
				var held *LockHeldError
				switch {
				case err == nil:
					winners = append(winners, locks[i])
				case !errors.As(err, &held):
					t.Errorf("Lock %d: %v, want success or *LockHeldError", i, err)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("%d of %d concurrent Lock calls won, want exactly 1", len(winners), runs)
			}
			unlock(t, winners[0])
		})
	}
}

func TestLineageMismatchRefused(t *testing.T) {
	ctx := context.Background()
	for _, kind := range backendKinds {
		t.Run(kind.name, func(t *testing.T) {
			open := kind.location(t)
			stored := saveNew(t, open(t))
			l := lock(t, open(t))
			defer unlock(t, l)
			if _, err := l.Read(ctx); err != nil {
				t.Fatal(err)
			}
			other := New("shop", "dev", "us-east-1", "123456789012")
			err := l.Save(ctx, other)
			if err == nil || !strings.Contains(err.Error(), "belongs to lineage "+stored.Lineage+", not "+other.Lineage) {
				t.Fatalf("Save of another lineage = %v, want a refusal naming both lineages", err)
			}
			if other.Serial != 0 {
				t.Errorf("refused save changed the serial to %d", other.Serial)
			}
			got, err := l.Read(ctx)
			if err != nil || !reflect.DeepEqual(got, stored) {
				t.Errorf("stored document changed: %+v, %v", got, err)
			}
		})
	}
}
