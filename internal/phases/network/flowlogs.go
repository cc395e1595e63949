package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The VPC's flow logs (network.flow_logs): every connection accepted or rejected in the
// VPC, to a log group kept for logs.retention_days, written by a role only the flow logs
// service of this account may assume, allowed to write to that group alone.
const (
	KeyFlowLogGroup = "network/flow-log-group"
	KeyFlowLogRole  = "network/flow-log-role"
	KeyFlowLog      = "network/flow-log"
	flowLogsService = "vpc-flow-logs.amazonaws.com"
	// flowLogTraffic is what is recorded: rejected connections show probing, accepted
	// ones what actually talked.
	flowLogTraffic = ec2types.TrafficTypeAll
)

func FlowLogGroupName(in *kit.Inputs) string { return "/aws/vpc/flow-logs/" + in.Prefix() }

// flowLogResources are the flow log, its group and the role it delivers with.
func flowLogResources(in *kit.Inputs) []engine.Resource {
	return []engine.Resource{
		&kinds.LogGroup{In: in, API: in.AWS.Logs(), KMS: in.AWS.KMS(), ResourceKey: KeyFlowLogGroup, Name: FlowLogGroupName(in)},
		&kinds.Role{In: in, API: in.AWS.IAM(), ResourceKey: KeyFlowLogRole, Name: kit.BoundedName(in.Prefix()+"-flow-logs", 64),
			Trust: flowLogTrustPolicy(in), Deps: []string{KeyFlowLogGroup}, Policy: flowLogPolicy,
			Description: "VPC flow logs of " + in.Prefix() + ": write to their log group"},
		&flowLog{in: in, api: in.AWS.EC2()},
	}
}

// flowLogTrustPolicy lets the flow logs service assume the role only on behalf of this
// account's flow logs (the confused-deputy guard: another account's flow log, naming
// this role, is refused).
func flowLogTrustPolicy(in *kit.Inputs) string {
	return kit.ServiceTrustPolicy(flowLogsService, in.Account, fmt.Sprintf("arn:%s:ec2:%s:%s:vpc-flow-log/*", kit.AWSPartition(in.Region), in.Region, in.Account))
}

// flowLogPolicy is what the service needs to deliver, on the one group: make its streams
// (one per network interface) and put events. It lists the group's streams to resume
// them; DescribeLogGroups has no narrower resource than the account's groups.
func flowLogPolicy(in *kit.Inputs, deps engine.Deps, _ string) (string, bool) {
	logs := deps.Get(KeyFlowLogGroup)
	if logs == nil {
		return "", false
	}
	arn := logs.ARN
	if arn == "" {
		arn = kit.LogGroupARN(in, logs.ID)
	}
	return kit.PolicyJSON(
		kit.PolicyStatement{Sid: "WriteFlowLogs", Effect: "Allow",
			Action: []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}, Resource: []string{arn + ":*"}},
		kit.PolicyStatement{Sid: "FindTheGroup", Effect: "Allow", Action: []string{"logs:DescribeLogGroups"},
			Resource: []string{kit.LogGroupARN(in, "*")}},
	), true
}

type flowLogAPI interface {
	CreateFlowLogs(ctx context.Context, in *ec2.CreateFlowLogsInput, opts ...func(*ec2.Options)) (*ec2.CreateFlowLogsOutput, error)
	DescribeFlowLogs(ctx context.Context, in *ec2.DescribeFlowLogsInput, opts ...func(*ec2.Options)) (*ec2.DescribeFlowLogsOutput, error)
	DeleteFlowLogs(ctx context.Context, in *ec2.DeleteFlowLogsInput, opts ...func(*ec2.Options)) (*ec2.DeleteFlowLogsOutput, error)
}

// flowLog is the VPC's flow log into the group. AWS cannot change a flow log: any drift
// replaces it.
type flowLog struct {
	in  *kit.Inputs
	api flowLogAPI
}

func (r *flowLog) Key() string  { return KeyFlowLog }
func (r *flowLog) Type() string { return "ec2:flow-log" }
func (r *flowLog) DependsOn() []string {
	return []string{kit.KeyVPC, KeyFlowLogGroup, KeyFlowLogRole}
}

// Desired are the VPC, group and role; ok is false while one does not exist yet.
func (r *flowLog) Desired(deps engine.Deps) (vpc, group, role string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return "", "", "", false
		}
	}
	return deps.Get(kit.KeyVPC).ID, deps.Get(KeyFlowLogGroup).ID, deps.Get(KeyFlowLogRole).ARN, true
}

