package phases

import (
	"github.com/fvdeploy/fvdeploy/internal/config"
	"github.com/fvdeploy/fvdeploy/internal/engine"
	"github.com/fvdeploy/fvdeploy/internal/state"
)

// networkPhase says what the network phase is.
func networkPhase() Phase {
	return Phase{Name: "network", Summary: "the environment's KMS key; VPC over two AZs, subnets, NAT, security groups, network ACLs, flow logs, ALB and target group", Resources: declareNetwork, EveryKind: networkResources}
}

// declareNetwork is the network of the design: a VPC over the configured AZs with a
// public and a private subnet in each, an internet gateway, NAT per the environment,
// route tables, the two security groups, the public ALB, its target group and listener;
// the VPC's default security group and default network ACL emptied, a network ACL per
// tier of subnets, and, with network.flow_logs, the VPC's flow logs.
func declareNetwork(in *Inputs) ([]engine.Resource, error) {
	ec2c, elbc := in.AWS.EC2(), in.AWS.ELB()
	azs := in.Config.Network.AZCount
	nats := 1
	if in.Config.Network.NAT == config.NATPerAZ {
		nats = azs
	}
	var rs []engine.Resource
	if in.Config.Observability.KMSKeyID == "" {
		// The environment's key (kms_key.go), first of all: the flow logs' group and every
		// later phase encrypt with it.
		rs = append(rs, &envKey{in: in, api: in.AWS.KMS()})
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
	for _, role := range []string{sgALB, sgECS} {
		rs = append(rs, &securityGroup{in: in, api: ec2c, role: role})
	}
	for _, role := range []string{sgALB, sgECS} {
		rs = append(rs, &sgRules{in: in, api: ec2c, role: role})
	}
	rs = append(rs, &defaultSG{in: in, api: ec2c}, &networkACL{in: in, api: ec2c, public: true}, &networkACL{in: in, api: ec2c},
		&defaultNetworkACL{in: in, api: ec2c})
	if in.Config.Network.FlowLogs {
		rs = append(rs, flowLogResources(in)...)
	}
	return append(rs,
		&alb{in: in, api: elbc},
		&targetGroup{in: in, api: elbc},
		&listenerHTTP{in: in, api: elbc},
	), nil
}

// networkOutputs are what the network gives the user: the ALB's address, until the edge
// phase puts a domain in front of it.
func networkOutputs(doc *state.Document) map[string]string {
	lb := doc.Resources[keyALB]
	if lb == nil || lb.Attrs["dns_name"] == "" {
		return nil
	}
	dns := lb.Attrs["dns_name"]
	return map[string]string{"alb_dns": dns, "url": "http://" + dns}
}
