"""Which table answers: the narrowest rollup for whole days, events only for partial days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.ledger import LedgerSink, open_sink
from costcap.reports import AnomalyRules, Reports
from tests.reports.ledger import EVENTS


class SpySink:
    """A sink that remembers the SQL of every query."""

    def __init__(self, inner: LedgerSink) -> None:
        self.inner = inner
        self.url = inner.url
        self.dialect = inner.dialect
        self.sql: list[str] = []
        self.params: list[Sequence[object]] = []

    def write(self, events: Sequence[Any]) -> int:
        return self.inner.write(events)

    def convert_lost(self, cutoff: datetime) -> tuple[int, int]:
        return self.inner.convert_lost(cutoff)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        self.sql.append(sql)
        self.params.append(params)
        return self.inner.query(sql, params)

    def close(self) -> None:
        self.inner.close()

    def tables(self) -> list[str]:
        return [s.split(" FROM ", 1)[1].split()[0] for s in self.sql]


@pytest.fixture
def spy(tmp_path: Path) -> SpySink:
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    sink.write(EVENTS)
    return SpySink(sink)


@pytest.mark.parametrize(
    ("call", "table"),
    [
        (lambda r: r.by_feature(), "costcap_rollup_daily_feature_model"),
        (lambda r: r.by_model(feature="chat"), "costcap_rollup_daily_feature_model"),
        (lambda r: r.over_time(granularity="month"), "costcap_rollup_daily_feature_model"),
        (lambda r: r.top_users(), "costcap_rollup_daily_user"),
        (lambda r: r.over_time(user="user-01"), "costcap_rollup_daily_user"),
        (lambda r: r.top_users(feature="chat"), "costcap_rollup_daily"),
        (lambda r: r.by_feature(user="user-01"), "costcap_rollup_daily"),
        (lambda r: r.cache_savings(model="gpt-4o"), "costcap_rollup_daily_feature_model"),
        (lambda r: r.by_model_tier(), "costcap_rollup_daily_tier"),
        (lambda r: r.by_model_tier(feature="chat"), "costcap_rollup_daily_tier"),
        (lambda r: r.routes(), "costcap_rollup_daily_route"),
        (lambda r: r.routes(feature="chat"), "costcap_rollup_daily_route"),
        (lambda r: r.routes(model="gpt-4o"), "costcap_rollup_daily_route"),
        (lambda r: r.routes(user="user-01"), "costcap_rollup_daily_user_route"),
        (lambda r: r.routes(user="user-01", feature="chat"), "costcap_rollup_daily_user_route"),
    ],
)
def test_whole_days_are_read_from_the_narrowest_rollup(spy: SpySink, call: Any, table: str) -> None:
    """A report over whole days reads exactly one rollup: the smallest keyed by what it needs."""
    call(Reports(spy))
    assert spy.tables()[-1] == table
    assert "costcap_events" not in spy.tables()


def test_partial_days_are_read_from_events_of_that_day(spy: SpySink) -> None:
    """An instant range reads its two edge days from events (the part of each day in range, by
    ts) and the rest from a rollup."""
    Reports(spy).by_feature(
        since=datetime(2026, 3, 2, 12, tzinfo=UTC), until=datetime(2026, 3, 6, 12, tzinfo=UTC)
    )
    assert spy.tables() == [
        "costcap_rollup_daily_feature_model",
        "costcap_events",
        "costcap_events",
    ]
    assert all("e.ts >= ? AND e.ts < ?" in sql for sql in spy.sql[1:])


def test_a_user_filter_lists_the_days_for_the_primary_key(spy: SpySink) -> None:
    """A user filter on a (day, user_id, …) rollup names each day, so the key is searched
    once per day instead of scanned; an open range takes its days from the ledger."""
    Reports(spy).top_users(user="user-01", since=date(2026, 3, 2), until=date(2026, 3, 4))
    assert "e.day IN (?, ?, ?)" in spy.sql[-1]
    Reports(spy).top_users(user="user-01")
    assert "MIN(day)" in spy.sql[-2]
    assert "e.day IN (" in spy.sql[-1]


def test_a_users_spend_by_tier_is_read_from_their_events(spy: SpySink) -> None:
    """No rollup keeps users by tier: a user's calls by tier are read from events, the whole
    range at once, through the (user_id, ts) index — never a scan of every event."""
    Reports(spy).by_model_tier(user="user-01", since=date(2026, 3, 2), until=date(2026, 3, 4))
    assert spy.tables()[1:] == ["costcap_events"]  # after the ledger's version
    assert "e.ts >= ? AND e.ts < ? AND e.user_id = ?" in spy.sql[-1]
    assert "SEARCH e USING INDEX costcap_events_user_ts_cost (user_id=? AND ts>? AND ts<?)" in (
        _plan(spy)
    )


def test_a_users_spend_by_tier_and_model_is_read_from_their_events(spy: SpySink) -> None:
    """The rollup of users' routing has no model: a user's routes of one model are read from
    their events."""
    Reports(spy).routes(user="user-01", model="gpt-4o", since=date(2026, 3, 2))
    assert spy.tables()[-1] == "costcap_events"


def test_a_users_routes_search_the_primary_key_per_day(spy: SpySink) -> None:
    """A user's routing names each day of the rollup of users' routing, whose primary key
    SQLite searches (never a scan)."""
    Reports(spy).routes(user="user-01", since=date(2026, 3, 2), until=date(2026, 3, 4))
    assert "e.day IN (?, ?, ?)" in spy.sql[-1]
    plan = spy.inner.query("EXPLAIN QUERY PLAN " + spy.sql[-1], spy.params[-1])
    steps = " ".join(str(row[-1]) for row in plan)
    assert "(day=? AND user_id=?)" in steps
    assert "SCAN e" not in steps


def test_the_sqlite_plan_searches_the_primary_key(spy: SpySink) -> None:
    """SQLite answers a filtered user report by searching the rollup (its primary key per day,
    or its by-user index), never by scanning it."""
    Reports(spy).top_users(user="user-01", since=date(2026, 3, 2), until=date(2026, 3, 4))
    params = ["2026-03-02", "2026-03-03", "2026-03-04", "user-01", 10]
    plan = spy.inner.query("EXPLAIN QUERY PLAN " + spy.sql[-1], params)
    steps = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH e USING" in steps
    assert "SCAN e" not in steps


def _plan(spy: SpySink) -> str:
    """SQLite's plan of the last query."""
    rows = spy.inner.query("EXPLAIN QUERY PLAN " + spy.sql[-1], spy.params[-1])
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    "call", [lambda r: r.top_users(), lambda r: r.cost_per_user(since=date(2026, 3, 2))]
)
def test_per_user_reports_read_users_in_order(spy: SpySink, call: Any) -> None:
    """An unfiltered per-user report reads the by-user covering index of the day × user rollup:
    its rows come in user order, so SQLite sorts none of them (only the users' sums)."""
    call(Reports(spy))
    plan = _plan(spy)
    assert "USING COVERING INDEX costcap_rollup_daily_user_by_user" in plan
    assert "TEMP B-TREE FOR GROUP BY" not in plan


