"""Runs the Dockerfile's CMD and HEALTHCHECK as written (no image can be built here).

The only changes: the port, and 127.0.0.1 instead of 0.0.0.0, so tests do not collide or
listen beyond loopback. `python` and `uvicorn` resolve to this virtualenv.
"""

import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import PASSWORD, USER, basic

API_DIR = Path(__file__).resolve().parent.parent
DOCKERFILE = API_DIR.parent / "Dockerfile"


def instructions() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def exec_form(prefix: str) -> list[str]:
    (line,) = [i for i in instructions() if i.startswith(prefix)]
    return json.loads(line.split(" CMD ", 1)[1] if " CMD " in line else line[len(prefix) :])


def image_env() -> dict[str, str]:
    env = {}
    for line in instructions():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def localise(argv: list[str], port: int) -> list[str]:
    return [
        arg.replace("8000", str(port)).replace("0.0.0.0", "127.0.0.1")  # noqa: S104
        for arg in argv
    ]


def container_env(**credentials: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_USER", "ADMIN_PASS")}
    env.update(image_env())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(credentials)
    return env


def healthcheck(port: int) -> int:
    argv = localise(exec_form("HEALTHCHECK"), port)
    return subprocess.run(argv, capture_output=True, timeout=10, env=container_env()).returncode


def test_image_settings():
    env = image_env()
    assert env["WEB_CONCURRENCY"] == "2"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    cmd = exec_form("CMD ")[-1]
    for flag in ("--proxy-headers", "--loop uvloop", "--http httptools", "--no-access-log"):
        assert flag in cmd


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"ADMIN_USER": USER}, id="pass-missing"),
        pytest.param({"ADMIN_USER": USER, "ADMIN_PASS": ""}, id="pass-empty"),
        pytest.param({"ADMIN_PASS": PASSWORD}, id="user-missing"),
    ],
)
def test_cmd_exits_nonzero_without_credentials(credentials):
    result = subprocess.run(
        localise(exec_form("CMD "), free_port()),
        cwd=API_DIR,
        env=container_env(**credentials),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr


def test_healthcheck_fails_when_nothing_listens():
    assert healthcheck(free_port()) != 0


def test_cmd_serves_and_turns_healthy(tmp_path):
    port = free_port()
    stdout = tmp_path / "stdout"
    with stdout.open("w") as out:
        server = subprocess.Popen(
            localise(exec_form("CMD "), port),
            cwd=API_DIR,
            env=container_env(ADMIN_USER=USER, ADMIN_PASS=PASSWORD),
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while healthcheck(port) != 0:
            assert server.poll() is None, "server exited"
            assert time.monotonic() < deadline, "never turned healthy"
            time.sleep(0.2)

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            headers={"Authorization": basic(USER, PASSWORD), "X-Forwarded-For": "203.0.113.7"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.status == 200
            assert json.load(response) == {
                "message": "Olá candidato, seja bem vindo ao Vars!",
                "username": USER,
            }
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0

    records = [json.loads(line) for line in stdout.read_text().splitlines()]
    (greeting,) = [r for r in records if r["path"] == "/"]
    assert greeting["status"] == 200
    assert greeting["client"] == "203.0.113.7"  # --proxy-headers honoured
    assert PASSWORD not in stdout.read_text()


def test_access_log_lines_arrive_at_once_through_a_pipe():
    """A plain `uvicorn main:app`, stdout a pipe, no PYTHONUNBUFFERED: each line still comes out."""
    port = free_port()
    env = container_env(ADMIN_USER=USER, ADMIN_PASS=PASSWORD)
    env.pop("PYTHONUNBUFFERED", None)
    argv = [sys.executable, "-m", "uvicorn", "main:app", "--port", str(port), "--no-access-log"]
    app = subprocess.Popen(  # noqa: S603
        argv, cwd=API_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        ready, _, _ = select.select([app.stdout], [], [], 10)
        assert ready, "no access log line within 10 s: stdout is buffered"
        assert json.loads(app.stdout.readline())["path"] == "/health"
    finally:
        app.kill()
        app.wait()