func (r *flowLog) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc, group, role, ok := r.Desired(deps)
	if !ok {
		return nil, nil
	}
	fl, extras, err := kit.FindTagged(ctx, r.in, "flow log", r.Key(), kit.RecID(rec), func(f ec2types.FlowLog) string { return aws.ToString(f.FlowLogId) },
		func(ctx context.Context, ids []string, filters []ec2types.Filter) ([]ec2types.FlowLog, error) {
			out, err := r.api.DescribeFlowLogs(ctx, &ec2.DescribeFlowLogsInput{FlowLogIds: ids, Filter: filters})
			if err != nil {
				return nil, err
			}
			return out.FlowLogs, nil
		})
	if err != nil || fl == nil {
		return nil, err
	}
	found := &engine.Found{Record: state.Resource{ID: aws.ToString(fl.FlowLogId)}, Extras: extras}
	for _, c := range []engine.Change{
		{Field: "resource", From: aws.ToString(fl.ResourceId), To: vpc},
		{Field: "traffic_type", From: string(fl.TrafficType), To: string(flowLogTraffic)},
		{Field: "destination_type", From: string(fl.LogDestinationType), To: string(ec2types.LogDestinationTypeCloudWatchLogs)},
		{Field: "log_group", From: aws.ToString(fl.LogGroupName), To: group},
		{Field: "role", From: aws.ToString(fl.DeliverLogsPermissionArn), To: role},
	} {
		if c.From != c.To {
			found.Changes = append(found.Changes, c)
			found.Replace = true
		}
	}
	return found, nil
}

func (r *flowLog) Create(ctx context.Context, deps engine.Deps) (*state.Resource, error) {
	vpc, group, role, _ := r.Desired(deps)
	out, err := r.api.CreateFlowLogs(ctx, &ec2.CreateFlowLogsInput{
		ResourceIds:              []string{vpc},
		ResourceType:             ec2types.FlowLogsResourceTypeVpc,
		TrafficType:              flowLogTraffic,
		LogDestinationType:       ec2types.LogDestinationTypeCloudWatchLogs,
		LogGroupName:             &group,
		DeliverLogsPermissionArn: &role,
		TagSpecifications:        kit.EC2TagSpec(ec2types.ResourceTypeVpcFlowLog, r.in.Tags(r.Key())),
		ClientToken:              aws.String(r.in.ClientToken(r.Key())),
	})
	if err == nil {
		err = unsuccessful(out.Unsuccessful)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the flow log of VPC %s into log group %s: %w", vpc, group, err)
	}
	if len(out.FlowLogIds) != 1 {
		return nil, fmt.Errorf("creating the flow log of VPC %s: AWS answered %d flow logs, want 1", vpc, len(out.FlowLogIds))
	}
	return &state.Resource{ID: out.FlowLogIds[0]}, nil
}

// Update is never called: every change replaces the flow log.
func (r *flowLog) Update(_ context.Context, _ engine.Deps, found *engine.Found) (*state.Resource, error) {
	rec := found.Record
	return &rec, nil
}

func (r *flowLog) Delete(ctx context.Context, rec *state.Resource) error {
	out, err := r.api.DeleteFlowLogs(ctx, &ec2.DeleteFlowLogsInput{FlowLogIds: []string{rec.ID}})
	if err == nil {
		err = unsuccessful(out.Unsuccessful)
	}
	if err != nil && !kit.IsNotFound(err) {
		return fmt.Errorf("deleting flow log %s: %w", rec.ID, err)
	}
	return nil
}

// unsuccessful turns the per-item failures EC2 answers with HTTP 200 into an error that
// isNotFound and errorCode read like any other.
func unsuccessful(items []ec2types.UnsuccessfulItem) error {
	var msgs []string
	code := ""
	for _, it := range items {
		if it.Error == nil {
			continue
		}
		code = aws.ToString(it.Error.Code)
		msgs = append(msgs, aws.ToString(it.ResourceId)+": "+aws.ToString(it.Error.Message))
	}
	if len(msgs) == 0 {
		return nil
	}
	return &itemError{code: code, msg: strings.Join(msgs, "; ")}
}

type itemError struct{ code, msg string }

func (e *itemError) Error() string                 { return e.code + ": " + e.msg }
func (e *itemError) ErrorCode() string             { return e.code }
func (e *itemError) ErrorMessage() string          { return e.msg }
func (e *itemError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }
