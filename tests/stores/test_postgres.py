"""What only the PostgreSQL store does: its schema, its pool, its locks, its recovery."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from costcap.errors import ConfigError, StoreUnavailable, UsageError
from costcap.stores import Charge, CounterState, open_async_store, open_store, postgres
from costcap.stores.postgres import SCHEMA_VERSION, AsyncPostgresStore, PostgresStore
from tests.services import POSTGRES_URL, drop_postgres_schema, postgres_url
from tests.stores.helpers import rid
from tests.waiting import lapse

LEASE = 60.0


@pytest.fixture
def url() -> Iterator[str]:
    fresh = postgres_url()
    yield fresh
    drop_postgres_schema(fresh)


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    s = PostgresStore.from_url(url)
    yield s
    s.close()


def schema_of(url: str) -> str:
    return url.partition("?schema=")[2]


def query(sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def test_schema_version_is_recorded(store: PostgresStore, url: str) -> None:
    """Opening a fresh schema creates it and records the schema version in its meta table."""
    rows = query(f'SELECT schema_version FROM "{schema_of(url)}".meta')
    assert rows == [(SCHEMA_VERSION,)]


def test_reopening_keeps_the_schema(store: PostgresStore, url: str) -> None:
    """A second store on the same schema sees the first one's counters; nothing is recreated."""
    store.admit(rid(), [Charge("k", ("k",), 100, 30)], LEASE)
    again = PostgresStore.from_url(url)
    assert again.read([("k",)]) == [CounterState(0, 30)]
    again.close()


def test_newer_schema_version_is_refused(store: PostgresStore, url: str) -> None:
    """A schema written by a newer costcap is refused with a ConfigError naming both versions."""
    query(f'UPDATE "{schema_of(url)}".meta SET schema_version = {SCHEMA_VERSION + 1}')
    with pytest.raises(ConfigError, match=f"version {SCHEMA_VERSION + 1}, newer"):
        PostgresStore.from_url(url)


