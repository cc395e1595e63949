"""Prints the IDs of the network ACLs and security groups in the environment's VPC, one a
line: AWS creates the default ones with the VPC, so they are fvdeploy's to answer for,
but Prowler does not say which VPC a network ACL belongs to.

    audit_vpc_parts.py STATE.json
"""

import json
import sys
from pathlib import Path

import boto3


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    state = json.loads(Path(argv[0]).read_text())
    vpcs = [r["id"] for r in state["resources"].values() if r.get("type") == "ec2:vpc"]
    ec2 = boto3.client("ec2", region_name=state.get("region") or None)
    only = [{"Name": "vpc-id", "Values": vpcs}]
    for page in ec2.get_paginator("describe_network_acls").paginate(Filters=only):
        for acl in page["NetworkAcls"]:
            print(acl["NetworkAclId"])
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=only):
        for sg in page["SecurityGroups"]:
            print(sg["GroupId"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
