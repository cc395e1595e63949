#!/usr/bin/env bash
# Runs fvdeploy against a local AWS emulator (moto on 127.0.0.1): nothing reaches AWS.
# It deploys dev with every phase but the image build (a stand-in image: the demo has no
# Docker engine or base image to build from), shows that a second run changes nothing and
# what dev costs a month, runs the app locally with the stored credentials and validates
# it, and tears it all down.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t fvdeploy-demo-moto.XXXXXX)
# moto never runs tasks: it reports this many running per service.
MOTO_ACM_VALIDATION_WAIT=0 MOTO_ECS_SERVICE_RUNNING=1 MOTO_IAM_LOAD_MANAGED_POLICIES=true \
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
standin=
trap 'kill $moto $standin 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$port/moto-api/data.json" >/dev/null && break
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  AWS_EC2_METADATA_DISABLED=true
state=$(mktemp -d -t fvdeploy-demo-state.XXXXXX)
# A stand-in URI that the emulator accepts and never pulls; --image skips the build.
image=123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-vars:demo
fv() { echo "\$ fvdeploy $*" >&2; bin/fvdeploy --state "$state" "$@"; }

echo "== emulator on $AWS_ENDPOINT_URL (log: $log), state in $state" >&2
# The credentials up stores in Secrets Manager; validate reads them back from there.
export ADMIN_USER=admin
ADMIN_PASS=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export ADMIN_PASS

fv version
fv doctor --env dev --image "$image"
fv up --env dev --image "$image"
fv up --env dev --image "$image"
fv plan --env dev
fv status --env dev

# moto runs no task: run the app on loopback and stand in for ECS (a registered target,
# the access log copied into the log group), then prove it end to end.
app_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# boto3 reads an empty AWS_PROFILE as a profile named "": leave it out.
env -u AWS_PROFILE .venv/bin/python scripts/demo_standin.py "$state/dev.json" "$app_port" &
standin=$!
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$app_port/health" >/dev/null && break
  kill -0 "$standin" 2>/dev/null || { echo "the app stand-in exited; see above" >&2; exit 1; }
  sleep 0.2
done
fv validate --env dev --security --url "http://127.0.0.1:$app_port"
fv logs --env dev --since 5m
kill "$standin"; wait "$standin" 2>/dev/null || true; standin=

fv destroy --env dev --yes
echo "== done." >&2
