package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of *s3.Client the S3 backend uses.
type S3API interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// s3Backend keeps <prefix>/<env>.json. S3's conditional writes do the locking: the lock
// object is created only if absent, and the document replaced only if unchanged.
type s3Backend struct {
	client       S3API
	bucket, env  string
	key, lockKey string
}

func newS3Backend(client S3API, bucket, prefix, env string) *s3Backend {
	key := env + ".json"
	if prefix != "" {
		key = prefix + "/" + key
	}
	return &s3Backend{client: client, bucket: bucket, env: env, key: key, lockKey: key + ".lock"}
}

func (b *s3Backend) Where() string { return "s3://" + b.bucket + "/" + b.key }

func (b *s3Backend) Read(ctx context.Context) (*Document, error) {
	doc, _, err := b.read(ctx)
	return doc, err
}

// read returns the document and its ETag; (nil, "", nil) when there is none.
func (b *s3Backend) read(ctx context.Context) (*Document, string, error) {
	data, etag, err := b.get(ctx, b.key)
	if err != nil || data == nil {
		return nil, "", err
	}
	doc, err := decode(b.Where(), data)
	if err != nil {
		return nil, "", err
	}
	return doc, etag, nil
}

// get returns an object's content and ETag; nil content when the key does not exist.
func (b *s3Backend) get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if isNoSuchKey(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading s3://%s/%s: %w", b.bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("reading s3://%s/%s: %w", b.bucket, key, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// put writes an object under a precondition (ifMatch an ETag, or ifNoneMatch "*").
// S3 answers 409 ConditionalRequestConflict while another conditional write to the key is
// in flight; trying again then settles as a success or a 412.
func (b *s3Backend) put(ctx context.Context, key string, data []byte, ifMatch, ifNoneMatch *string) (*s3.PutObjectOutput, error) {
	for attempt := 1; ; attempt++ {
		out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:               &b.bucket,
			Key:                  &key,
			Body:                 bytes.NewReader(data),
			ContentType:          aws.String("application/json"),
			IfMatch:              ifMatch,
			IfNoneMatch:          ifNoneMatch,
			ServerSideEncryption: types.ServerSideEncryptionAes256,
		})
		if err == nil || attempt == 5 || !hasStatus(err, http.StatusConflict, "ConditionalRequestConflict") {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

func isNoSuchKey(err error) bool {
	var nsk *types.NoSuchKey
	var api smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &api) && api.ErrorCode() == "NoSuchKey"
}

func hasStatus(err error, status int, code string) bool {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == code {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

func isPreconditionFailed(err error) bool {
	return hasStatus(err, http.StatusPreconditionFailed, "PreconditionFailed")
}

// readLock returns the lock record and its ETag; nil when nobody holds the lock.
func (b *s3Backend) readLock(ctx context.Context) (*LockInfo, string, error) {
	data, etag, err := b.get(ctx, b.lockKey)
	if err != nil || data == nil {
		return nil, "", err
	}
	var info LockInfo
	// A damaged record still means the lock is taken; it shows as an unknown holder.
	_ = json.Unmarshal(data, &info)
	return &info, etag, nil
}

func (b *s3Backend) Lock(ctx context.Context, op string) (Locked, error) {
	info := newLockInfo(op)
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	// A lock released between the failed create and the read of its holder is worth
	// another try; a few rounds bound it when others keep taking it.
	for range 3 {
		_, err := b.put(ctx, b.lockKey, data, nil, aws.String("*"))
		if err == nil {
			return &s3Locked{b: b, id: info.ID}, nil
		}
		if !isPreconditionFailed(err) {
			return nil, fmt.Errorf("locking state %s: %w", b.Where(), err)
		}
		holder, _, err := b.readLock(ctx)
		if err != nil {
			return nil, fmt.Errorf("locking state %s: %w", b.Where(), err)
		}
		if holder != nil {
			return nil, &LockHeldError{Where: b.Where(), Env: b.env, Holder: *holder}
		}
	}
	return nil, &LockHeldError{Where: b.Where(), Env: b.env}
}

func (b *s3Backend) ForceUnlock(ctx context.Context) (*LockInfo, error) {
	holder, etag, err := b.readLock(ctx)
	if err != nil || holder == nil {
		return nil, err
	}
	if err := b.deleteLock(ctx, etag); err != nil {
		return nil, err
	}
	return holder, nil
}

// deleteLock deletes the lock object only if it is still the version read (etag), so that
// a lock someone took in the meantime survives.
func (b *s3Backend) deleteLock(ctx context.Context, etag string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &b.lockKey, IfMatch: &etag})
	if isPreconditionFailed(err) {
		return fmt.Errorf("state %s: the lock changed while it was being cleared; check it again", b.Where())
	}
	if err != nil {
		return fmt.Errorf("clearing the lock of state %s: %w", b.Where(), err)
	}
	return nil
}

type s3Locked struct {
	b        *s3Backend
	id       string
	unlocked bool
	last     mark
	etag     string // of the document last read or saved; "" when there was none
}

func (l *s3Locked) Read(ctx context.Context) (*Document, error) {
	doc, etag, err := l.b.read(ctx)
	if err != nil {
		return nil, err
	}
	l.last, l.etag = markOf(doc), etag
	return doc, nil
}

func (l *s3Locked) Save(ctx context.Context, doc *Document) error {
	where := l.b.Where()
	if doc == nil {
		return errNoDocument(where)
	}
	if l.unlocked {
		return fmt.Errorf("saving state %s: the lock was already released", where)
	}
	if l.last.exists && l.last.lineage != doc.Lineage {
		return lineageError(where, l.last.lineage, doc.Lineage)
	}
	data, undo, err := prepareSave(where, doc)
	if err != nil {
		return err
	}
	ifMatch, ifNoneMatch := &l.etag, (*string)(nil)
	if !l.last.exists {
		ifMatch, ifNoneMatch = nil, aws.String("*")
	}
	out, err := l.b.put(ctx, l.b.key, data, ifMatch, ifNoneMatch)
	if err != nil {
		undo()
		// If-Match on a key deleted since it was read answers 404.
		if isPreconditionFailed(err) || isNoSuchKey(err) {
			return &ConflictError{Where: where, Serial: l.last.serial}
		}
		return fmt.Errorf("saving state %s: %w", where, err)
	}
	l.last, l.etag = markOf(doc), aws.ToString(out.ETag)
	return nil
}

func (l *s3Locked) Unlock(ctx context.Context) error {
	if l.unlocked {
		return nil
	}
	holder, etag, err := l.b.readLock(ctx)
	if err != nil {
		return fmt.Errorf("releasing the lock of state %s: %w", l.b.Where(), err)
	}
	l.unlocked = true
	switch {
	case holder == nil:
		return fmt.Errorf("state %s: this run's lock was cleared by someone else while it ran", l.b.Where())
	case holder.ID != l.id:
		return fmt.Errorf("state %s: this run's lock was cleared while it ran and %s holds it now; leaving theirs in place", l.b.Where(), holder.Who)
	}
	return l.b.deleteLock(ctx, etag)
}
