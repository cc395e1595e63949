import os

import pytest
from fastapi.testclient import TestClient
from support import PASSWORD, USER

# main reads the credentials at import, so they must be in place before any test imports it.
os.environ["ADMIN_USER"] = USER
os.environ["ADMIN_PASS"] = PASSWORD


@pytest.fixture
def client() -> TestClient:
    import main

    return TestClient(main.app)