def test_version_1_schema_with_an_open_reservation_is_migrated(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema left at version 1 with a reservation in flight (admitted by the nine-argument
    version-1 call) is upgraded to the current version on open; that reservation still expires as
    "spend", and a version-1 caller's admit keeps working on the migrated schema."""
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", 1)
    PostgresStore.from_url(url).close()
    monkeypatch.undo()
    s = f'"{schema_of(url)}"'
    assert query(f"SELECT schema_version FROM {s}.meta") == [(1,)]
    v1_admit = (
        f"SELECT admitted FROM {s}.costcap_admit(%s, '{{old}}', '{{old}}', '{{1}}', '{{100}}',"
        " '{40}', '{t}', '{3600}', %s)"
    )
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        assert conn.execute(v1_admit, [rid(), 0.5]).fetchall() == [(True,)]
    store = PostgresStore.from_url(url)
    assert query(f"SELECT schema_version FROM {s}.meta") == [(SCHEMA_VERSION,)]
    assert query(f"SELECT spend_on_expiry FROM {s}.reservations") == [(None,)]
    assert store.read([("old",)]) == [CounterState(0, 40)]
    lapse(url, 0.5)  # the version-1 lease of 0.5 s ends
    assert store.expire() == 1
    assert store.read([("old",)]) == [CounterState(40, 0)]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        assert conn.execute(v1_admit, [rid(), LEASE]).fetchall() == [(True,)]
    assert store.read([("old",)]) == [CounterState(40, 40)]
    store.close()


def test_concurrent_first_starts_migrate_once(url: str) -> None:
    """Eight stores opening a fresh schema at once all succeed; the schema is created once."""
    barrier = threading.Barrier(8)

    def start() -> PostgresStore:
        barrier.wait()
        return PostgresStore.from_url(url)

    with ThreadPoolExecutor(8) as pool:
        stores = [f.result() for f in [pool.submit(start) for _ in range(8)]]  # re-raises
    assert query(f'SELECT schema_version FROM "{schema_of(url)}".meta') == [(SCHEMA_VERSION,)]
    for s in stores:
        s.close()


async def test_async_store_runs_every_step(url: str) -> None:
    """The asyncio store (its own pool, opened and migrated on first use) does every protocol
    step with the same results as the sync one."""
    store = AsyncPostgresStore.from_url(url)
    charge = [Charge("k", ("k",), 100, 40)]
    settled, released, expiring = rid(), rid(), rid()
    assert (await store.admit(settled, charge, LEASE)).states == (CounterState(0, 40),)
    with pytest.raises(ValueError, match="already in use"):
        await store.admit(settled, charge, LEASE)
    assert await store.settle(settled, [10])
    assert (await store.admit(released, charge, LEASE)).admitted
    assert await store.release(released)
    assert not await store.release(released)
    await store.admit(expiring, [Charge("k", ("k",), 100, 5)], LEASE)
    assert await store.extend(expiring, 0.3)
    await asyncio.to_thread(lapse, url, 0.3)
    assert not await store.extend(expiring, LEASE)
    assert await store.expire() == 1
    assert await store.read([("k",), ()]) == [CounterState(15, 0), CounterState(0, 0)]
    assert await store.mark_once("m", 60)
    assert not await store.mark_once("m", 60)
    await store.close()


def test_unreachable_server_is_store_unavailable() -> None:
    """A port nobody listens on raises StoreUnavailable naming host:port/db, quickly."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1/test"):
        open_store("postgresql://postgres@127.0.0.1:1/test?schema=nowhere")
    assert time.monotonic() - started < 10


async def test_unreachable_server_is_store_unavailable_async() -> None:
    """The asyncio store raises StoreUnavailable on first use when the server is unreachable."""
    store = open_async_store("postgres://postgres@127.0.0.1:1/test?schema=nowhere")
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1/test"):
        await store.admit(rid(), [Charge("k", ("k",), 10, 1)], LEASE)
    await store.close()


def test_lost_connection_is_store_unavailable_then_recovers(store: PostgresStore, url: str) -> None:
    """A pooled connection killed by the server fails its call with StoreUnavailable (never a
    raw psycopg error); the next call gets a fresh connection."""
    charge = [Charge("k", ("k",), 100, 1)]
    store.admit(rid(), charge, LEASE)
    killed = query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE query LIKE '%{schema_of(url)}%' AND pid <> pg_backend_pid()"
    )
    assert killed == [(True,)]
    with pytest.raises(StoreUnavailable, match=r"unavailable: .*terminating connection"):
        store.admit(rid(), charge, LEASE)
    assert store.admit(rid(), charge, LEASE).states == (CounterState(0, 2),)


def test_postgres_scheme_and_pool_size_come_from_the_url(url: str) -> None:
    """``postgres://`` is accepted and ``pool_max=`` sizes the pool (costcap's own parameters
    are not passed to libpq)."""
    store = open_store(url.replace("postgresql://", "postgres://") + "&pool_max=3")
    assert isinstance(store, PostgresStore)
    assert store._ready().max_size == 3
    assert store.admit(rid(), [Charge("k", ("k",), 10, 1)], LEASE).admitted
    store.close()


def test_bad_pool_setting_is_a_config_error() -> None:
    """A pool size that is not a number is refused before connecting."""
    with pytest.raises(ConfigError, match="pool"):
        AsyncPostgresStore.from_url("postgresql://postgres@127.0.0.1:5432/test?pool_max=many")


def test_wrong_number_of_actuals_keeps_the_reservation(store: PostgresStore) -> None:
    """Settling with the wrong number of actuals raises ValueError and changes nothing."""
    r = rid()
    store.admit(r, [Charge("k", ("k",), 100, 30)], LEASE)
    with pytest.raises(ValueError, match="2 actuals for 1 charges"):
        store.settle(r, [1, 2])
    assert store.read([("k",)]) == [CounterState(0, 30)]
    assert store.settle(r, [5])


def test_an_actual_beyond_bigint_sent_directly_is_a_usage_error(store: PostgresStore) -> None:
    """An actual the server cannot hold in a bigint (sent past the store's own check) is the
    same UsageError, and the step is rolled back: the reservation is still held."""
    r = rid()
    store.admit(r, [Charge("k", ("k",), 100, 30)], LEASE)
    with pytest.raises(UsageError, match="out of range"):
        store._one(store._sql.settle, (r, [10**19]))
    assert store.read([("k",)]) == [CounterState(0, 30)]
    assert store.settle(r, [5])
    assert store.read([("k",)]) == [CounterState(5, 0)]


def test_window_counters_not_yet_written_are_covered(store: PostgresStore) -> None:
    """A charge on a rolling window counts every bucket, including ones that only exist later."""
    assert store.admit(rid(), [Charge("m2", ("m1", "m2"), 10, 6)], LEASE).admitted
    refused = store.admit(rid(), [Charge("m1", ("m1", "m2"), 10, 5)], LEASE)
    assert not refused.admitted
    assert refused.states == (CounterState(0, 6),)


def test_opposite_key_orders_do_not_deadlock(store: PostgresStore) -> None:
    """200 admissions from 10 threads charging keys [a, b] or [b, a] all complete (no deadlock),
    and the limit on ``a`` holds exactly."""
    barrier = threading.Barrier(10)

    def work(reverse: bool) -> int:
        barrier.wait()
        admitted = 0
        for _ in range(20):
            charges = [Charge("a", ("a",), 150, 1), Charge("b", ("b",), 10_000, 1)]
            r = rid()
            if store.admit(r, charges[::-1] if reverse else charges, LEASE).admitted:
                admitted += 1
                assert store.settle(r, [1, 1])
        return admitted

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(work, i % 2 == 1) for i in range(10)]
        total = sum(f.result(timeout=120) for f in futures)  # a deadlock error re-raises here
    assert total == 150
    assert store.read([("a",), ("b",)]) == [CounterState(150, 0), CounterState(150, 0)]


def _admit_and_die(url: str, key: str) -> None:
    store = open_store(url)
    store.admit(uuid.uuid4().hex, [Charge(key, (key,), 100, 40)], 0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def test_killed_holder_is_charged_in_full_at_expiry(store: PostgresStore, url: str) -> None:
    """A process SIGKILLed while holding a reservation leaves it charged in full once its lease
    runs out: the spend is never lost."""
    proc = multiprocessing.get_context("spawn").Process(target=_admit_and_die, args=(url, "dead"))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL
    assert store.read([("dead",)]) == [CounterState(0, 40)]
    lapse(url, 0.5)  # the dead holder's lease of 0.5 s ends
    assert store.expire() == 1
    assert store.read([("dead",)]) == [CounterState(40, 0)]


def test_stale_counters_and_markers_are_swept(store: PostgresStore, url: str) -> None:
    """The sweep deletes counters past their expiry with nothing reserved, and expired markers;
    a counter with a live reservation stays."""
    r = rid()
    store.admit(r, [Charge("old", ("old",), 100, 5, ttl_s=1)], LEASE)
    store.settle(r, [5])
    store.admit(rid(), [Charge("held", ("held",), 100, 5, ttl_s=1)], LEASE)
    store.mark_once("alert", 1)
    s = f'"{schema_of(url)}"'
    query(f"SELECT {s}.costcap_sweep(now() + interval '1 hour')")
    assert query(f"SELECT key FROM {s}.counters") == [("held",)]
    assert query(f"SELECT marker FROM {s}.markers") == []
