"""The challenge's API: a JSON greeting behind HTTP Basic Auth, plus an open health check."""

import base64
import json
import os
import secrets
import sys

from fastapi import FastAPI, Request
from fastapi.responses import Response

from access_log import AccessLogMiddleware

# The challenge's contract: these bodies, byte for byte as FastAPI renders a dict
# (compact separators, UTF-8 as is), and a plain Basic challenge.
GREETING = "Olá candidato, seja bem vindo ao Vars!"
REFUSAL = "Usuário ou senha estão incorretos"

# uvicorn's exit code for "failed before serving": with --workers, its supervisor stops
# instead of respawning workers that would fail the same way forever.
STARTUP_FAILURE = 3


def load_credentials() -> tuple[str, str]:
    """Read ADMIN_USER / ADMIN_PASS, exiting with a clear message when either is unset."""
    missing = [name for name in ("ADMIN_USER", "ADMIN_PASS") if not os.environ.get(name)]
    if missing:
        sys.stderr.write(
            f"fvdeploy api: refusing to start: {' and '.join(missing)} must be set and non-empty\n"
        )
        raise SystemExit(STARTUP_FAILURE)
    return os.environ["ADMIN_USER"], os.environ["ADMIN_PASS"]


_user, _password = load_credentials()
# Compared as bytes: compare_digest on str only accepts ASCII, passwords may not be.
_EXPECTED_USER = _user.encode()
_EXPECTED_PASS = _password.encode()
# During a rotation the secret carries the password being replaced, so that no client is
# refused while tasks roll onto the new one; outside a rotation it is empty, and unusable.
_PREVIOUS_PASS = os.environ.get("ADMIN_PASS_PREVIOUS", "").encode()
_HAS_PREVIOUS = bool(_PREVIOUS_PASS)


def render(content: dict[str, str]) -> bytes:
    """JSON as FastAPI's JSONResponse writes it, computed once at start instead of per request."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


_GREETING = render({"message": GREETING, "username": _user})
_UNAUTHORIZED = render({"detail": REFUSAL})
_CHALLENGE = {"WWW-Authenticate": "Basic"}
_HEALTHY = b'{"status":"ok"}'
del _user, _password


def is_authorized(header: str | None) -> bool:
    """Check an Authorization header against the configured credentials in constant time."""
    if not header:
        return False
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII input
        return False
    user, colon, password = decoded.partition(b":")
    if not colon:
        return False
    # Every comparison always runs so timing does not reveal which one failed, or whether
    # a previous password is set.
    user_ok = secrets.compare_digest(user, _EXPECTED_USER)
    password_ok = secrets.compare_digest(password, _EXPECTED_PASS)
    previous_ok = secrets.compare_digest(password, _PREVIOUS_PASS) & _HAS_PREVIOUS
    return user_ok & (password_ok | previous_ok)


app = FastAPI(title="fvdeploy", docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(AccessLogMiddleware)

# Opt-in, and imported only then, so startup and request cost stay unchanged without it.
if os.environ.get("FVDEPLOY_TRACING") == "true":
    import tracing

    tracing.instrument(app)


@app.get("/")
async def root(request: Request) -> Response:
    if not is_authorized(request.headers.get("authorization")):
        return Response(
            _UNAUTHORIZED, status_code=401, headers=_CHALLENGE, media_type="application/json"
        )
    return Response(_GREETING, media_type="application/json")


@app.get("/health")
async def health() -> Response:
    return Response(_HEALTHY, media_type="application/json")
