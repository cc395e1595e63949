"""Access log as one JSON object per line on stdout, written by a pure ASGI middleware.

Pure ASGI rather than BaseHTTPMiddleware: it only watches the response start message,
so it adds almost nothing per request. Request headers are never logged except the
User-Agent, so credentials cannot leak into the log.
"""

import json
import sys
import time
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class _Clock:
    """UTC ISO-8601 timestamps, formatting the date part once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        wall = time.time()
        second = int(wall)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((wall - second) * 1000):03d}Z"


class AccessLogMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._clock = _Clock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500  # reported if the app fails before starting a response
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            client = scope.get("client")
            user_agent = ""
            for name, value in scope["headers"]:
                if name == b"user-agent":
                    user_agent = value.decode("latin-1")
                    break
            record = {
                "timestamp": self._clock.now(),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "client": client[0] if client else None,
                "user_agent": user_agent,
            }
            # sys.stdout looked up per call so a redirected stdout (tests, tooling) is honoured;
            # flushed so a line reaches the log collector at once even when stdout is a pipe
            # and PYTHONUNBUFFERED is not set.
            out = sys.stdout
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            out.flush()
