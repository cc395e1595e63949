#!/usr/bin/env bash
# make demo: fvdeploy against local AWS emulators; nothing reaches AWS. On the runtime
# ground (ministack running ECS tasks as containers of a Docker engine of its own, moto
# for Application Auto Scaling) it builds the service's image, deploys dev, fetches the
# answer through the load balancer, validates, shows the logs and destroys it all.
# Without a Docker engine (not root, and none reachable) it deploys to moto without the
# service running.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "== $*" >&2; }
work=$(mktemp -d -t fvdeploy-demo.XXXXXX)
state=$work/state
ground=
moto=
cleanup() {
  for pid in $ground $moto; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The credentials up stores in Secrets Manager; validate reads them back from there.
export ADMIN_USER=admin
ADMIN_PASS=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export ADMIN_PASS
fv() {
  echo "\$ fvdeploy $*" >&2
  bin/fvdeploy --state "$state" "$@"
}

# Without a Docker engine the service cannot run: deploy to moto, which runs nothing.
demo_without_engine() {
  say "no Docker engine can be had here (not root, and none reachable): deploying dev to moto, without the service running"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # moto runs nothing; it reports this many tasks running per service.
  MOTO_ACM_VALIDATION_WAIT=0 MOTO_ECS_SERVICE_RUNNING=1 MOTO_IAM_LOAD_MANAGED_POLICIES=true \
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  moto=$!
  until curl -sf "http://127.0.0.1:$port/moto-api/data.json" >/dev/null; do
    kill -0 "$moto" 2>/dev/null || { say "moto did not start:"; cat "$work/moto.log" >&2; exit 1; }
    sleep 0.2
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE
  # An image URI the emulator accepts and never pulls; --image skips the build.
  image=123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-vars:demo
  fv up --env dev --image "$image"
  fv status --env dev
  fv destroy --env dev --yes
  say "done (the service did not run: run make demo as root to see it answer)"
}

say "compiling the runtime ground"
go build -o bin/ground ./internal/testenv/ground
bin/ground -env-file "$work/ground.env" &
ground=$!
until [ -s "$work/ground.env" ]; do
  if ! kill -0 "$ground" 2>/dev/null; then
    code=0
    wait "$ground" || code=$?
    ground=
    # 3: no engine to run the service on (see internal/testenv/ground).
    [ "$code" = 3 ] && { demo_without_engine; exit 0; }
    say "the runtime ground did not start; see above"
    exit 1
  fi
  sleep 0.5
done
set -a
# shellcheck disable=SC1091
. "$work/ground.env"
set +a
# The repository's own Dockerfile and api/, built on the offline base image when there is
# one (no base image can be pulled here), and pushed to ministack's registry.
{
  echo "image:"
  echo "  registry: \"$FVDEPLOY_REGISTRY\""
  if [ -n "$FVDEPLOY_BASE_IMAGE" ]; then
    echo "  build_args: [BASE_IMAGE=$FVDEPLOY_BASE_IMAGE, INSTALL_REQUIREMENTS=false]"
  fi
} >"$work/fvdeploy.yaml"
cfg=(--config "$work/fvdeploy.yaml")

fv version
fv doctor --env dev "${cfg[@]}"
say "building the service's image through the Docker Engine API, pushing it, deploying dev"
fv up --env dev "${cfg[@]}"

# ministack serves each load balancer under its gateway; its DNS name does not resolve.
alb=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["resources"]["network/alb"]["id"])' "$state/dev.json")
url=$FVDEPLOY_ALB_BASE$alb
# ministack completes a rollout when the container starts (AWS waits for its health
# checks): wait, a minute at most, until the app behind the ALB listens.
for _ in $(seq 1 240); do
  curl -s "$url/health" | grep -q 'connect error' || break
  sleep 0.25
done
say "GET $url/ through the load balancer, with the stored credentials:"
curl -sS -u "$ADMIN_USER:$ADMIN_PASS" -w '\nHTTP %{http_code}\n' "$url/"
say "and without them:"
curl -sS -w '\nHTTP %{http_code}\n' "$url/"

fv validate --env dev "${cfg[@]}" --url "$url"
fv logs --env dev "${cfg[@]}" --since 5m
fv destroy --env dev "${cfg[@]}" --yes
say "done."
