"""The rollups hold exactly the aggregates of the events, whatever the batches, replays and
duplicates (on SQLite and PostgreSQL); the SQLite write path."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costcap.errors import StoreUnavailable
from costcap.ledger import SQLiteSink, open_sink
from costcap.ledger._sql import event_row
from tests.ledger.conftest import event, fetch
from tests.ledger.rollups import ALL_TABLES, INDIA, contents, expected, make_events

EVENTS = make_events()


@pytest.mark.parametrize("table", ALL_TABLES)
def test_rollups_equal_the_events_after_batches(ledger_url: str, table: str) -> None:
    """Written in batches of uneven sizes, the events are summed in ``table`` exactly."""
    sink = open_sink(ledger_url)
    try:
        for start, end in ((0, 1), (1, 70), (70, 71), (71, 300)):
            sink.write(EVENTS[start:end])
        assert contents(sink, table) == expected(table, EVENTS)
    finally:
        sink.close()


@pytest.mark.parametrize("table", ALL_TABLES)
def test_a_replay_changes_no_rollup(ledger_url: str, table: str) -> None:
    """Batches sent again, whole or overlapping new events, add only the new events."""
    sink = open_sink(ledger_url)
    try:
        sink.write(EVENTS[:200])
        assert sink.write(EVENTS[:200]) == 0
        assert sink.write(EVENTS[150:]) == 100
        assert contents(sink, table) == expected(table, EVENTS)
    finally:
        sink.close()


@pytest.mark.parametrize("table", ALL_TABLES)
def test_an_event_twice_in_one_batch_counts_once(ledger_url: str, table: str) -> None:
    """The same request_id twice in a batch is one event: the first one kept."""
    again = make_events(seed=8)[: len(EVENTS)]  # other values, the same request ids
    batch = [e for pair in zip(EVENTS, again, strict=True) for e in pair]
    sink = open_sink(ledger_url)
    try:
        assert sink.write(batch) == len(EVENTS)
        assert contents(sink, table) == expected(table, EVENTS)
    finally:
        sink.close()


def test_sqlite_stores_instants_in_utc(tmp_path: Path) -> None:
    """An event stamped in UTC+05:30 is stored as UTC text (text compares as time only if
    every row has one offset), in its UTC day."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    sink = open_sink(url)
    try:
        sink.write([event(1, ts=datetime(2026, 3, 2, 4, 0, tzinfo=INDIA))])
    finally:
        sink.close()
    assert fetch(url, "SELECT ts, day FROM costcap_events") == [
        ("2026-03-01T22:30:00+00:00", "2026-03-01")
    ]


def test_event_rows_match_across_time_zones() -> None:
    """The same instant in two offsets gives the same row (SQLite text, PostgreSQL native)."""
    moment = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    utc, india = event(1, ts=moment), event(1, ts=moment.astimezone(INDIA))
    for text_time in (True, False):
        assert event_row(utc, text_time=text_time) == event_row(india, text_time=text_time)


def test_sqlite_rollups_read_only_the_batch(tmp_path: Path) -> None:
    """Each SQLite rollup statement reads the batch's rows by rowid range: a batch costs the
    same however many events the ledger holds (an index walk would read whole days)."""
    sink = SQLiteSink(str(tmp_path / "ledger.db"))
    try:
        sink.write(EVENTS)
        for statement in sink._rollups:
            plan = " | ".join(
                str(r[-1]) for r in sink.query(f"EXPLAIN QUERY PLAN {statement}", [0])
            )
            assert "USING INTEGER PRIMARY KEY (rowid>?)" in plan, statement
    finally:
        sink.close()


def test_sqlite_inserts_batches_of_any_size(tmp_path: Path) -> None:
    """A batch of 2,500 events (statements of 1,024 rows and the powers of two below) is
    inserted whole, its new events counted once."""
    events = make_events(2500, prefix="b")
    sink = SQLiteSink(str(tmp_path / "ledger.db"))
    try:
        assert sink.write(events[:3]) == 3
        assert sink.write(events) == 2497
        assert sink.query("SELECT COUNT(*) FROM costcap_events") == [(2500,)]
    finally:
        sink.close()


def test_sqlite_refuses_a_batch_it_cannot_number(tmp_path: Path) -> None:
    """New rows must be numbered after the ledger's largest rowid (the rollups read that
    range); when they cannot be (a row at the largest rowid possible), the batch is refused
    and rolled back, not counted wrong."""
    path = tmp_path / "ledger.db"
    sink = SQLiteSink(str(path))
    sink.write(EVENTS[:1])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE costcap_events SET rowid = 9223372036854775807")
    db.close()
    try:
        with pytest.raises(StoreUnavailable, match="rowids"):
            sink.write(EVENTS[1:50])
        assert sink.query("SELECT COUNT(*) FROM costcap_events") == [(1,)]
        assert sink.query("SELECT SUM(calls) FROM costcap_rollup_daily") == [(1,)]
    finally:
        sink.close()
