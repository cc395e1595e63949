package kit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Load balancer helpers the network, cluster and edge phases share: ownership checks,
// tags, and reading and writing listeners' default actions.

type ELBTagsAPI interface {
	DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
}

// ELBOwned checks that a load balancer object found by name carries key's ownership
// tags: names are unique per account and region, so one fvdeploy did not create must be
// reported, never adopted.
func ELBOwned(ctx context.Context, in *Inputs, api ELBTagsAPI, what, arn, key string) error {
	out, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	if err != nil {
		return fmt.Errorf("reading the tags of %s: %w", arn, err)
	}
	got := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			got[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return in.Claim(nil, what, arn, key, got)
}

func ELBTags(tags map[string]string) []elbtypes.Tag {
	return TagList(tags, func(k, v *string) elbtypes.Tag { return elbtypes.Tag{Key: k, Value: v} })
}

type ListenerAPI interface {
	CreateListener(ctx context.Context, in *elbv2.CreateListenerInput, opts ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error)
	DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	ModifyListener(ctx context.Context, in *elbv2.ModifyListenerInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	DeleteListener(ctx context.Context, in *elbv2.DeleteListenerInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteListenerOutput, error)
}

func OnPort(port int32) func(elbtypes.Listener) bool {
	return func(l elbtypes.Listener) bool { return aws.ToInt32(l.Port) == port }
}

// ListenerOn is the listener on port among listeners, nil when there is none.
func ListenerOn(listeners []elbtypes.Listener, port int32) *elbtypes.Listener {
	if i := slices.IndexFunc(listeners, OnPort(port)); i >= 0 {
		return &listeners[i]
	}
	return nil
}

// DescribeListeners lists a load balancer's listeners; none when it does not exist.
func DescribeListeners(ctx context.Context, api ListenerAPI, lbARN string) ([]elbtypes.Listener, error) {
	out, err := api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the listeners of load balancer %s: %w", lbARN, err)
	}
	return out.Listeners, nil
}

func ForwardTo(tgARN string) []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
}

// HTTPSRedirect sends plain HTTP permanently to HTTPS on the same host, path and query.
func HTTPSRedirect() []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumRedirect, RedirectConfig: &elbtypes.RedirectActionConfig{
		Protocol: aws.String("HTTPS"), Port: aws.String("443"),
		Host: aws.String("#{host}"), Path: aws.String("/#{path}"), Query: aws.String("#{query}"),
		StatusCode: elbtypes.RedirectActionStatusCodeEnumHttp301,
	}}}
}

// ActionString describes default actions for a plan, naming a forward's target group
// however AWS spelled it, and where a redirect goes.
func ActionString(actions []elbtypes.Action) string {
	var parts []string
	for _, a := range actions {
		s := string(a.Type)
		switch {
		case a.Type == elbtypes.ActionTypeEnumForward:
			tg := aws.ToString(a.TargetGroupArn)
			if tg == "" && a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 {
				tg = aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
			}
			s += " " + tg
		case a.Type == elbtypes.ActionTypeEnumRedirect && a.RedirectConfig != nil:
			c := a.RedirectConfig
			s += fmt.Sprintf(" %s://%s:%s%s?%s %s", aws.ToString(c.Protocol), aws.ToString(c.Host), aws.ToString(c.Port),
				aws.ToString(c.Path), aws.ToString(c.Query), c.StatusCode)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
