"""Reads Prowler's OCSF findings, keeps the failed ones on resources fvdeploy created (by
the environment's state file, its name prefix or its tags, and what AWS made with its VPC),
weighs them against the allowlist and writes the report. Exit 1 when a critical or high
finding is not allowed.

    audit_report.py FINDINGS.ocsf.json STATE.json ALLOWLIST.tsv REPORT.md [VPC_PARTS]

VPC_PARTS: IDs, one a line, of what AWS created with the environment's VPC (its default
network ACL and security group): Prowler does not say which VPC a network ACL is in.
"""

import csv
import fnmatch
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

SEVERITIES = ("critical", "high", "medium", "low", "informational")
BLOCKING = ("critical", "high")
KINDS = ("accepted", "emulator")


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    resource: str  # the resource's ARN (Prowler's uid)
    message: str
    # Other names an allowlist entry may match: Prowler's name for it, its details
    # (a security group's name).
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Allowed:
    check: str
    resource: str  # a glob on the resource's ARN or name
    kind: str
    reason: str

    def covers(self, f: Finding) -> bool:
        names = (f.resource, *f.aliases)
        return self.check == f.check and any(fnmatch.fnmatchcase(n, self.resource) for n in names)


@dataclass
class Owned:
    """What fvdeploy created in one environment, from its state document."""

    ids: set[str] = field(default_factory=set)
    vpcs: set[str] = field(default_factory=set)
    prefix: str = ""
    app: str = ""
    env: str = ""

    @classmethod
    def from_state(cls, state: dict, vpc_parts: tuple[str, ...] = ()) -> "Owned":
        app, env = state.get("app", ""), state.get("env", "")
        o = cls(ids=set(vpc_parts), prefix=f"{app}-{env}", app=app, env=env)
        for r in state.get("resources", {}).values():
            for key in ("id", "arn"):
                if r.get(key):
                    o.ids.add(r[key])
            if r.get("type") == "ec2:vpc" and r.get("id"):
                o.vpcs.add(r["id"])
        return o

    def holds(self, resource: dict) -> bool:
        uid, name = resource.get("uid") or "", resource.get("name") or ""
        for s in (uid, name):
            if not s:
                continue
            if s in self.ids or (self.prefix and self.prefix in s):
                return True
            # An ARN ends with the ID state keeps: arn:aws:ec2:…:vpc/vpc-0abc.
            tail = s.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            if tail in self.ids:
                return True
        if self._tagged(resource):
            return True
        # What AWS makes with the VPC (its default security group) is fvdeploy's too:
        # Prowler names it by its own ID; its metadata names the VPC.
        metadata = (resource.get("data") or {}).get("metadata")
        return isinstance(metadata, dict) and metadata.get("vpc_id") in self.vpcs

    def _tagged(self, resource: dict) -> bool:
        tags = _tags(resource)
        app, env = tags.get("fvdeploy:app"), tags.get("fvdeploy:env")
        return bool(self.app) and app == self.app and env == self.env


def _tags(resource: dict) -> dict[str, str]:
    """Prowler's OCSF resources carry tags as "key:value" labels (or a tags mapping)."""
    tags: dict[str, str] = {}
    raw = resource.get("tags")
    if isinstance(raw, dict):
        tags.update({str(k): str(v) for k, v in raw.items()})
    elif isinstance(raw, list):
        for t in raw:
            if isinstance(t, dict) and "Key" in t:
                tags[str(t["Key"])] = str(t.get("Value", ""))
    for label in resource.get("labels") or []:
        # fvdeploy's keys hold one colon themselves: fvdeploy:app:fastapi-vars.
        key, sep, value = str(label).rpartition(":")
        if sep:
            tags[key] = value
    return tags


def failed_findings(ocsf: list[dict], owned: Owned) -> list[Finding]:
    """The FAIL findings on resources fvdeploy created, one per check and resource."""
    out: dict[tuple[str, str], Finding] = {}
    for f in ocsf:
        if f.get("status_code") != "FAIL":
            continue
        check = f.get("metadata", {}).get("event_code", "")
        severity = str(f.get("severity", "")).lower()
        for r in f.get("resources") or []:
            if owned.holds(r):
                res = r.get("uid") or r.get("name") or ""
                details = (r.get("data") or {}).get("details")
                aliases = tuple(a for a in (r.get("name"), details) if isinstance(a, str) and a)
                msg = f.get("message", "")
                out.setdefault((check, res), Finding(check, severity, res, msg, aliases))
    return sorted(out.values(), key=_order)


