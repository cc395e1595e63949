"""Credentials and helpers shared by the tests."""

import base64

USER = "alice"
# Non-ASCII and a colon: the password is compared as bytes and may contain ':' (RFC 7617).
PASSWORD = "s3cr:t-pässwörd"


def basic(user: str, password: str, scheme: str = "Basic") -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"{scheme} {token}"
