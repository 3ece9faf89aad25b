"""The table of cache backends: every test that takes ``cache_url`` runs on memory, SQLite and
Redis; ``shared_cache_url`` on those several processes can share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import redis_url

CACHE_BACKENDS = ["memory", "sqlite", "redis"]
SHARED_CACHE_BACKENDS = ["sqlite", "redis"]


def make_cache_url(backend: str, tmp_path: Path) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.db'}"
    return redis_url()


def drop_cache_keys(url: str) -> None:
    """Delete every key a test's Redis cache wrote under its prefix."""
    import redis

    base, _, prefix = url.partition("?prefix=")
    client = redis.Redis.from_url(base)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:cache:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=CACHE_BACKENDS)
def cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_cache_url(request.param, tmp_path)
    yield url
    if request.param == "redis":
        drop_cache_keys(url)


@pytest.fixture(params=SHARED_CACHE_BACKENDS)
def shared_cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_cache_url(request.param, tmp_path)
    yield url
    if request.param == "redis":
        drop_cache_keys(url)
