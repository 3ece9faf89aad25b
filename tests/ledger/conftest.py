"""Fixtures for the ledger tests: the sink backends (SQLite and PostgreSQL), events, queries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from costcap.errors import StoreUnavailable
from costcap.ledger import CostEvent, InFlight, LedgerSink, PostgresSink, SQLiteSink, open_sink
from costcap.ledger import _drain as drain
from costcap.ledger import _writer as writer
from tests.services import drop_postgres_schema, postgres_url

SINKS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=SINKS)
def ledger_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh ledger database: a SQLite file, or a PostgreSQL schema dropped afterwards (run
    from ``tmp_path``, where its default spool directory ``.costcap-spool`` goes)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    monkeypatch.chdir(tmp_path)
    url = postgres_url()
    yield url
    drop_postgres_schema(url)


def event(n: int, **fields: Any) -> CostEvent:
    """The n-th test event: unique request_id, user u<n%3>, cost 1000+n picodollars."""
    values: dict[str, Any] = {
        "request_id": f"req-{n}",
        "ts": datetime.now(UTC),
        "status": "ok",
        "model": "gpt-4o-mini",
        "user_id": f"u{n % 3}",
        "feature": "chat",
        "input_tokens": 10 + n,
        "output_tokens": 5,
        "cost_pico": 1000 + n,
    }
    values.update(fields)
    return CostEvent(**values)


# 2026-03-01T12:00:00Z, in microseconds since the epoch (in-flight records count time so)
T0_US = 1_772_366_400_000_000
LEASE_US = 600_000_000  # the Guard's default lease, 600 s


def in_flight(request_id: str = "r1", **fields: Any) -> InFlight:
    """A call admitted at T0 (2026-03-01 12:00 UTC) under a 600 s lease: alice's chat call to
    gpt-4o-mini, 8 input tokens and max_tokens 100, reserving 62 micro-dollars."""
    values: dict[str, Any] = {
        "request_id": request_id,
        "at_us": T0_US,
        "lease_until_us": T0_US + LEASE_US,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "user_id": "alice",
        "feature": "chat",
        "reserved_pico": 62_000_000,
        "input_tokens": 8,
        "max_tokens": 100,
    }
    values.update(fields)
    return InFlight(**values)


# The fields every event line needs.
GOOD_FIELDS = {"request_id": "r1", "ts": "2026-03-01T00:00:00+00:00", "status": "ok", "model": "m"}


def line_with(**fields: object) -> str:
    """The JSON line of an event with ``fields`` set (to anything)."""
    return json.dumps({**GOOD_FIELDS, **fields})


# Lines that are not events, by what is wrong with them.
NOT_EVENTS = {
    "not JSON": "{not json",
    "nested too deeply": "[" * 100_000,
    "objects nested too deeply": '{"a":' * 100_000,
    "not an object": "[1, 2]",
    "null": "null",
    "a required field missing": json.dumps({"request_id": "r1", "status": "ok", "model": "m"}),
    "a required field null": line_with(model=None),
    "a count of the wrong type": line_with(cost_pico="12"),
    "a float count": line_with(input_tokens=1.5),
    "a flag for a count": line_with(output_tokens=True),
    "a count for a flag": line_with(cache_hit=1),
    "an object for text": line_with(user_id={"a": 1}),
    "a number for text": line_with(request_id=5),
    "a time that is not text": line_with(ts=1700000000),
    "a time that is not a time": line_with(ts="yesterday"),
    "a time without a zone": line_with(ts="2026-03-01T00:00:00"),
    "a time out of range in UTC": line_with(ts="9999-12-31T23:00:00-05:00"),
    "an unknown status": line_with(status="maybe"),
    "a lone surrogate": line_with(user_id="\ud800"),
    "an integer beyond 64 bits": line_with(cost_pico=2**63),
    "a negative integer beyond 64 bits": line_with(saved_pico=-(2**63) - 1),
    "an integer too long to read": line_with(cost_pico=0).replace(": 0", ": " + "1" * 5000),
    "an infinite latency": line_with(latency_ms=1e999),
    "a NaN latency": line_with(latency_ms=float("nan")),
    "a latency that is text": line_with(latency_ms="5"),
}


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run a read-only query on the ledger database at ``url``."""
    sink = open_sink(url)
    try:
        return sink.query(sql)
    finally:
        sink.close()


# A constraint a DBA might add, by URL scheme: costs are never negative.
CHECK_COSTS = {
    "sqlite": "CREATE TRIGGER IF NOT EXISTS costs_not_negative BEFORE INSERT ON costcap_events "
    "WHEN NEW.cost_pico < 0 BEGIN SELECT RAISE(ABORT, 'cost_pico < 0'); END",
    "postgresql": "ALTER TABLE costcap_events ADD CONSTRAINT costs_not_negative "
    "CHECK (cost_pico >= 0)",
}


def execute(url: str, sql: str) -> None:
    """Run one statement that returns no rows (DDL) on the ledger database at ``url``."""
    sink = open_sink(url)
    try:
        if isinstance(sink, SQLiteSink):
            sink._db.execute(sql)
        else:
            assert isinstance(sink, PostgresSink)
            sink._db.execute(sql)
    finally:
        sink.close()


def totals(url: str) -> dict[str, tuple[int, int]]:
    """(rows or calls, picodollars) of the events table and of each spend rollup (the four
    spend rollups, and the minute rollup: every event, like them)."""
    out: dict[str, tuple[int, int]] = {}
    for table, count in (
        ("costcap_events", "COUNT(*)"),
        ("costcap_rollup_daily", "SUM(calls)"),
        ("costcap_rollup_daily_user", "SUM(calls)"),
        ("costcap_rollup_daily_feature_model", "SUM(calls)"),
        ("costcap_rollup_daily_tier", "SUM(calls)"),
        ("costcap_rollup_minute_feature", "SUM(calls)"),
    ):
        ((n, pico),) = fetch(url, f"SELECT {count}, SUM(cost_pico) FROM {table}")
        out[table] = (int(n or 0), int(pico or 0))
    return out


class Switch:
    """Makes the ledger's sink unreachable while ``down`` is set: opening it fails (``where``
    ``open``) or its writes fail (``write``), as a database outage does."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.down = True
        self.attempts = 0

    def open(self, url: str) -> LedgerSink:
        self.attempts += 1
        if self.down and self.where == "open":
            raise StoreUnavailable("ledger database is down (test)")
        return _Flaky(open_sink(url), self)


class _Flaky:
    def __init__(self, sink: LedgerSink, switch: Switch) -> None:
        self._sink, self._switch = sink, switch
        self.url, self.dialect = sink.url, sink.dialect

    def write(self, events: Any) -> int:
        if self._switch.down:
            raise StoreUnavailable("ledger database went away (test)")
        return self._sink.write(events)

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return self._sink.query(sql, params)

    def convert_lost(self, cutoff: datetime) -> tuple[int, int]:
        if self._switch.down:
            raise StoreUnavailable("ledger database went away (test)")
        return self._sink.convert_lost(cutoff)

    def close(self) -> None:
        self._sink.close()


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Switch]:
    """Put the ledger's sinks behind a switch (down at first); retries come quickly."""

    def install(where: str = "open") -> Switch:
        switch = Switch(where)
        monkeypatch.setattr(drain, "open_sink", switch.open)
        monkeypatch.setattr(writer, "BACKOFF_S", (0.01, 0.05))
        return switch

    return install
