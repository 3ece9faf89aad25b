"""Real Redis and PostgreSQL for the tests.

On a machine without them the tests that need them skip with the reason; with
``COSTCAP_REQUIRE_SERVICES=1`` (CI) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("COSTCAP_TEST_REDIS", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("COSTCAP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if os.environ.get("COSTCAP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and COSTCAP_REQUIRE_SERVICES=1")
    pytest.skip(message)


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_redis() -> None:
    """Skip (or fail, in CI) unless the Redis of ``COSTCAP_TEST_REDIS`` answers."""
    require("Redis", *_address(REDIS_URL, 6379))


def require_postgres() -> None:
    """Skip (or fail, in CI) unless the PostgreSQL of ``COSTCAP_TEST_POSTGRES`` answers."""
    require("PostgreSQL", *_address(POSTGRES_URL, 5432))


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def redis_url() -> str:
    """A Redis URL with a fresh key prefix, so tests never see each other's counters."""
    require_redis()
    return f"{REDIS_URL}?prefix={unique('cctest')}"


def postgres_url() -> str:
    """A PostgreSQL URL with a fresh schema (created by the store, dropped by the fixture)."""
    require_postgres()
    return f"{POSTGRES_URL}?schema={unique('cctest')}"


def drop_redis_prefix(url: str) -> None:
    """Delete every key a test's store wrote under its prefix."""
    import redis

    base, _, prefix = url.partition("?prefix=")
    client = redis.Redis.from_url(base)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def drop_postgres_schema(url: str) -> None:
    import psycopg

    base, _, query = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{query}" CASCADE')


class OwnRedis:
    """A redis-server process of the test's own, on a free port, that the test can kill
    (``kill -9``) mid-call: the shared Redis must never be stopped by a test."""

    def __init__(self, directory: str) -> None:
        import shutil
        import subprocess

        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (a test needs a Redis process of its own)"
            if os.environ.get("COSTCAP_REQUIRE_SERVICES") == "1":
                pytest.fail(f"{message} and COSTCAP_REQUIRE_SERVICES=1")
            pytest.skip(message)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        import time

        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL, and wait until the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
