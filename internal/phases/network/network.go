// Package network declares the network phase: the environment's KMS key, the VPC over two
// AZs with public and private subnets, internet and NAT gateways, route tables, security
// groups and their rules, network ACLs, flow logs, and the public ALB with its target
// group and HTTP listener.
package network

import (
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/phases/kinds"
	"github.com/fvdeploy/fvdeploy/internal/phases/kit"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// Phase says what the network phase is.
func Phase() kit.Phase {
	return kit.Phase{Name: "network", Summary: "the environment's KMS key; VPC over two AZs, subnets, NAT, security groups, network ACLs, flow logs, ALB and target group", Resources: declareNetwork, EveryKind: networkResources}
}

// declareNetwork is the network of the design: a VPC over the configured AZs with a
// public and a private subnet in each, an internet gateway, NAT per the environment,
// route tables, the two security groups, the public ALB, its target group and listener;
// the VPC's default security group and default network ACL emptied, a network ACL per
// tier of subnets, and, with network.flow_logs, the VPC's flow logs.
func declareNetwork(in *kit.Inputs) ([]engine.Resource, error) {
	ec2c, elbc := in.AWS.EC2(), in.AWS.ELB()
	azs := in.Config.Network.AZCount
	nats := 1
	if in.Config.Network.NAT == config.NATPerAZ {
		nats = azs
	}
	var rs []engine.Resource
	if in.Config.Observability.KMSKeyID == "" {
		// The environment's key (network/network/kms_key.go), first of all: the flow logs' group and every
		// later phase encrypt with it.
		rs = append(rs, &EnvKey{In: in, API: in.AWS.KMS()})
	}
	rs = append(rs,
		&vpc{in: in, api: ec2c},
		&igw{in: in, api: ec2c},
	)
	for i := range azs {
		rs = append(rs, &subnet{in: in, api: ec2c, public: true, index: i}, &subnet{in: in, api: ec2c, index: i})
	}
	for i := range nats {
		rs = append(rs, &eip{in: in, api: ec2c, index: i}, &nat{in: in, api: ec2c, index: i})
	}
	rs = append(rs, &routeTable{in: in, api: ec2c, public: true})
	for i := range azs {
		rs = append(rs, &routeTable{in: in, api: ec2c, index: i})
	}
	for _, role := range []string{kit.SGALB, kit.SGECS} {
		rs = append(rs, &securityGroup{in: in, api: ec2c, role: role})
	}
	for _, role := range []string{kit.SGALB, kit.SGECS} {
		rs = append(rs, &SGRules{In: in, api: ec2c, Role: role})
	}
	rs = append(rs, &defaultSG{in: in, api: ec2c}, &networkACL{in: in, api: ec2c, public: true}, &networkACL{in: in, api: ec2c},
		&defaultNetworkACL{in: in, api: ec2c})
	if in.Config.Network.FlowLogs {
		rs = append(rs, flowLogResources(in)...)
	}
	return append(rs,
		&alb{in: in, api: elbc},
		&kinds.TargetGroup{In: in, API: elbc},
		&ListenerHTTP{In: in, api: elbc},
	), nil
}

// NetworkOutputs are what the network gives the user: the ALB's address, until the edge
// phase puts a domain in front of it.
func NetworkOutputs(doc *state.Document) map[string]string {
	lb := doc.Resources[kit.KeyALB]
	if lb == nil || lb.Attrs["dns_name"] == "" {
		return nil
	}
	dns := lb.Attrs["dns_name"]
	return map[string]string{"alb_dns": dns, "url": "http://" + dns}
}

// networkResources has a resource of each type the phase can declare and later drop, for
// deleting: the flow logs and the environment's key.
func networkResources(in *kit.Inputs) []engine.Resource {
	return append(flowLogResources(in), &EnvKey{In: in, API: in.AWS.KMS()})
}
