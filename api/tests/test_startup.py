import os
import subprocess
import sys
from pathlib import Path

import pytest

API_DIR = Path(__file__).resolve().parent.parent


def env_with(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_USER", "ADMIN_PASS")}
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


MISCONFIGURED = [
    pytest.param({"ADMIN_USER": "alice"}, ["ADMIN_PASS"], id="pass-missing"),
    pytest.param({"ADMIN_PASS": "secret"}, ["ADMIN_USER"], id="user-missing"),
    pytest.param({"ADMIN_USER": "alice", "ADMIN_PASS": ""}, ["ADMIN_PASS"], id="pass-empty"),
    pytest.param({"ADMIN_USER": "", "ADMIN_PASS": "secret"}, ["ADMIN_USER"], id="user-empty"),
    pytest.param({}, ["ADMIN_USER", "ADMIN_PASS"], id="both-missing"),
]


@pytest.mark.parametrize(("env", "named"), MISCONFIGURED)
def test_import_refuses_without_credentials(env, named):
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=API_DIR,
        env=env_with(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    for name in named:
        assert name in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uvicorn_stops_instead_of_respawning_workers(workers):
    # uvicorn respawns workers that die unless they exit with its startup-failure code; the
    # timeout catches a respawn loop. With several workers uvicorn itself then exits 0, which
    # is why the Dockerfile checks the credentials before starting it (see test_dockerfile).
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "main:app", "--port", "0", "--workers", workers],
        cwd=API_DIR,
        env=env_with(ADMIN_USER="alice"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if workers == "1":
        assert result.returncode != 0
    assert "ADMIN_PASS must be set and non-empty" in result.stderr
