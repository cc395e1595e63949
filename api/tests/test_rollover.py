"""The rotation rollover: ADMIN_PASS_PREVIOUS, when set, is accepted beside ADMIN_PASS."""

import importlib
import os

import pytest
from fastapi.testclient import TestClient
from support import PASSWORD, USER, basic

PREVIOUS = "the-0ld-pässword"


@pytest.fixture
def load_with_previous():
    """Import main afresh with ADMIN_PASS_PREVIOUS set to a value; the module reads it at
    import, as a task reads the secret at start. The plain import is restored afterwards."""
    import main

    def load(previous: str | None) -> TestClient:
        if previous is None:
            os.environ.pop("ADMIN_PASS_PREVIOUS", None)
        else:
            os.environ["ADMIN_PASS_PREVIOUS"] = previous
        return TestClient(importlib.reload(main).app)

    yield load
    os.environ.pop("ADMIN_PASS_PREVIOUS", None)
    importlib.reload(main)


@pytest.mark.parametrize(
    ("previous", "password", "status"),
    [
        pytest.param(PREVIOUS, PASSWORD, 200, id="rollover-current"),
        pytest.param(PREVIOUS, PREVIOUS, 200, id="rollover-previous"),
        pytest.param(PREVIOUS, "wrong", 401, id="rollover-wrong"),
        pytest.param(PREVIOUS, "", 401, id="rollover-empty"),
        pytest.param(PREVIOUS, PREVIOUS[:-1], 401, id="rollover-previous-truncated"),
        pytest.param("", PASSWORD, 200, id="no-rollover-current"),
        # An empty previous password must never make an empty password valid.
        pytest.param("", "", 401, id="no-rollover-empty"),
        pytest.param("", PREVIOUS, 401, id="no-rollover-previous"),
        pytest.param(None, PASSWORD, 200, id="unset-current"),
        pytest.param(None, "", 401, id="unset-empty"),
    ],
)
def test_previous_password_during_rollover_only(load_with_previous, previous, password, status):
    client = load_with_previous(previous)
    response = client.get("/", headers={"Authorization": basic(USER, password)})
    assert response.status_code == status


def test_previous_password_needs_the_user(load_with_previous):
    client = load_with_previous(PREVIOUS)
    response = client.get("/", headers={"Authorization": basic("mallory", PREVIOUS)})
    assert response.status_code == 401


def test_every_comparison_runs(load_with_previous, monkeypatch):
    # Timing must not tell which part failed, nor whether a previous password is set: the
    # user, the current and the previous password are compared on every request.
    import main

    load_with_previous(PREVIOUS)
    calls = []
    real = main.secrets.compare_digest
    monkeypatch.setattr(main.secrets, "compare_digest", lambda a, b: calls.append(b) or real(a, b))
    for password in (PASSWORD, PREVIOUS, "wrong"):
        calls.clear()
        main.is_authorized(basic("mallory", password))
        assert calls == [USER.encode(), PASSWORD.encode(), PREVIOUS.encode()]
