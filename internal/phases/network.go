package phases

import (
	"github.com/fvdeploy/fvdeploy/internal/engine"
)

// declareNetwork is the network of the design: a VPC over the configured AZs with a
// public and a private subnet in each, an internet gateway, NAT per the environment,
// route tables, the two security groups, the public ALB, its target group and listener.
func declareNetwork(in *Inputs) ([]engine.Resource, error) {
	ec2c := in.AWS.EC2()
	return []engine.Resource{
		&vpc{in: in, api: ec2c},
	}, nil
}
