#!/usr/bin/env bash
# Installs what the tests need: Debian's Docker engine, registry and debootstrap, and into
# .venv the moto AWS emulator, pytest, ruff and the service's requirements, all pinned.
# Idempotent: each part is skipped when it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# The image tests need a real Docker engine, a real registry and, for the offline Python
# base image, debootstrap: Debian's packages, installed when missing. The tests start
# and stop their own dockerd and registry (internal/testenv).
missing=()
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-deps: ${missing[*]} missing; install them (Debian: apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=.venv
stamp=$venv/.fvdeploy-deps
want=$(cat requirements-emulator.txt api/requirements.txt api/requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "test-deps: installing the emulator and Python test tools into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r requirements-emulator.txt -r api/requirements-dev.txt
echo "$want" >"$stamp"
