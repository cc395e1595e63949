"""A fresh handler module per test, wired to a real webhook server on 127.0.0.1."""

import importlib.util
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

HANDLER = Path(__file__).resolve().parent.parent / "handler.py"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fastapi-vars-prod-webhook-AbCdEf"


@dataclass
class Received:
    method: str
    path: str
    content_type: str
    body: bytes

    def text(self) -> str:
        return json.loads(self.body)["text"]


@dataclass
class Webhook:
    url: str
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def webhook():
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(hook.delay)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append(
                Received("POST", self.path, self.headers.get("Content-Type", ""), body)
            )
            self.send_response(hook.status)
            for name, value in hook.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            # The default request log names the path, i.e. the secret URL.
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # A short poll interval so that shutdown() does not add half a second to every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def load_handler(monkeypatch):
    """Loads handler.py anew, so its URL cache starts empty, as in a new Lambda container."""
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)  # the posts must go straight to 127.0.0.1
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", SECRET_ARN)

    def load() -> ModuleType:
        spec = importlib.util.spec_from_file_location("handler", HANDLER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def relay(webhook, load_handler) -> ModuleType:
    """The handler, fetching the test server's URL; relay.fetches lists the ARNs it asked for."""
    module = load_handler()
    module.fetches = []

    def fetch(secret_arn: str) -> str:
        module.fetches.append(secret_arn)
        return webhook.url

    module.fetch_webhook_url = fetch
    return module
