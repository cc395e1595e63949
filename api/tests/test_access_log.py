import base64
import json

import pytest
from support import PASSWORD, USER, basic


def log_records(captured: str) -> list[dict]:
    lines = captured.splitlines()
    assert lines, "no access log written"
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        pytest.param("/", basic(USER, PASSWORD), 200, id="authorized"),
        pytest.param("/", basic(USER, PASSWORD + "x"), 401, id="wrong-password"),
        pytest.param("/", None, 401, id="no-credentials"),
        pytest.param("/health", None, 200, id="health"),
        pytest.param("/missing", basic(USER, PASSWORD), 404, id="not-found"),
    ],
)
def test_one_json_line_per_request(client, capsys, path, authorization, status):
    headers = {"User-Agent": "probe/1.0"}
    if authorization:
        headers["Authorization"] = authorization
    capsys.readouterr()

    client.get(path + "?q=1", headers=headers)

    (record,) = log_records(capsys.readouterr().out)
    assert record["method"] == "GET"
    assert record["path"] == path
    assert record["status"] == status
    assert record["user_agent"] == "probe/1.0"
    assert record["client"] == "testclient"
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert record["timestamp"].endswith("Z")


def test_log_never_contains_credentials(client, capsys):
    authorization = basic(USER, PASSWORD)
    token = authorization.split(" ", 1)[1]
    capsys.readouterr()

    client.get("/", headers={"Authorization": authorization})
    client.get("/", headers={"Authorization": basic(USER, "wrong-guess")})

    out = capsys.readouterr().out
    assert len(log_records(out)) == 2
    for secret in (PASSWORD, json.dumps(PASSWORD), token, "wrong-guess", "Basic"):
        assert secret not in out
    assert base64.b64encode(b"wrong-guess").decode() not in out
