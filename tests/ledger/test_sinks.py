"""The sinks: refusals for good against transient failures, and fixes found while building the
writer (regressions)."""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from costcap.errors import StoreUnavailable
from costcap.ledger import SQLiteSink, open_sink
from costcap.ledger._event import EventsRefused
from costcap.ledger._sql import merge_statements
from tests.ledger.conftest import CHECK_COSTS, event, execute, fetch
from tests.services import drop_postgres_schema, postgres_url


def test_a_value_sqlite_cannot_bind_leaves_no_open_transaction(tmp_path: Path) -> None:
    """A batch SQLite cannot bind (an integer beyond 64 bits) fails alone: the next batch is
    written (the transaction was rolled back, not left open)."""
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with pytest.raises(EventsRefused):
            sink.write([event(1, cost_pico=2**70)])
        assert sink.write([event(2)]) == 1
    finally:
        sink.close()


REFUSED_FOR_GOOD = {
    "NULL in a required column": {"model": None},
    "out of the column's range": {"cost_pico": 2**63},
    "beyond 64 bits": {"cost_pico": 2**70},
    "a type the database does not know": {"cost_pico": object()},
    "a time out of range in UTC": {
        "ts": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    },
    "a CHECK constraint": {"cost_pico": -1},
}


@pytest.mark.parametrize("fields", REFUSED_FOR_GOOD.values(), ids=REFUSED_FOR_GOOD.keys())
def test_data_the_database_refuses_is_a_refusal_for_good(
    ledger_url: str, fields: dict[str, Any]
) -> None:
    """An event whose data the database refuses (a constraint, a value it cannot store or
    bind) makes the sink raise EventsRefused — to be isolated, never retried as is — and the
    sink writes the next batch."""
    execute(ledger_url, CHECK_COSTS[urlsplit(ledger_url).scheme])
    sink = open_sink(ledger_url)
    try:
        with pytest.raises(EventsRefused):
            sink.write([event(1), event(2, **fields)])
        assert sink.write([event(3)]) == 1
    finally:
        sink.close()
    assert fetch(ledger_url, "SELECT request_id FROM costcap_events") == [("req-3",)]


def test_a_locked_sqlite_ledger_is_unavailable_not_a_refusal(tmp_path: Path) -> None:
    """SQLite busy (another connection holds the write lock) is transient: StoreUnavailable,
    so the batch is retried, not taken apart."""
    path = tmp_path / "ledger.db"
    sink = SQLiteSink(str(path))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        sink.query("PRAGMA busy_timeout=0")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="locked"):
            sink.write([event(1)])
        other.execute("ROLLBACK")
        assert sink.write([event(1)]) == 1
    finally:
        other.close()
        sink.close()


@pytest.mark.postgres
def test_a_lost_postgres_connection_is_unavailable_not_a_refusal() -> None:
    """A PostgreSQL connection that went away is transient: StoreUnavailable, so the batch
    is retried, not taken apart."""
    url = postgres_url()
    sink = open_sink(url)
    try:
        ((pid,),) = sink.query("SELECT pg_backend_pid()")
        execute(url, f"SELECT pg_terminate_backend({int(pid)})")
        with pytest.raises(StoreUnavailable):
            sink.write([event(1)])
    finally:
        sink.close()
        drop_postgres_schema(url)


def test_sqlite_commits_survive_a_power_loss(tmp_path: Path) -> None:
    """The SQLite sink commits with synchronous=FULL: the spool checkpoint moves past a batch
    only once it is on disk."""
    sink = SQLiteSink(str(tmp_path / "ledger.db"))
    try:
        assert sink.query("PRAGMA synchronous") == [(2,)]
    finally:
        sink.close()


def test_replay_filter_looks_up_the_primary_key(tmp_path: Path) -> None:
    """Dropping already-recorded events from a batch probes the events' primary key per batch
    row, so a batch costs the same however large the ledger grows."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fetch(url, "SELECT 1")  # creates the schema
    sink = open_sink(url)
    try:
        sink.query("CREATE TEMP TABLE b (request_id TEXT PRIMARY KEY)")
        plan = " | ".join(
            str(row[-1])
            for row in sink.query("EXPLAIN QUERY PLAN " + merge_statements("b", "sqlite")[0])
        )
    finally:
        sink.close()
    assert "SCAN b" in plan
    assert "SEARCH e USING COVERING INDEX" in plan


@pytest.mark.postgres
def test_concurrent_postgres_batches_do_not_deadlock() -> None:
    """Writers updating the same rollup rows in different orders take their row locks in one
    order (the rollup upserts are sorted), so concurrent batches never deadlock."""
    url = postgres_url()
    sinks = [open_sink(url) for _ in range(4)]
    failures: list[Exception] = []
    sent: list[int] = []

    def write(k: int) -> None:
        rng = random.Random(k)
        for b in range(15):
            users = rng.sample([f"u{n}" for n in range(300)], rng.randint(20, 300))
            batch = [event(k * 10**6 + b * 1000 + n, user_id=u) for n, u in enumerate(users)]
            sent.append(len(batch))
            try:
                sinks[k].write(batch)
            except StoreUnavailable as exc:
                failures.append(exc)

    try:
        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert sinks[0].query("SELECT SUM(calls) FROM costcap_rollup_daily_user") == [(sum(sent),)]
    finally:
        for sink in sinks:
            sink.close()
        drop_postgres_schema(url)
