import importlib.util
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

_spec = importlib.util.spec_from_file_location(
    "audit_accessanalyzer", Path(__file__).resolve().parent.parent / "audit_accessanalyzer.py"
)
aa = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aa)


@pytest.fixture
def client():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), aa.make_handler(aa.Analyzers()))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        # The SDK as fvdeploy's and Prowler's reach it: a real client, a loopback endpoint.
        yield boto3.client(
            "accessanalyzer",
            endpoint_url=f"http://127.0.0.1:{srv.server_address[1]}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_calls_fvdeploy_and_prowler_make(client):
    assert client.list_analyzers(type="ACCOUNT")["analyzers"] == []
    arn = client.create_analyzer(analyzerName="fastapi-vars", type="ACCOUNT", tags={"a": "1"})[
        "arn"
    ]
    client.tag_resource(resourceArn=arn, tags={"fvdeploy:app": "fastapi-vars"})
    listed = client.list_analyzers(type="ACCOUNT")["analyzers"]
    assert [(a["name"], a["status"], a["tags"]) for a in listed] == [
        ("fastapi-vars", "ACTIVE", {"a": "1", "fvdeploy:app": "fastapi-vars"})
    ]
    assert client.list_analyzers(type="ORGANIZATION")["analyzers"] == []
    assert client.get_analyzer(analyzerName="fastapi-vars")["analyzer"]["arn"] == arn
    assert client.list_findings(analyzerArn=arn)["findings"] == []


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.create_analyzer(analyzerName="x", type="ORGANIZATION"), "ValidationException"),
        (lambda c: c.get_analyzer(analyzerName="nope"), "ResourceNotFoundException"),
        (
            lambda c: c.tag_resource(resourceArn=aa.ACCOUNT_ARN + "nope", tags={"k": "v"}),
            "ResourceNotFoundException",
        ),
    ],
)
def test_refusals_carry_aws_error_codes(client, call, code):
    with pytest.raises(ClientError) as e:
        call(client)
    assert e.value.response["Error"]["Code"] == code
