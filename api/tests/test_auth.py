import base64

import pytest
from fastapi.responses import JSONResponse
from support import PASSWORD, USER, basic


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-credentials"),
        pytest.param(basic("mallory", PASSWORD), id="wrong-user"),
        pytest.param(basic(USER, "wrong"), id="wrong-password"),
        pytest.param(basic(USER, ""), id="empty-password"),
        pytest.param(basic("", ""), id="empty-user-and-password"),
        pytest.param(basic(USER.upper(), PASSWORD), id="user-case-differs"),
        pytest.param(basic(USER, PASSWORD.split(":")[0]), id="password-truncated-at-colon"),
        pytest.param(basic(USER, PASSWORD, scheme="Bearer"), id="wrong-scheme"),
        pytest.param("Basic", id="scheme-only"),
        pytest.param("Basic ", id="empty-token"),
        pytest.param("Basic !!!not-base64!!!", id="not-base64"),
        pytest.param("Basic " + b64(USER.encode() + PASSWORD.encode())[:-2], id="bad-padding"),
        pytest.param("Basic " + b64(f"{USER}{PASSWORD}".encode()), id="missing-colon"),
        pytest.param(b64(f"{USER}:{PASSWORD}".encode()), id="token-without-scheme"),
    ],
)
def test_root_rejects(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Basic"
    assert response.headers["content-type"] == "application/json"
    # Byte for byte what the challenge's app (FastAPI's HTTPException) answers.
    assert response.content == JSONResponse({"detail": "Usuário ou senha estão incorretos"}).body


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(basic(USER, PASSWORD), id="canonical"),
        pytest.param(basic(USER, PASSWORD, scheme="basic"), id="scheme-case-insensitive"),
    ],
)
def test_root_greets_user(client, authorization):
    response = client.get("/", headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "message": "Olá candidato, seja bem vindo ao Vars!",
        "username": USER,
    }
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param({"Authorization": basic(USER, "wrong")}, id="wrong-credentials"),
    ],
)
def test_health_needs_no_credentials(client, headers):
    response = client.get("/health", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_not_exposed(client, path):
    assert client.get(path).status_code == 404
