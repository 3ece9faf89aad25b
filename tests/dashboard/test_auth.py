"""A dashboard with a password: every request (the page, the API, the static files) needs it
as HTTP Basic's password (any user name); without it a 401 that makes a browser ask."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costcap.dashboard._auth import basic_password
from tests.dashboard.reference import served, written

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from served(written(tmp_path_factory, "auth"), password=PASSWORD)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


@pytest.mark.parametrize("path", ["/", "/panels", "/api/features", "/static/dashboard.js"])
def test_without_the_password_every_path_is_a_401_asking_for_it(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="costcap"'
    assert "password" in response.text


@pytest.mark.parametrize("user", ["", "ann", "Ann Smith"])  # a user name holds no colon
def test_the_password_with_any_user_name_opens_it(client: TestClient, user: str) -> None:
    assert client.get("/", headers=basic(user, PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        basic("ann", PASSWORD + "x"),
        basic("ann", ""),
        {"authorization": f"Bearer {PASSWORD}"},
        {"authorization": "Basic not-base64!"},
        {"authorization": "Basic " + base64.b64encode(b"no colon").decode()},
    ],
)
def test_anything_else_is_a_401(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/api/features", headers=headers).status_code == 401


def test_a_password_in_utf8_is_read() -> None:
    token = base64.b64encode("ann:pässwörd".encode()).decode()
    assert basic_password([(b"authorization", f"Basic {token}".encode())]) == "pässwörd"


def test_without_a_password_the_app_is_open(tmp_path: Path) -> None:
    for client in served(f"sqlite:///{tmp_path / 'ledger.db'}"):
        assert client.get("/").status_code == 200