@pytest.mark.parametrize(
    ("call", "index"),
    [
        (lambda r: r.top_users(feature="chat"), "costcap_rollup_daily_by_feature"),
        (lambda r: r.cost_per_user(model="gpt-4o"), "costcap_rollup_daily_by_model"),
    ],
)
def test_per_user_reports_of_a_feature_or_model_read_only_its_rows(
    spy: SpySink, call: Any, index: str
) -> None:
    """Filtered by a feature or a model, a per-user report reads only that feature's or
    model's rows of the day × user × feature × model rollup, from a covering index."""
    call(Reports(spy))
    assert f"SEARCH e USING COVERING INDEX {index}" in _plan(spy)


def test_anomalies_read_features_from_the_minute_rollup(spy: SpySink) -> None:
    """Features' last 24 hours and seasonal hours come from the minute rollup; under a model
    filter (not in that rollup) from events."""
    at = datetime(2026, 3, 9, 12, 0, 30, tzinfo=UTC)
    Reports(spy).anomalies(at=at, rules=AnomalyRules(min_hour_usd=Decimal(0)))
    minute = [sql for sql in spy.sql if "costcap_rollup_minute_feature" in sql]
    assert len(minute) == 2  # the last 24 hours, the candidates' baseline
    spy.sql.clear()
    Reports(spy).anomalies(at=at, model="gpt-4o", rules=AnomalyRules(min_hour_usd=Decimal(0)))
    assert not any("costcap_rollup_minute_feature" in sql for sql in spy.sql)
