#!/usr/bin/env bash
# make audit: an independent auditor (Prowler, pinned) over what `fvdeploy up --env prod`
# creates with every option the emulator carries, all on a local moto; nothing reaches AWS
# or the internet. Prints the FAIL counts per severity on fvdeploy's own resources and
# the critical/high ones; exits 1 when one of those is not in scripts/audit-accepted.tsv.
# The full report goes to .audit/ (made anew each run): report.md, Prowler's OCSF JSON,
# the up's call trace and the logs. Takes about 4 minutes (Prowler 3), plus about 10 for the
# first install of Prowler.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "== $*" >&2; }
out=$PWD/.audit
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d -t fvdeploy-audit.XXXXXX)
moto=
egress=
analyzer=
# shellcheck disable=SC2329 # called by the trap below (shellcheck 0.11 misses that here)
cleanup() {
  for pid in $moto $egress $analyzer; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Prowler in a venv of its own: it pins other botocore/boto3 than moto does.
audit_venv=.venv-audit
want=$(sha256sum requirements-audit.txt | cut -d' ' -f1)
if [ ! -x "$audit_venv/bin/prowler" ] || [ ! -f "$audit_venv/.fvdeploy-deps" ] ||
  [ "$(cat "$audit_venv/.fvdeploy-deps")" != "$want" ]; then
  say "installing $(cat requirements-audit.txt) into $audit_venv (once: about 10 minutes, 2.5 GB)"
  python3 -m venv "$audit_venv"
  "$audit_venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-audit.txt
  echo "$want" >"$audit_venv/.fvdeploy-deps"
fi

say "building fvdeploy"
go build -o "$work/bin/fvdeploy" ./cmd/fvdeploy

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The emulator, set as internal/testenv starts it; its own settings only, none of ours.
port=$(free_port)
env -u AWS_PROFILE MOTO_ACM_VALIDATION_WAIT=0 MOTO_ECS_SERVICE_RUNNING=2 MOTO_IAM_LOAD_MANAGED_POLICIES=true \
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$out/moto.log" 2>&1 &
moto=$!
until curl -sf "http://127.0.0.1:$port/moto-api/data.json" >/dev/null; do
  kill -0 "$moto" 2>/dev/null || { say "moto did not start:"; cat "$out/moto.log" >&2; exit 1; }
  sleep 0.2
done

# Every process below talks to the emulator with dummy credentials, away from any real
# profile or instance role.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
  AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

# moto has no IAM Access Analyzer: a loopback stand-in plays it for fvdeploy's guardrails
# and for Prowler.
python3 scripts/audit_accessanalyzer.py "$work/analyzer.port" &
analyzer=$!
until [ -s "$work/analyzer.port" ]; do sleep 0.1; done
AWS_ENDPOINT_URL_ACCESSANALYZER=http://127.0.0.1:$(cat "$work/analyzer.port")
export AWS_ENDPOINT_URL_ACCESSANALYZER

# Every option, guardrails with the stand-in above. Left out: the image phase (--image: no
# Docker here, so no ECR repository).
cat >"$work/fvdeploy.yaml" <<'EOF'
edge:
  domain: api.example.com
  waf: true
  waf_logs: true
alarms:
  email: [ops@example.com]
  chat_relay: true
observability:
  cloudtrail: true
  alb_access_logs: true
  tracing: true
  guardrails: true
cicd:
  github_repo: acme/shop
EOF
# The relay's webhook: loopback, and never called (the emulator runs no Lambda code).
export FVDEPLOY_CHAT_WEBHOOK_URL=https://127.0.0.1:9/hooks/audit
image=123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-vars@sha256:5d41402abc4b2a76b9719d911017c592ae5d41402abc4b2a76b9719d911017c5
say "fvdeploy up --env prod with every option the emulator carries"
(cd "$work" && HOME=$work bin/fvdeploy up --env prod --image "$image" --trace-calls "$out/up-calls.txt") \
  >"$out/up.log" 2>&1 || { say "up failed:"; cat "$out/up.log" >&2; exit 1; }
cp "$work/.fvdeploy/prod.json" "$out/state-prod.json"
# The VPC's default network ACL and security group: AWS's, made with fvdeploy's VPC.
.venv/bin/python scripts/audit_vpc_parts.py "$out/state-prod.json" >"$out/vpc-parts.txt"

# Anything Prowler sends past loopback goes to a proxy that refuses it and writes it down.
python3 scripts/audit_egress.py "$work/egress.port" "$out/egress.log" &
egress=$!
until [ -s "$work/egress.port" ]; do sleep 0.1; done
proxy=http://127.0.0.1:$(cat "$work/egress.port")

# The services fvdeploy uses, in Prowler's names (logs are checked under cloudwatch).
services=(vpc ec2 elbv2 ecs ecr iam secretsmanager kms s3 cloudwatch cloudtrail sns awslambda
  wafv2 route53 acm config accessanalyzer)
say "prowler aws on us-east-1: ${services[*]}"
start=$SECONDS
HTTP_PROXY=$proxy HTTPS_PROXY=$proxy http_proxy=$proxy https_proxy=$proxy \
  NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost HOME=$work \
  "$audit_venv/bin/prowler" aws --region us-east-1 --service "${services[@]}" \
  --output-formats json-ocsf --output-directory "$out/prowler" --output-filename prowler \
  --no-banner --ignore-exit-code-3 --log-level ERROR --log-file "$out/prowler-errors.log" \
  >"$out/prowler.log" 2>&1 || {
  say "prowler failed:"
  tail -50 "$out/prowler.log" >&2
  exit 1
}
took=$((SECONDS - start))
say "prowler took $took s"
refused=$(sort -u "$out/egress.log" | paste -sd ' ')
[ -z "$refused" ] || say "prowler tried to reach beyond loopback (refused): $refused"

rc=0
.venv/bin/python scripts/audit_report.py "$out/prowler/prowler.ocsf.json" "$out/state-prod.json" \
  scripts/audit-accepted.tsv "$out/report.md" "$out/vpc-parts.txt" || rc=$?
{
  echo
  echo "## This run"
  echo
  echo "- $(cat requirements-audit.txt) on us-east-1, services: ${services[*]}; it took $took s"
  echo "- refused connections beyond loopback: ${refused:-none}"
  echo "- calls Prowler could not make (emulator gaps, account-wide APIs): prowler-errors.log"
} >>"$out/report.md"
exit "$rc"
