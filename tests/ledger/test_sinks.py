"""Sink fixes found while building the writer (regressions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.ledger import SQLiteSink, open_sink
from costcap.ledger._sql import merge_statements
from tests.ledger.conftest import event, fetch


def test_a_value_sqlite_cannot_bind_leaves_no_open_transaction(tmp_path: Path) -> None:
    """A batch SQLite cannot bind (an integer beyond 64 bits) fails alone: the next batch is
    written (the transaction was rolled back, not left open)."""
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with pytest.raises(OverflowError):
            sink.write([event(1, cost_pico=2**70)])
        assert sink.write([event(2)]) == 1
    finally:
        sink.close()


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
            str(row[-1]) for row in sink.query("EXPLAIN QUERY PLAN " + merge_statements("b")[0])
        )
    finally:
        sink.close()
    assert "SCAN b" in plan
    assert "SEARCH e USING COVERING INDEX" in plan
