"""Waiting on a condition instead of sleeping a fixed time.

Each helper polls until what the test needs holds, with a generous deadline: a busy machine
makes the wait longer, never the test wrong. ``store_clock`` reads the clock a store ends its
leases by (the server's own for Redis and PostgreSQL); ``lapse`` waits until a lease has really
ended by it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import redis

__all__ = ["lapse", "store_clock", "until", "wait_for", "wait_past"]

TIMEOUT_S = 10.0
POLL_S = 0.01


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    """Poll ``condition`` until it holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(POLL_S)


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    """``wait_for`` for async tests: the event loop runs while it polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(POLL_S)


def wait_past(clock: Callable[[], float], seconds: float, timeout: float = TIMEOUT_S) -> None:
    """Wait until ``clock`` (seconds) reads more than ``seconds`` past what it reads now."""
    end = clock() + seconds
    wait_for(lambda: clock() > end, timeout)


def lapse(url: str, seconds: float) -> None:
    """Wait until ``seconds`` have passed on the clock the store at ``url`` ends leases by."""
    with store_clock(url) as clock:
        wait_past(clock, seconds)


@contextmanager
def store_clock(url: str) -> Iterator[Callable[[], float]]:
    """The clock the store at ``url`` reads for its leases, in seconds since the epoch: Redis
    ``TIME``, PostgreSQL ``clock_timestamp()``, the process clock for memory and SQLite."""
    scheme = url.partition(":")[0]
    server = url.partition("?")[0]  # without the store's own parameters (prefix, schema)
    if scheme.startswith("redis"):
        with redis.Redis.from_url(server) as client:

            def redis_time() -> float:
                seconds, micros = client.time()
                return int(seconds) + int(micros) / 1e6

            yield redis_time
    elif scheme.startswith("postgres"):
        with psycopg.connect(server, autocommit=True) as conn:

            def postgres_time() -> float:
                row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
                assert row is not None
                return float(row[0])

            yield postgres_time
    else:
        yield time.time
