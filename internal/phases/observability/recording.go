package observability

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type configRecordingAPI interface {
	DescribeConfigurationRecorderStatus(ctx context.Context, in *configservice.DescribeConfigurationRecorderStatusInput, opts ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error)
	StartConfigurationRecorder(ctx context.Context, in *configservice.StartConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.StartConfigurationRecorderOutput, error)
	StopConfigurationRecorder(ctx context.Context, in *configservice.StopConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.StopConfigurationRecorderOutput, error)
}

// configRecording is the recorder fvdeploy owns recording; it can start only once the
// delivery channel exists. The recording of an adopted recorder is left as it is.
type configRecording struct {
	in  *kit.Inputs
	api configRecordingAPI
}

func (r *configRecording) Key() string  { return KeyConfigRecording }
func (r *configRecording) Type() string { return "config:recording" }
func (r *configRecording) DependsOn() []string {
	return []string{KeyConfigRecorder, KeyConfigChannel}
}

// Find reports an owned recorder that is not recording as absent, so that starting it
// reads as a creation in a plan, and one stopped since (drift) is started again.
func (r *configRecording) Find(ctx context.Context, deps engine.Deps, _ *state.Resource) (*engine.Found, error) {
	recorder := deps.Get(KeyConfigRecorder)
	if recorder == nil || deps.Get(KeyConfigChannel) == nil {
		return nil, nil
	}
	out, err := r.api.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{ConfigurationRecorderNames: []string{recorder.ID}})
	if kit.ErrorCode(err) == "NoSuchConfigurationRecorderException" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the status of AWS Config recorder %s: %w", recorder.ID, err)
	}
	recording := len(out.ConfigurationRecordersStatus) > 0 && out.ConfigurationRecordersStatus[0].Recording
	owned := recOwned(recorder)
	if owned && !recording {
		return nil, nil
	}
	if !recording {
		r.in.Progress("note: AWS Config recorder %s, which fvdeploy did not create, is not recording; fvdeploy leaves it as it is", recorder.ID)
	}
	return &engine.Found{Record: state.Resource{ID: recorder.ID, Attrs: ownedAttrs(owned)}}, nil
}

func (r *configRecording) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	recorder := deps.Get(KeyConfigRecorder)
	if !recOwned(recorder) {
		return nil, fmt.Errorf("AWS Config recorder %s is not fvdeploy's to start", recorder.ID)
	}
	if _, err := r.api.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String(recorder.ID)}); err != nil {
		return nil, fmt.Errorf("starting AWS Config recorder %s: %w", recorder.ID, err)
	}
	return &state.Resource{ID: recorder.ID, Attrs: ownedAttrs(true)}, nil
}

// Update has nothing to do: Find reports no changes.
func (r *configRecording) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

// Delete stops a recorder fvdeploy created, first of the AWS Config resources: its
// delivery channel cannot be deleted while it records.
func (r *configRecording) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.StopConfigurationRecorder(ctx, &configservice.StopConfigurationRecorderInput{ConfigurationRecorderName: aws.String(rec.ID)})
	if err != nil && kit.ErrorCode(err) != "NoSuchConfigurationRecorderException" && !kit.IsNotFound(err) {
		return fmt.Errorf("stopping AWS Config recorder %s: %w", rec.ID, err)
	}
	return nil
}
