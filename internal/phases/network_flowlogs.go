package phases

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// The VPC's flow logs (network.flow_logs): every connection accepted or rejected in the
// VPC, to a log group kept for logs.retention_days, written by a role only the flow logs
// service of this account may assume, allowed to write to that group alone.
const (
	keyFlowLogGroup = "network/flow-log-group"
	keyFlowLogRole  = "network/flow-log-role"
	keyFlowLog      = "network/flow-log"
	flowLogsService = "vpc-flow-logs.amazonaws.com"
	// flowLogTraffic is what is recorded: rejected connections show probing, accepted
	// ones what actually talked.
	flowLogTraffic = ec2types.TrafficTypeAll
)

func flowLogGroupName(in *Inputs) string { return "/aws/vpc/flow-logs/" + in.prefix() }

// networkResources has a resource of each type the phase can declare and later drop, for
// deleting: the flow logs and the environment's key.
func networkResources(in *Inputs) []engine.Resource {
	return append(flowLogResources(in), &envKey{in: in, api: in.AWS.KMS()})
}

// flowLogResources are the flow log, its group and the role it delivers with.
func flowLogResources(in *Inputs) []engine.Resource {
	return []engine.Resource{
		&logGroup{in: in, api: in.AWS.Logs(), kms: in.AWS.KMS(), key: keyFlowLogGroup, name: flowLogGroupName(in)},
		&role{in: in, api: in.AWS.IAM(), key: keyFlowLogRole, name: boundedName(in.prefix()+"-flow-logs", 64),
			trust: flowLogTrustPolicy(in), deps: []string{keyFlowLogGroup}, policy: flowLogPolicy,
			description: "VPC flow logs of " + in.prefix() + ": write to their log group"},
		&flowLog{in: in, api: in.AWS.EC2()},
	}
}

// flowLogTrustPolicy lets the flow logs service assume the role only on behalf of this
// account's flow logs (the confused-deputy guard: another account's flow log, naming
// this role, is refused).
func flowLogTrustPolicy(in *Inputs) string {
	return serviceTrustPolicy(flowLogsService, in.Account, fmt.Sprintf("arn:%s:ec2:%s:%s:vpc-flow-log/*", awsPartition(in.Region), in.Region, in.Account))
}

// flowLogPolicy is what the service needs to deliver, on the one group: make its streams
// (one per network interface) and put events. It lists the group's streams to resume
// them; DescribeLogGroups has no narrower resource than the account's groups.
func flowLogPolicy(in *Inputs, deps engine.Deps, _ string) (string, bool) {
	logs := deps.Get(keyFlowLogGroup)
	if logs == nil {
		return "", false
	}
	arn := logs.ARN
	if arn == "" {
		arn = logGroupARN(in, logs.ID)
	}
	return policyJSON(
		policyStatement{Sid: "WriteFlowLogs", Effect: "Allow",
			Action: []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}, Resource: []string{arn + ":*"}},
		policyStatement{Sid: "FindTheGroup", Effect: "Allow", Action: []string{"logs:DescribeLogGroups"},
			Resource: []string{logGroupARN(in, "*")}},
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
	in  *Inputs
	api flowLogAPI
}

func (r *flowLog) Key() string  { return keyFlowLog }
func (r *flowLog) Type() string { return "ec2:flow-log" }
func (r *flowLog) DependsOn() []string {
	return []string{keyVPC, keyFlowLogGroup, keyFlowLogRole}
}

// desired are the VPC, group and role; ok is false while one does not exist yet.
func (r *flowLog) desired(deps engine.Deps) (vpc, group, role string, ok bool) {
	for _, k := range r.DependsOn() {
		if deps.Get(k) == nil {
			return "", "", "", false
		}
	}
	return deps.Get(keyVPC).ID, deps.Get(keyFlowLogGroup).ID, deps.Get(keyFlowLogRole).ARN, true
}

func (r *flowLog) Find(ctx context.Context, deps engine.Deps, rec *state.Resource) (*engine.Found, error) {
	vpc, group, role, ok := r.desired(deps)
	if !ok {
		return nil, nil
	}
	fl, extras, err := findTagged(ctx, r.in, "flow log", r.Key(), recID(rec), func(f ec2types.FlowLog) string { return aws.ToString(f.FlowLogId) },
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
	vpc, group, role, _ := r.desired(deps)
	out, err := r.api.CreateFlowLogs(ctx, &ec2.CreateFlowLogsInput{
		ResourceIds:              []string{vpc},
		ResourceType:             ec2types.FlowLogsResourceTypeVpc,
		TrafficType:              flowLogTraffic,
		LogDestinationType:       ec2types.LogDestinationTypeCloudWatchLogs,
		LogGroupName:             &group,
		DeliverLogsPermissionArn: &role,
		TagSpecifications:        ec2TagSpec(ec2types.ResourceTypeVpcFlowLog, r.in.tags(r.Key())),
		ClientToken:              aws.String(r.in.clientToken(r.Key())),
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
	if err != nil && !isNotFound(err) {
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
