package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func s3Location(t *testing.T) func(t *testing.T) Backend {
	for _, kind := range backendKinds {
		if kind.name == "s3" {
			return kind.location(t)
		}
	}
	panic("no s3 backend kind")
}

func getObject(t *testing.T, key string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	out, err := testS3Client(t).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("getting %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, data
}

func deleteObject(t *testing.T, key string) {
	t.Helper()
	if _, err := testS3Client(t).DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("deleting %s: %v", key, err)
	}
}

func TestS3ObjectsAndEncryption(t *testing.T) {
	open := s3Location(t)
	b := open(t)
	saveNew(t, b)
	l := lock(t, b)
	defer unlock(t, l)
	for _, key := range []string{"apps/shop/prod.json", "apps/shop/prod.json.lock"} {
		out, data := getObject(t, key)
		if out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Errorf("%s: server-side encryption %q, want AES256", key, out.ServerSideEncryption)
		}
		if !json.Valid(data) {
			t.Errorf("%s is not JSON: %s", key, data)
		}
	}
}

func TestS3ForceUnlock(t *testing.T) {
	ctx := context.Background()
	open := s3Location(t)
	b := open(t)
	if info, err := b.ForceUnlock(ctx); info != nil || err != nil {
		t.Fatalf("ForceUnlock with no lock = %+v, %v; want nil, nil", info, err)
	}
	stale := lock(t, open(t))
	info, err := b.ForceUnlock(ctx)
	if err != nil || info == nil || info.Operation != "up" || info.ID == "" {
		t.Fatalf("ForceUnlock = %+v, %v; want the holder's record", info, err)
	}
	next := lock(t, open(t))

	// Clearing is conditional on the lock read: one taken in the meantime survives.
	if err := open(t).(*s3Backend).deleteLock(ctx, `"0123456789abcdef0123456789abcdef"`); err == nil ||
		!strings.Contains(err.Error(), "the lock changed while it was being cleared") {
		t.Errorf("deleteLock with a stale ETag = %v, want a refusal", err)
	}

	// The cleared run must not release the lock the next run now holds.
	if err := stale.Unlock(ctx); err == nil || !strings.Contains(err.Error(), "was cleared while it ran") {
		t.Errorf("Unlock of a cleared lock = %v, want an error saying so", err)
	}
	var held *LockHeldError
	if _, err := open(t).Lock(ctx, "up"); !errors.As(err, &held) {
		t.Fatalf("Lock after the stale run's Unlock = %v, want *LockHeldError (the next run's lock)", err)
	}
	unlock(t, next)
}

// Two runs each read the same version and save: S3's If-Match/If-None-Match lets exactly
// one through. They get there by one run's lock being cleared while it still ran, the
// mistake the conditional write exists to survive.
func TestS3ConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		existing bool
	}{
		{"over an existing document", true},
		{"creating the document", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := s3Location(t)
			if tc.existing {
				saveNew(t, open(t))
			}
			for round := range 5 {
				if !tc.existing {
					deleteObject(t, "apps/shop/prod.json")
				}
				var readSerial uint64
				locks, docs := make([]Locked, 2), make([]*Document, 2)
				for i := range locks {
					b := open(t)
					if i > 0 {
						if _, err := b.ForceUnlock(ctx); err != nil {
							t.Fatal(err)
						}
					}
					locks[i] = lock(t, b)
					doc, err := locks[i].Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if doc == nil {
						doc = New("shop", "prod", "us-east-1", "123456789012")
					}
					if i == 0 {
						readSerial = doc.Serial
					} else if doc.Serial != readSerial {
						t.Fatalf("round %d: the writers read serials %d and %d", round, readSerial, doc.Serial)
					}
					doc.Outputs = map[string]string{"writer": fmt.Sprint(i)}
					docs[i] = doc
				}

				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, 2)
				for i := range locks {
					wg.Go(func() {
						<-start
						errs[i] = locks[i].Save(ctx, docs[i])
					})
				}
				close(start)
				wg.Wait()

				winner := -1
				for i, err := range errs {
					var conflict *ConflictError
					switch {
					case err == nil && winner < 0:
						winner = i
					case err == nil:
						t.Fatalf("round %d: both writers saved", round)
					case !errors.As(err, &conflict) || !strings.HasSuffix(err.Error(),
						fmt.Sprintf("was changed by another writer since it was read (serial %d); re-run", readSerial)):
						t.Fatalf("round %d: writer %d: %v, want a *ConflictError", round, i, err)
					case docs[i].Serial != readSerial:
						t.Errorf("round %d: the losing save left its serial at %d", round, docs[i].Serial)
					}
				}
				if winner < 0 {
					t.Fatalf("round %d: no writer saved: %v", round, errs)
				}
				_, data := getObject(t, "apps/shop/prod.json")
				got, err := decode("stored", data)
				if err != nil {
					t.Fatal(err)
				}
				if got.Serial != readSerial+1 || got.Outputs["writer"] != fmt.Sprint(winner) || got.Serial != docs[winner].Serial {
					t.Fatalf("round %d: stored serial %d writer %q; want the winner's (%d, serial %d)",
						round, got.Serial, got.Outputs["writer"], winner, docs[winner].Serial)
				}
				unlock(t, locks[1])
			}
		})
	}
}
