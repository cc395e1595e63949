#!/usr/bin/env bash
# Runs fvdeploy against a local AWS emulator (moto on 127.0.0.1): nothing reaches AWS.
# It goes as far as the phases this build implements, and says where it stops.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t fvdeploy-demo-moto.XXXXXX)
MOTO_ACM_VALIDATION_WAIT=0 MOTO_ECS_SERVICE_RUNNING=1 MOTO_IAM_LOAD_MANAGED_POLICIES=true \
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$port/moto-api/data.json" >/dev/null && break
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_PROFILE= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  AWS_EC2_METADATA_DISABLED=true
state=.fvdeploy-demo
fv() { echo "\$ fvdeploy $*" >&2; bin/fvdeploy --state "$state" "$@"; }

echo "== emulator on $AWS_ENDPOINT_URL (log: $log)" >&2
fv version
fv up --env dev && up=0 || up=$?
fv status --env dev
if [ "$up" -ne 0 ]; then
  echo "== fvdeploy up stopped (exit $up): it does not pretend to deploy what this build cannot." >&2
fi
exit "$up"
