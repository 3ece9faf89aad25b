"""What the PostgreSQL store sets on its sessions: lock and statement timeouts (a call never waits
without limit behind another session's row lock), and libpq ``options`` kept as given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from costcap.errors import StoreUnavailable
from costcap.stores import Charge, CounterState, open_async_store
from costcap.stores.postgres import AsyncPostgresStore, PostgresStore
from tests.services import POSTGRES_URL, drop_postgres_schema, postgres_url
from tests.stores.helpers import rid

LEASE = 60.0
CHARGE = [Charge("b", ("b",), 10**6, 10)]
MARGIN_S = 3.0  # scheduling slack on a shared machine


@pytest.fixture
def url() -> Iterator[str]:
    fresh = postgres_url()
    yield fresh
    drop_postgres_schema(fresh)


def show(store: PostgresStore, setting: str) -> str:
    """The value of ``setting`` on one of the store's own pooled connections."""
    with store._ready().connection() as conn:
        row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def row_locked(url: str, key: str) -> Iterator[None]:
    """Another session holds counter ``key``'s row lock (``FOR UPDATE`` in an open transaction)
    until the block ends."""
    schema = url.partition("?schema=")[2]
    with psycopg.connect(POSTGRES_URL) as outside:
        found = outside.execute(
            f'SELECT 1 FROM "{schema}".counters WHERE key = %s FOR UPDATE', [key]
        ).fetchall()
        assert found == [(1,)]
        yield
        outside.rollback()


def test_default_timeouts_are_set_on_the_store_connections(url: str) -> None:
    """Without options in the URL, lock_timeout is 5 s and statement_timeout 10 s."""
    store = PostgresStore.from_url(url)
    try:
        assert (show(store, "lock_timeout"), show(store, "statement_timeout")) == ("5s", "10s")
    finally:
        store.close()


def test_libpq_options_from_the_url_are_kept_as_given(url: str) -> None:
    """``options=-c%20lock_timeout%3D2000`` reaches the server as written (the space was sent as
    ``+`` before, which libpq does not read as a space); the other default still applies."""
    store = PostgresStore.from_url(url + "&options=-c%20lock_timeout%3D2000")
    try:
        assert (show(store, "lock_timeout"), show(store, "statement_timeout")) == ("2s", "10s")
    finally:
        store.close()


def test_pgoptions_from_the_environment_still_apply(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without options in the URL, settings in PGOPTIONS are kept rather than replaced."""
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=7000")
    store = PostgresStore.from_url(url)
    try:
        assert (show(store, "lock_timeout"), show(store, "statement_timeout")) == ("5s", "7s")
    finally:
        store.close()


def test_admit_behind_a_row_lock_gives_up_after_the_lock_timeout(url: str) -> None:
    """An admit whose counter row another session keeps locked raises StoreUnavailable after the
    default 5 s lock_timeout (not never), saying so; once the lock is gone admits work again."""
    store = PostgresStore.from_url(url)
    try:
        store.admit(rid(), CHARGE, LEASE)  # the counter row exists
        with row_locked(url, "b"):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="gave up waiting for a lock after 5 s"):
                store.admit(rid(), CHARGE, LEASE)
            assert 4.5 < time.monotonic() - started < 5 + MARGIN_S
        assert store.admit(rid(), CHARGE, LEASE).states == (CounterState(0, 20),)
    finally:
        store.close()


async def test_async_admit_behind_a_row_lock_gives_up_after_the_url_lock_timeout(
    url: str,
) -> None:
    """The asyncio store gives up after the lock_timeout the URL's options set (0.5 s)."""
    store = open_async_store(url + "&options=-c%20lock_timeout%3D500")
    assert isinstance(store, AsyncPostgresStore)
    try:
        await store.admit(rid(), CHARGE, LEASE)
        with row_locked(url, "b"):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"gave up waiting for a lock after 0\.5 s"):
                await store.admit(rid(), CHARGE, LEASE)
            assert time.monotonic() - started < 0.5 + MARGIN_S
        assert await store.read([("b",)]) == [CounterState(0, 10)]
    finally:
        await store.close()


def test_a_call_past_the_statement_timeout_is_store_unavailable(url: str) -> None:
    """With no lock_timeout, statement_timeout still bounds the wait, with its own message."""
    options = "&options=-c%20lock_timeout%3D0%20-c%20statement_timeout%3D300"
    store = PostgresStore.from_url(url + options)
    try:
        store.admit(rid(), CHARGE, LEASE)
        with row_locked(url, "b"):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"gave up on a call after 0\.3 s"):
                store.admit(rid(), CHARGE, LEASE)
            assert time.monotonic() - started < 0.3 + MARGIN_S
    finally:
        store.close()
