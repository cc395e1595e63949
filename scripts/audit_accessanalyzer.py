"""A loopback stand-in for IAM Access Analyzer, which moto lacks, so that make audit can
turn on observability.guardrails: the REST-JSON operations fvdeploy calls (ListAnalyzers,
CreateAnalyzer, TagResource) and those Prowler reads (GetAnalyzer, ListFindings[V2]:
none), analyzers held in memory. Reached through AWS_ENDPOINT_URL_ACCESSANALYZER.

    audit_accessanalyzer.py PORT_FILE
"""

import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT_ARN = "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/"


class Analyzers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_name: dict[str, dict] = {}

    def create(self, name: str, kind: str, tags: dict) -> str:
        with self.lock:
            self.by_name[name] = {
                "arn": ACCOUNT_ARN + name,
                "name": name,
                "type": kind,
                "status": "ACTIVE",
                "createdAt": datetime.now(UTC).isoformat(),
                "tags": dict(tags),
            }
            return self.by_name[name]["arn"]

    def listed(self, kind: str | None) -> list[dict]:
        with self.lock:
            return [a for a in self.by_name.values() if kind in (None, a["type"])]

    def tag(self, arn: str, tags: dict) -> bool:
        with self.lock:
            for a in self.by_name.values():
                if a["arn"] == arn:
                    a["tags"].update(tags)
                    return True
            return False


def make_handler(store: Analyzers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: make audit keeps its own logs
            pass

        def reply(self, status: int, body: dict, error: str = "") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error:
                self.send_header("X-Amzn-Errortype", error)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"{}")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/analyzer":
                kind = parse_qs(url.query).get("type", [None])[0]
                self.reply(200, {"analyzers": store.listed(kind)})
            elif url.path.startswith("/analyzer/"):
                name = unquote(url.path.removeprefix("/analyzer/"))
                found = [a for a in store.listed(None) if a["name"] == name]
                if found:
                    self.reply(200, {"analyzer": found[0]})
                else:
                    self.reply(404, {"message": f"no analyzer {name}"}, "ResourceNotFoundException")
            else:
                self.reply(501, {"message": f"not modelled: GET {url.path}"})

        def do_PUT(self) -> None:
            if self.path != "/analyzer":
                self.reply(501, {"message": f"not modelled: PUT {self.path}"})
                return
            req = self.body()
            name, kind = req.get("analyzerName", ""), req.get("type", "")
            if not name or kind != "ACCOUNT":
                self.reply(
                    400, {"message": f"bad CreateAnalyzer input {req}"}, "ValidationException"
                )
                return
            self.reply(200, {"arn": store.create(name, kind, req.get("tags") or {})})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/tags/"):
                arn = unquote(path.removeprefix("/tags/"))
                if store.tag(arn, self.body().get("tags") or {}):
                    self.reply(200, {})
                else:
                    self.reply(404, {"message": f"no resource {arn}"}, "ResourceNotFoundException")
            elif path in ("/finding", "/findingv2"):
                self.reply(200, {"findings": []})
            else:
                self.reply(501, {"message": f"not modelled: POST {path}"})

    return Handler


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Analyzers())) as srv:
        Path(argv[0]).write_text(str(srv.server_address[1]))
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
