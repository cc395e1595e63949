#!/usr/bin/env bash
# Installs what the tests need into .venv: the moto AWS emulator, pytest, ruff and the
# service's requirements, all pinned. Idempotent: skipped when the pins have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

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
