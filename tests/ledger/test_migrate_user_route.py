"""Schema version 8: the rollup of users' routing (day × user × feature × routing tier × route
reason). Opening an older ledger (version 2 to 7) creates it and fills it from the events already
there, exactly as batches would have; later batches add to it; several openers at once fill it
once (SQLite and PostgreSQL). What it must hold is worked out in plain Python from the events
(:func:`tests.ledger.rollups.expected`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.ledger._schema import DAILY_USER_ROUTE, ROLLUPS_ALL, SCHEMA_VERSION
from tests.ledger.older import execute, make_older
from tests.ledger.rollups import contents, expected, make_events, unmissed, unrouted, untiered

EVENTS = make_events()
TABLE = DAILY_USER_ROUTE.table
# What a ledger of each version keeps of the events (its migration cannot bring back the rest).
STORED: dict[int, Callable[[Iterable[CostEvent]], list[CostEvent]]] = {
    2: untiered, 3: untiered, 4: unmissed, 5: unrouted, 6: list, 7: list,
}  # fmt: skip


def _has_table(url: str) -> bool:
    if url.startswith("sqlite"):
        sql = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'"
    else:
        schema = url.partition("?schema=")[2]
        sql = f"SELECT to_regclass('\"{schema}\".{TABLE}')::text"
    return any(name for (name,) in execute(url, sql))


def _rollup(url: str) -> dict[tuple[object, ...], tuple[object, ...]]:
    sink = open_sink(url)
    try:
        return contents(sink, TABLE)
    finally:
        sink.close()


def test_the_schema_is_version_8() -> None:
    assert SCHEMA_VERSION == DAILY_USER_ROUTE.since == 8


def test_a_new_ledger_keeps_users_routing(ledger_url: str) -> None:
    """Batches written to a new ledger are summed per day, user, feature, tier and reason."""
    sink = open_sink(ledger_url)
    try:
        sink.write(EVENTS)
        got = contents(sink, TABLE)
    finally:
        sink.close()
    assert got == expected(TABLE, EVENTS)


def test_version_7_gains_the_rollup_backfilled(ledger_url: str) -> None:
    """A version-7 ledger (its events routed) has no such table; a sink opening it creates it
    holding its events' sums, keyed by their own tiers and reasons."""
    make_older(ledger_url, 7, EVENTS)
    assert not _has_table(ledger_url)
    got = _rollup(ledger_url)
    assert got == expected(TABLE, EVENTS)
    assert {key[3:5] for key in got} >= {("simple", "auto"), ("complex", "fallback"), ("", "")}
    assert execute(ledger_url, "SELECT value FROM costcap_ledger_meta") == [("8",)]


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6])
def test_an_older_ledger_gains_the_rollup_backfilled(ledger_url: str, version: int) -> None:
    """Version 2 to 6: the rollup holds the events as that version stored them (before 6, no
    routing: tier and reason ``''``)."""
    make_older(ledger_url, version, EVENTS)
    assert _rollup(ledger_url) == expected(TABLE, STORED[version](EVENTS))


def test_the_events_written_after_are_added(ledger_url: str) -> None:
    """After the migration, a batch (with a replay of an older event, counted once) adds to the
    backfilled rows."""
    make_older(ledger_url, 7, EVENTS)
    more = make_events(120, seed=9, prefix="m")
    sink = open_sink(ledger_url)
    try:
        assert sink.write([*more, EVENTS[0]]) == len(more)
        got = contents(sink, TABLE)
    finally:
        sink.close()
    assert got == expected(TABLE, [*EVENTS, *more])


def test_version_7_keeps_its_events_and_other_tables(ledger_url: str) -> None:
    """Every row of the events, of the other rollups and of the alerts, read without a sink, is
    the same after the migration."""
    make_older(ledger_url, 7, EVENTS)
    tables = ["costcap_events", "costcap_alerts", *(r.table for r in ROLLUPS_ALL if r.since < 8)]
    dump = {t: sorted(map(repr, execute(ledger_url, f"SELECT * FROM {t}"))) for t in tables}
    open_sink(ledger_url).close()
    assert {t: sorted(map(repr, execute(ledger_url, f"SELECT * FROM {t}"))) for t in tables} == dump
    assert len(dump["costcap_events"]) == len(EVENTS)


def test_openers_at_once_fill_it_once(ledger_url: str) -> None:
    """Four sinks opening a version-7 ledger together: one migrates under the write lock, the
    others find it current — the rollup holds each event once, and each then writes its own."""
    make_older(ledger_url, 7, EVENTS)
    batches = [make_events(30, seed=20 + i, prefix=f"t{i}-") for i in range(4)]
    start = threading.Barrier(len(batches))
    failures: list[BaseException] = []

    def open_and_write(batch: list[CostEvent]) -> None:
        try:
            start.wait()
            sink = open_sink(ledger_url)
            try:
                sink.write(batch)
            finally:
                sink.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _rollup(ledger_url) == expected(TABLE, [*EVENTS, *(e for b in batches for e in b)])
