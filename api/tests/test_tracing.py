"""Tracing: off unless FVDEPLOY_TRACING=true; on, spans reach an OTLP/HTTP collector, never
for /health and never with credentials.

The app runs in subprocesses: tracing installs process-wide OpenTelemetry providers, which
must not leak into the in-process tests.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from support import PASSWORD, USER, basic

API_DIR = Path(__file__).resolve().parent.parent
WRONG_PASSWORD = "wr0ng-pässwört"
# An X-Ray-traced caller's header, as the ALB passes it on (the example from AWS's docs).
XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY_PARENT = "53995c3f42cd8ad8"


def app_env(**overrides: str | None) -> dict[str, str]:
    # Nothing inherited may configure OpenTelemetry or route the export through a proxy.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "FVDEPLOY_")) and not k.lower().endswith("_proxy")
    }
    env.update(ADMIN_USER=USER, ADMIN_PASS=PASSWORD)
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


IMPORT_MAIN = """
import json, sys

def otel():
    return {m for m in sys.modules if m.split(".")[0] == "opentelemetry"}

import fastapi  # loads the OpenTelemetry API itself, for FastAPI's native telemetry
before = otel()
import main
print(json.dumps({"added": sorted(otel() - before), "tracing": "tracing" in sys.modules}))
"""


@pytest.mark.parametrize("flag", [None, "false", "1", ""])
def test_tracing_off_loads_no_opentelemetry(flag):
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_MAIN],
        cwd=API_DIR,
        env=app_env(FVDEPLOY_TRACING=flag),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"added": [], "tracing": False}


@dataclass
class Collector:
    url: str = ""
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)

    def spans(self) -> tuple[list[dict[str, object]], list[Span]]:
        """The resources' attributes and the spans of every export received."""
        resources, spans = [], []
        for _, _, body in self.posts:
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                resources.append(attributes(resource_spans.resource.attributes))
                for scope_spans in resource_spans.scope_spans:
                    spans.extend(scope_spans.spans)
        return resources, spans


def value(any_value: AnyValue) -> object:
    return getattr(any_value, any_value.WhichOneof("value"))


def attributes(key_values) -> dict[str, object]:
    return {kv.key: value(kv.value) for kv in key_values}


@pytest.fixture
def collector():
    """An OTLP/HTTP collector on 127.0.0.1 that records what it is sent."""
    recorded = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorded.posts.append((self.path, self.headers["Content-Type"], body))
            # An empty ExportTraceServiceResponse: everything accepted.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield recorded
    server.shutdown()
    server.server_close()
    thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, **headers: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize(
    ("service_name", "expected_service"),
    [
        pytest.param(None, "fastapi-vars", id="default-service-name"),
        pytest.param("fastapi-vars-hml", "fastapi-vars-hml", id="OTEL_SERVICE_NAME"),
    ],
)
def test_tracing_on_exports_spans_without_credentials(
    collector, tmp_path, service_name, expected_service
):
    port = free_port()
    env = app_env(
        FVDEPLOY_TRACING="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME=service_name,
    )
    # Two workers, as in the image: each exports its own spans, and flushes them when the
    # supervisor stops it.
    argv = [
        *(sys.executable, "-m", "uvicorn", "main:app", "--port", str(port)),
        *("--workers", "2", "--no-access-log"),
    ]
    started = time.time()
    output = tmp_path / "output"
    with output.open("w") as out:
        app = subprocess.Popen(argv, cwd=API_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert app.poll() is None, output.read_text()
            try:
                if get(port, "/health") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "never turned healthy"
            time.sleep(0.1)

        authorized = basic(USER, PASSWORD)
        assert get(port, "/", Authorization=authorized) == 200
        assert get(port, "/", Authorization=basic(USER, WRONG_PASSWORD)) == 401
        xray = f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1"
        assert get(port, "/", Authorization=authorized, **{"X-Amzn-Trace-Id": xray}) == 200
        assert get(port, "/health") == 200
    finally:
        # The spans are batched: only the flush at shutdown sends them this soon.
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=30) == 0
    finished = time.time()

    assert collector.posts, "nothing exported"
    for path, content_type, _ in collector.posts:
        assert path == "/v1/traces"
        assert content_type == "application/x-protobuf"

    resources, spans = collector.spans()
    assert {r["service.name"] for r in resources} == {expected_service}

    # One server span per request to / (no receive/send spans, no second span from FastAPI's
    # native telemetry) and none for /health.
    assert [s.name for s in spans] == ["GET /"] * 3
    assert all(s.kind == Span.SPAN_KIND_SERVER for s in spans)
    by_status = {}
    for span in spans:
        attrs = attributes(span.attributes)
        status = attrs.get("http.response.status_code", attrs.get("http.status_code"))
        by_status.setdefault(status, []).append(span)
    assert sorted(by_status) == [200, 401]
    assert len(by_status[200]) == 2

    # The X-Ray caller's trace is continued; the others start X-Ray-shaped traces: the first
    # 8 hex digits are the start time.
    (continued,) = [s for s in spans if s.parent_span_id]
    assert continued.trace_id.hex() == XRAY_ROOT[2:].replace("-", "")
    assert continued.parent_span_id.hex() == XRAY_PARENT
    for span in spans:
        if span is not continued:
            assert started - 2 <= int(span.trace_id.hex()[:8], 16) <= finished + 2

    sent = b"".join(body for _, _, body in collector.posts)
    strings = " ".join(
        str(v) for s in spans for v in [s.name, *attributes(s.attributes).values()]
    ).encode()
    for password in (PASSWORD, WRONG_PASSWORD):
        token = base64.b64encode(f"{USER}:{password}".encode())
        for haystack in (sent, strings, output.read_bytes()):
            assert password.encode() not in haystack
            assert token not in haystack
    for haystack in (sent, strings):
        assert b"authorization" not in haystack.lower()
        assert b"/health" not in haystack
