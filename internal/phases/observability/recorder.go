package observability

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

type configRecorderAPI interface {
	channelDescribeAPI
	DescribeConfigurationRecorders(ctx context.Context, in *configservice.DescribeConfigurationRecordersInput, opts ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecordersOutput, error)
	PutConfigurationRecorder(ctx context.Context, in *configservice.PutConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.PutConfigurationRecorderOutput, error)
	DeleteConfigurationRecorder(ctx context.Context, in *configservice.DeleteConfigurationRecorderInput, opts ...func(*configservice.Options)) (*configservice.DeleteConfigurationRecorderOutput, error)
}

// configRecorder is the region's AWS Config configuration recorder. AWS allows one
// (customer managed) per region: one that exists is adopted as it is, whatever its
// settings; otherwise fvdeploy creates "default", recording with AWS Config's
// service-linked role.
type configRecorder struct {
	in  *kit.Inputs
	api configRecorderAPI
	iam kit.ServiceLinkedRoleAPI
}

func (r *configRecorder) Key() string         { return KeyConfigRecorder }
func (r *configRecorder) Type() string        { return "config:configuration-recorder" }
func (r *configRecorder) DependsOn() []string { return nil }

// configRoleARN is AWS Config's service-linked role, which iam:CreateServiceLinkedRole
// for config.amazonaws.com creates.
func configRoleARN(in *kit.Inputs) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/aws-service-role/%s/AWSServiceRoleForConfig", kit.AWSPartition(in.Region), in.Account, configServicePrincipal)
}

// recordingGroup records every resource type AWS Config supports in the region, and the
// global ones (IAM users, groups, roles, policies) too: who can do what in the account
// is what an audit asks first, and AWS Config records IAM only where this is on. Where
// fvdeploy runs in several regions of one account, each recorder it creates records IAM
// again, a few items billed twice; IAM changes seldom, which keeps that small.
func recordingGroup() *cfgtypes.RecordingGroup {
	return &cfgtypes.RecordingGroup{AllSupported: true, IncludeGlobalResourceTypes: true}
}

func recorderSettings(roleARN string, g *cfgtypes.RecordingGroup) map[string]string {
	if g == nil {
		g = &cfgtypes.RecordingGroup{}
	}
	return map[string]string{
		"role_arn":                      roleARN,
		"all_supported":                 strconv.FormatBool(g.AllSupported),
		"include_global_resource_types": strconv.FormatBool(g.IncludeGlobalResourceTypes),
	}
}

// customerRecorder is the region's customer managed recorder, nil when there is none.
// Service-linked recorders (other AWS services' own) are not the account's to adopt.
func customerRecorder(ctx context.Context, api configRecorderAPI) (*cfgtypes.ConfigurationRecorder, error) {
	out, err := api.DescribeConfigurationRecorders(ctx, &configservice.DescribeConfigurationRecordersInput{})
	if err != nil {
		return nil, fmt.Errorf("describing the AWS Config configuration recorders: %w", err)
	}
	for i, rc := range out.ConfigurationRecorders {
		if rc.ServicePrincipal == nil {
			return &out.ConfigurationRecorders[i], nil
		}
	}
	return nil, nil
}

func (r *configRecorder) Find(ctx context.Context, _ engine.Deps, rec *state.Resource) (*engine.Found, error) {
	rc, err := customerRecorder(ctx, r.api)
	if err != nil || rc == nil {
		return nil, err
	}
	name := aws.ToString(rc.Name)
	var owned bool
	if rec != nil {
		owned = recOwned(rec) && rec.ID == name
	} else {
		// No record (lost state, or a crash before it was saved): a recorder has no tags
		// fvdeploy can read back, but one whose channel delivers to this environment's
		// config bucket (which is tagged as ours) is ours.
		ch, err := deliveryChannel(ctx, r.api)
		if err != nil {
			return nil, err
		}
		owned = ch != nil && aws.ToString(ch.S3BucketName) == configBucketName(r.in)
	}
	found := &engine.Found{Record: state.Resource{ID: name, ARN: aws.ToString(rc.Arn), Attrs: ownedAttrs(owned)}}
	if !owned {
		return found, nil
	}
	live := recorderSettings(aws.ToString(rc.RoleARN), rc.RecordingGroup)
	want := recorderSettings(configRoleARN(r.in), recordingGroup())
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if live[k] != want[k] {
			found.Changes = append(found.Changes, engine.Change{Field: k, From: live[k], To: want[k]})
		}
	}
	return found, nil
}

func (r *configRecorder) Put(ctx context.Context, name string, tags []cfgtypes.Tag) error {
	in := &configservice.PutConfigurationRecorderInput{
		ConfigurationRecorder: &cfgtypes.ConfigurationRecorder{Name: aws.String(name), RoleARN: aws.String(configRoleARN(r.in)), RecordingGroup: recordingGroup()},
		Tags:                  tags,
	}
	// A service-linked role created a moment ago may not be assumable by AWS Config yet.
	return r.in.RetryUntilSeen(ctx, "AWS Config to accept its service-linked role", func(ctx context.Context) error {
		_, err := r.api.PutConfigurationRecorder(ctx, in)
		return err
	}, "InvalidRoleException")
}

func (r *configRecorder) Create(ctx context.Context, _ engine.Deps) (*state.Resource, error) {
	warnAccountWide(r.in, "turning on AWS Config: configuration recorder "+configRecorderName+" recording every supported resource type, IAM included, into bucket "+configBucketName(r.in),
		"AWS Config bills every configuration item it records (every change to every resource), and the first month records everything once")
	if err := kit.EnsureServiceLinkedRole(ctx, r.in, r.iam, configServicePrincipal, "AWSServiceRoleForConfig"); err != nil {
		return nil, err
	}
	// Tags are accepted only when the recorder is created.
	if err := r.Put(ctx, configRecorderName, configTags(r.in.Tags(KeyConfigRecorder))); err != nil {
		return nil, fmt.Errorf("creating AWS Config recorder %s: %w", configRecorderName, err)
	}
	return &state.Resource{ID: configRecorderName, Attrs: ownedAttrs(true)}, nil
}

// Update puts fvdeploy's settings back on a recorder it owns (an adopted one has no
// changes).
func (r *configRecorder) Update(ctx context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	if err := r.Put(ctx, found.Record.ID, nil); err != nil {
		return nil, fmt.Errorf("updating AWS Config recorder %s: %w", found.Record.ID, err)
	}
	rec := found.Record
	return &rec, nil
}

// Delete deletes a recorder fvdeploy created, after observability/config-recording has
// stopped it and the delivery channel is gone (both depend on it). Its service-linked
// role stays: it is AWS Config's, shared with whatever else uses AWS Config.
func (r *configRecorder) Delete(ctx context.Context, rec *state.Resource) error {
	if !recOwned(rec) {
		return nil
	}
	_, err := r.api.DeleteConfigurationRecorder(ctx, &configservice.DeleteConfigurationRecorderInput{ConfigurationRecorderName: aws.String(rec.ID)})
	if err != nil && kit.ErrorCode(err) != "NoSuchConfigurationRecorderException" && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting AWS Config recorder %s: %w", rec.ID, err)
	}
	return nil
}

func configTags(tags map[string]string) []cfgtypes.Tag {
	return kit.TagList(tags, func(k, v *string) cfgtypes.Tag { return cfgtypes.Tag{Key: k, Value: v} })
}

// ---- AWS Config: the delivery bucket ----
