import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "audit_report", Path(__file__).resolve().parent.parent / "audit_report.py"
)
ar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ar)

VPC = "vpc-1e38edd65919888e9"
STATE = {
    "app": "fastapi-vars",
    "env": "prod",
    "resources": {
        "network/vpc": {"type": "ec2:vpc", "id": VPC},
        "network/sg-alb": {"type": "ec2:security-group", "id": "sg-4059d04946abf4bd1"},
        "secrets/admin": {
            "type": "secretsmanager:secret",
            "id": "fastapi-vars-prod-admin",
            "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fastapi-vars-prod-admin-L",
        },
        "edge/zone": {"type": "route53:hosted-zone", "id": "E7LFY6IN6A5NJGNU7SUZF1"},
    },
}


def finding(check, severity, uid, name="", status="FAIL", data=None, labels=None):
    return {
        "status_code": status,
        "severity": severity,
        "metadata": {"event_code": check},
        "message": f"{check} on {uid}",
        "resources": [{"uid": uid, "name": name, "data": data or {}, "labels": labels or []}],
    }


@pytest.mark.parametrize(
    ("resource", "ours"),
    [
        ({"uid": "arn:aws:ec2:us-east-1:123456789012:vpc/" + VPC}, True),
        ({"uid": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-4059d04946abf4bd1"}, True),
        ({"uid": "arn:aws:route53:::hostedzone/E7LFY6IN6A5NJGNU7SUZF1"}, True),
        ({"uid": "arn:aws:iam::123456789012:role/fastapi-vars-prod-exec"}, True),
        ({"uid": "arn:aws:iam::123456789012:role/fastapi-vars-hml-exec"}, False),
        # The VPC's default security group: AWS made it with fvdeploy's VPC.
        (
            {
                "uid": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-default1",
                "data": {"details": "", "metadata": {"vpc_id": VPC}},
            },
            True,
        ),
        (
            {
                "uid": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-other",
                "data": {"metadata": {"vpc_id": "vpc-someoneelse"}},
            },
            False,
        ),
        (
            {"uid": "arn:aws:s3:::x", "labels": ["fvdeploy:app:fastapi-vars", "fvdeploy:env:prod"]},
            True,
        ),
        (
            {"uid": "arn:aws:s3:::y", "labels": ["fvdeploy:app:fastapi-vars", "fvdeploy:env:dev"]},
            False,
        ),
        (
            {"uid": "arn:aws:s3:::z", "tags": [{"Key": "fvdeploy:app", "Value": "fastapi-vars"}]},
            False,
        ),
        ({"uid": "arn:aws:iam::123456789012:root", "name": "123456789012"}, False),
        # An account-wide finding that merely lists every VPC is nobody's in particular.
        (
            {
                "uid": "arn:aws:ec2:us-east-1:123456789012:vpc",
                "data": {"metadata": {VPC: {"id": VPC}, "vpc-default": {"id": "vpc-default"}}},
            },
            False,
        ),
        # The VPC's default network ACL, known from the VPC parts the script lists.
        ({"uid": "arn:aws:ec2:us-east-1:123456789012:network-acl/acl-ours"}, True),
        ({"uid": "arn:aws:ec2:us-east-1:123456789012:network-acl/acl-theirs"}, False),
        ({"uid": "", "name": ""}, False),
    ],
)
def test_owned_resources(resource, ours):
    assert ar.Owned.from_state(STATE, ("acl-ours",)).holds(resource) is ours


def test_failed_findings_keep_fvdeploys_fails_once_each_most_severe_first():
    role = "arn:aws:iam::123456789012:role/fastapi-vars-prod-task"
    ocsf = [
        finding("iam_role_x", "Low", role),
        finding("iam_role_x", "Low", role),  # the same check and resource twice
        finding("s3_bucket_y", "High", "arn:aws:s3:::someone-elses"),
        finding("secretsmanager_z", "Critical", STATE["resources"]["secrets/admin"]["arn"]),
        finding("iam_role_w", "Medium", role, status="PASS"),
        finding("iam_role_v", "Informational", role, status="MANUAL"),
    ]
    got = ar.failed_findings(ocsf, ar.Owned.from_state(STATE))
    assert [(f.check, f.severity) for f in got] == [
        ("secretsmanager_z", "critical"),
        ("iam_role_x", "low"),
    ]


def test_allowlist_decides_what_blocks_and_reports_stale_entries():
    findings = [
        ar.Finding(
            "logs_retention", "high", "arn:aws:logs:::log-group:/ecs/fastapi-vars-prod", "m"
        ),
        ar.Finding("s3_versioning", "high", "arn:aws:s3:::fastapi-vars-prod-trail", "m"),
        ar.Finding("s3_versioning", "medium", "arn:aws:s3:::fastapi-vars-prod-alb", "m"),
    ]
    allowlist = ar.load_allowlist(
        "# check\tresource\tkind\treason\n"
        "logs_retention\t*/ecs/fastapi-vars-*\taccepted\t30 days in prod\n"
        "s3_versioning\t*-alb\temulator\tmoto drops it\n"
        "kms_rotation\t*\temulator\tno longer seen\n"
    )
    v = ar.judge(findings, allowlist)
    assert v.blocking() == [findings[1]]
    assert v.tally() == "critical 0, high 2 (1 allowed), medium 1 (1 allowed), low 0"
    assert [a.check for a in v.unused] == ["kms_rotation"]
    report = ar.render(v, ar.Owned.from_state(STATE))
    assert "NOT ALLOWED" in report and "allowed (accepted): 30 days in prod" in report


@pytest.mark.parametrize(
    "text",
    [
        "only\tthree\tfields\n",
        "a\tb\tmaybe\treason\n",
        "a\t\taccepted\treason\n",
    ],
)
def test_allowlist_rejects_malformed_entries(text):
    with pytest.raises(ValueError):
        ar.load_allowlist(text)


@pytest.mark.parametrize(
    ("severity", "allowed", "code"),
    [("High", False, 1), ("Critical", False, 1), ("High", True, 0), ("Medium", False, 0)],
)
def test_main_exit_code(tmp_path, severity, allowed, code):
    uid = "arn:aws:iam::123456789012:role/fastapi-vars-prod-deploy"
    (tmp_path / "f.json").write_text(json.dumps([finding("iam_check", severity, uid)]))
    (tmp_path / "s.json").write_text(json.dumps(STATE))
    line = f"iam_check\t{uid}\temulator\tmoto\n" if allowed else ""
    (tmp_path / "a.tsv").write_text("# header\n" + line)
    args = [str(tmp_path / n) for n in ("f.json", "s.json", "a.tsv", "r.md")]
    assert ar.main(args) == code
    assert "iam_check" in (tmp_path / "r.md").read_text()


def test_allowlist_matches_a_security_group_by_its_name():
    sg = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0fa70c4cef95381e7"
    ocsf = [finding("ec2_securitygroup_not_used", "Low", sg, name="sg-0fa70c4cef95381e7")]
    ocsf[0]["resources"][0]["data"] = {
        "details": "fastapi-vars-prod-ecs",
        "metadata": {"vpc_id": VPC},
    }
    got = ar.failed_findings(ocsf, ar.Owned.from_state(STATE))
    by_name = ar.load_allowlist("ec2_securitygroup_not_used\t*-prod-ecs\temulator\tno tasks run\n")
    by_other = ar.load_allowlist("ec2_securitygroup_not_used\t*-prod-alb\temulator\tno tasks\n")
    assert len(got) == 1
    assert ar.judge(got, by_name).allowed and not ar.judge(got, by_other).allowed
