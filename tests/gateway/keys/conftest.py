"""The table of key-store backends: every test taking ``keys_url`` or ``store`` runs on SQLite (a
file in the test's directory) and PostgreSQL (a fresh schema, dropped afterwards; skipped with
the reason when the server is down, failed instead with COSTCAP_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costcap.gateway.keys import KeyStore, open_key_store
from tests.clocks import Clock
from tests.services import drop_postgres_schema, postgres_url

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=KEY_BACKENDS)
def keys_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'costcap.db'}"
        return
    url = postgres_url()
    yield url
    drop_postgres_schema(url)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def store(keys_url: str, clock: Clock) -> Iterator[KeyStore]:
    opened = open_key_store(keys_url, clock=clock)
    yield opened
    opened.close()
