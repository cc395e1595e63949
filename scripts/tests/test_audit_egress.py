import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "audit_egress.py"


@pytest.fixture
def proxy(tmp_path):
    port_file, log = tmp_path / "port", tmp_path / "egress.log"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(port_file), str(log)])
    try:
        deadline = time.monotonic() + 10
        while not (port_file.exists() and port_file.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}", log
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://ip-ranges.amazonaws.com/ip-ranges.json", "CONNECT ip-ranges.amazonaws.com:443"),
        ("http://example.com/version", "GET http://example.com/version"),
    ],
)
def test_a_request_through_the_proxy_is_refused_and_written_down(proxy, monkeypatch, url, want):
    address, log = proxy
    # How Prowler's HTTP clients (urllib, requests) pick the proxy up: the environment.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setitem(os.environ, var, address)
    monkeypatch.delitem(os.environ, "NO_PROXY", raising=False)
    monkeypatch.delitem(os.environ, "no_proxy", raising=False)
    with pytest.raises((urllib.error.URLError, OSError)):
        # A new opener: urlopen's shared one keeps the proxy of the first test.
        urllib.request.build_opener().open(url, timeout=5)
    assert log.read_text().splitlines() == [want]
