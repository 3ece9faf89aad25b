"""Shared fixtures. The table of store backends: every test that takes ``store_url`` runs on
all four backends; ``shared_store_url`` on those several processes can share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import drop_postgres_schema, drop_redis_prefix, postgres_url, redis_url

BACKENDS = ["memory", "sqlite", "redis", "postgres"]
SHARED_BACKENDS = ["sqlite", "redis", "postgres"]  # reachable from several processes


def make_url(backend: str, tmp_path: Path) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'costcap.db'}"
    if backend == "redis":
        return redis_url()
    return postgres_url()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_url(request.param, tmp_path)
    yield url
    if request.param == "postgres":
        drop_postgres_schema(url)
    elif request.param == "redis":
        drop_redis_prefix(url)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_url(request.param, tmp_path)
    yield url
    if request.param == "postgres":
        drop_postgres_schema(url)
    elif request.param == "redis":
        drop_redis_prefix(url)
