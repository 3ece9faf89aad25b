"""A ledger with no calls, no ledger at all, a ledger that cannot be reached: a page saying so
and how to start one (200; 503 when unreachable), the same for the live refresh, and a JSON
error from the API — never a traceback, never a silent $0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costcap.ledger import open_sink
from tests.dashboard.reference import panels_of, served

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_sink(url).close()  # the schema, no call
    yield from served(url)


@pytest.fixture
def missing(tmp_path: Path) -> Iterator[TestClient]:
    yield from served(f"sqlite:///{tmp_path / 'nothing-here.db'}")


@pytest.fixture
def unreachable() -> Iterator[TestClient]:
    yield from served(UNREACHABLE)


def test_an_empty_ledger_is_a_page_saying_how_to_start_one(empty: TestClient) -> None:
    response = empty.get("/")
    assert response.status_code == 200
    assert "holds no calls yet" in response.text
    assert "make demo" in response.text
    assert "[ledger] url" in response.text
    panels, main, totals = panels_of(response.text)
    assert (panels, main["data-calls"], totals) == ({}, "0", {})  # no $0 figures


def test_an_empty_ledger_refreshes_the_same_notice(empty: TestClient) -> None:
    response = empty.get("/panels")
    assert response.status_code == 200
    assert "holds no calls yet" in response.text
    assert response.headers["x-costcap-calls"] == "0"


def test_no_ledger_is_a_page_saying_how_to_start_one(missing: TestClient) -> None:
    response = missing.get("/")
    assert response.status_code == 200
    assert "no costcap ledger at" in response.text
    assert "nothing-here.db" in response.text
    assert "make demo" in response.text


def test_no_ledger_is_a_404_from_the_api(missing: TestClient) -> None:
    response = missing.get("/api/features")
    assert response.status_code == 404
    assert "no costcap ledger at" in response.json()["error"]["message"]


def test_the_ledger_appearing_later_is_seen_on_the_next_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    for client in served(url):
        assert "no costcap ledger at" in client.get("/panels").text
        open_sink(url).close()
        assert "holds no calls yet" in client.get("/panels").text


@pytest.mark.postgres
def test_an_unreachable_ledger_is_a_503_page_saying_so(unreachable: TestClient) -> None:
    response = unreachable.get("/")
    assert response.status_code == 503
    assert "The ledger is unreachable" in response.text
    assert "127.0.0.1:1" in response.text
    assert "Traceback" not in response.text
    _, main, _ = panels_of(response.text)
    assert main["data-calls"] == "0"


@pytest.mark.postgres
def test_an_unreachable_ledger_is_a_503_for_the_refresh_and_the_api(
    unreachable: TestClient,
) -> None:
    assert unreachable.get("/panels").status_code == 503
    response = unreachable.get("/api/time")
    assert response.status_code == 503
    assert "unavailable" in response.json()["error"]["message"]
