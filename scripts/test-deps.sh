#!/usr/bin/env bash
# Installs what the tests need: Debian's Docker engine, registry, debootstrap and iproute2;
# into .venv the moto AWS emulator, pytest, ruff and the service's requirements; into
# .venv-runtime ministack, which runs ECS tasks as containers; all pinned.
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
# The runtime ground makes a bridge for its engine's task containers.
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
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

# install_venv DIR REQUIREMENTS...: a venv with those pinned requirements, made again only
# when they change.
install_venv() {
  local venv=$1
  shift
  local stamp=$venv/.fvdeploy-deps want
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  echo "test-deps: installing $* into $venv" >&2
  python3 -m venv "$venv"
  local args=()
  for r in "$@"; do args+=(-r "$r"); done
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}"
  echo "$want" >"$stamp"
}

# moto, pytest, ruff and the service's requirements.
install_venv .venv requirements-emulator.txt api/requirements.txt api/requirements-dev.txt
# ministack, the emulator that runs tasks (its own venv: it pins another botocore).
install_venv .venv-runtime requirements-runtime.txt
