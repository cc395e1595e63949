package observability

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type channelDescribeAPI interface {
	DescribeDeliveryChannels(ctx context.Context, in *configservice.DescribeDeliveryChannelsInput, opts ...func(*configservice.Options)) (*configservice.DescribeDeliveryChannelsOutput, error)
}

// deliveryChannel is the region's delivery channel, nil when there is none (AWS allows
// one).
func deliveryChannel(ctx context.Context, api channelDescribeAPI) (*cfgtypes.DeliveryChannel, error) {
	out, err := api.DescribeDeliveryChannels(ctx, &configservice.DescribeDeliveryChannelsInput{})
	if err != nil {
		return nil, fmt.Errorf("describing the AWS Config delivery channels: %w", err)
	}
	if len(out.DeliveryChannels) == 0 {
		return nil, nil
	}
	return &out.DeliveryChannels[0], nil
}

type configChannelAPI interface {
	channelDescribeAPI
	PutDeliveryChannel(ctx context.Context, in *configservice.PutDeliveryChannelInput, opts ...func(*configservice.Options)) (*configservice.PutDeliveryChannelOutput, error)
	DeleteDeliveryChannel(ctx context.Context, in *configservice.DeleteDeliveryChannelInput, opts ...func(*configservice.Options)) (*configservice.DeleteDeliveryChannelOutput, error)
}

// configChannel is the region's AWS Config delivery channel. One that exists is adopted
// as it is; otherwise fvdeploy creates "default", delivering to the config bucket.
type configChannel struct {
	in  *kit.Inputs
	api configChannelAPI
}

func (r *configChannel) Key() string         { return KeyConfigChannel }
func (r *configChannel) Type() string        { return "config:delivery-channel" }
func (r *configChannel) DependsOn() []string { return []string{KeyConfigRecorder, KeyConfigBucket} }

func (r *configChannel) bucket(deps engine.Deps) string {
	if b := deps.Get(KeyConfigBucket); b != nil {
		return b.ID
	}
	return configBucketName(r.in)
}

// Find needs neither dependency to exist: an account's own channel is adopted even when
// a plan has not created the bucket yet.
func (r *configChannel) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	ch, err := deliveryChannel(ctx, r.api)
	if err != nil || ch == nil {
		return nil, err
	}
	name, bucket := aws.ToString(ch.Name), aws.ToString(ch.S3BucketName)
	var owned bool
	if rec != nil {
		owned = recOwned(rec) && rec.ID == name
	} else {
		// Delivering to this environment's bucket, which is tagged as ours, makes it ours.
		owned = bucket == configBucketName(r.in)
	}
	found := &engine.Found{Record: state.Resource{ID: name, Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	if want := r.bucket(deps); bucket != want {
		found.Changes = append(found.Changes, engine.Change{Field: "s3_bucket", From: bucket, To: want})
	}
	return found, nil
}

func (r *configChannel) Put(ctx context.Context, name, bucket string) error {
	in := &configservice.PutDeliveryChannelInput{DeliveryChannel: &cfgtypes.DeliveryChannel{Name: aws.String(name), S3BucketName: aws.String(bucket)}}
	// AWS Config checks the bucket policy here, and one put a moment ago may not be
	// visible to it yet.
	return r.in.RetryUntilSeen(ctx, "the config bucket's policy to reach AWS Config", func(ctx context.Context) error {
		_, err := r.api.PutDeliveryChannel(ctx, in)
		return err
	}, "InsufficientDeliveryPolicyException")
}

func (r *configChannel) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	bucket := r.bucket(deps)
	if err := r.Put(ctx, configChannelName, bucket); err != nil {
		return nil, fmt.Errorf("creating AWS Config delivery channel %s to bucket %s: %w", configChannelName, bucket, err)
	}
	return &state.Resource{ID: configChannelName, Attrs: ownedAttrs(true)}, nil
}

func (r *configChannel) Update(ctx context.Context, deps engine.Deps, found *engine.Found) (*state.Resource, error) {
	bucket := r.bucket(deps)
	if err := r.Put(ctx, found.Record.ID, bucket); err != nil {
		return nil, fmt.Errorf("pointing AWS Config delivery channel %s at bucket %s: %w", found.Record.ID, bucket, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes a channel fvdeploy created. AWS refuses while the recorder records:
// observability/config-recording, which depends on the channel, has stopped it by now.
func (r *configChannel) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.DeleteDeliveryChannel(ctx, &configservice.DeleteDeliveryChannelInput{DeliveryChannelName: aws.String(rec.ID)})
	switch code := kit.ErrorCode(err); {
	case err == nil, code == "NoSuchDeliveryChannelException", kit.IsNotFound(err):
		return nil
	case code == "LastDeliveryChannelDeleteFailedException":
		return fmt.Errorf("deleting AWS Config delivery channel %s: the configuration recorder is still recording (stop it with `aws configservice stop-configuration-recorder`): %w", rec.ID, err)
	}
	return fmt.Errorf("deleting AWS Config delivery channel %s: %w", rec.ID, err)
}