def _order(f: Finding) -> tuple:
    rank = SEVERITIES.index(f.severity) if f.severity in SEVERITIES else len(SEVERITIES)
    return (rank, f.check, f.resource)


def load_allowlist(text: str) -> list[Allowed]:
    """check id, resource glob, kind, reason: tab-separated; # starts a comment line."""
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    allowed = []
    for n, row in enumerate(csv.reader(rows, delimiter="\t"), start=1):
        if len(row) != 4 or not all(c.strip() for c in row):
            raise ValueError(f"allowlist entry {n}: want 4 tab-separated fields, got {row!r}")
        a = Allowed(*(c.strip() for c in row))
        if a.kind not in KINDS:
            raise ValueError(f"allowlist entry {n}: kind {a.kind!r}, want one of {KINDS}")
        allowed.append(a)
    return allowed


@dataclass
class Verdict:
    findings: list[Finding]
    allowed: dict[Finding, Allowed]
    unused: list[Allowed]

    def counts(self, allowed_only: bool = False) -> dict[str, int]:
        c = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            if not allowed_only or f in self.allowed:
                c[f.severity] = c.get(f.severity, 0) + 1
        return c

    def tally(self) -> str:
        """critical 0, high 2 (1 allowed), ..."""
        c, a = self.counts(), self.counts(allowed_only=True)
        return ", ".join(
            f"{s} {c[s]}" + (f" ({a[s]} allowed)" if a[s] else "") for s in SEVERITIES[:4]
        )

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity in BLOCKING and f not in self.allowed]


def judge(findings: list[Finding], allowlist: list[Allowed]) -> Verdict:
    allowed: dict[Finding, Allowed] = {}
    used: set[Allowed] = set()
    for f in findings:
        for a in allowlist:
            if a.covers(f):
                allowed[f] = a
                used.add(a)
                break
    return Verdict(findings, allowed, [a for a in allowlist if a not in used])


def render(v: Verdict, owned: Owned) -> str:
    lines = [
        f"# Prowler findings on {owned.prefix}",
        "",
        f"FAIL findings on resources fvdeploy created, per severity: {v.tally()}"
        f" (informational {v.counts()['informational']})",
        "",
    ]
    for sev in SEVERITIES:
        group = [f for f in v.findings if f.severity == sev]
        if not group:
            continue
        lines += [f"## {sev} ({len(group)})", ""]
        for f in group:
            note = ""
            if f in v.allowed:
                a = v.allowed[f]
                note = f" — allowed ({a.kind}): {a.reason}"
            elif sev in BLOCKING:
                note = " — NOT ALLOWED"
            lines.append(f"- `{f.check}` {f.resource}: {f.message}{note}")
        lines.append("")
    if v.unused:
        lines += ["## allowlist entries that matched nothing (remove them?)", ""]
        lines += [f"- `{a.check}` {a.resource} ({a.kind})" for a in v.unused]
        lines.append("")
    return "\n".join(lines)


def summary(v: Verdict) -> str:
    out = [f"FAIL on fvdeploy's resources: {v.tally()}"]
    for f in v.findings:
        if f.severity not in BLOCKING:
            continue
        a = v.allowed.get(f)
        mark = f"allowed ({a.kind})" if a else "NOT ALLOWED"
        out.append(f"  {f.severity:8} {f.check}  {f.resource}  [{mark}]\n           {f.message}")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    findings_path, state_path, allow_path, report_path = (Path(a) for a in argv[:4])
    try:
        ocsf = json.loads(findings_path.read_text())
        parts = tuple(Path(argv[4]).read_text().split()) if len(argv) == 5 else ()
        owned = Owned.from_state(json.loads(state_path.read_text()), parts)
        allowlist = load_allowlist(allow_path.read_text())
    except (OSError, ValueError) as e:
        print(f"audit: reading the findings, state and allowlist: {e}", file=sys.stderr)
        return 2
    v = judge(failed_findings(ocsf, owned), allowlist)
    report_path.write_text(render(v, owned))
    print(summary(v))
    blocking = v.blocking()
    if blocking:
        print(
            f"audit: {len(blocking)} critical/high finding(s) not in {allow_path}; "
            f"full report: {report_path}",
            file=sys.stderr,
        )
        return 1
    print(f"audit: no critical/high finding outside the allowlist; full report: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
