"""Refusals by reason against counts made by hand from the events, over every shape of range and
filter (whole days from the refusal rollups, partial days from events), on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from costcap.ledger import CostEvent, open_sink
from costcap.reports import Reports
from tests.reports.ledger import EVENTS, group, select

When = date | datetime | None
# (since, until, filters): whole days inside the ledger, open ends, partial days, no whole day
CASES: dict[str, tuple[When, When, dict[str, str]]] = {
    "all time": (None, None, {}),
    "days inside the ledger": (date(2026, 3, 3), date(2026, 3, 7), {}),
    "one day": (date(2026, 3, 4), date(2026, 3, 4), {}),
    "since a day": (date(2026, 3, 6), None, {}),
    "until a day": (None, date(2026, 3, 4), {}),
    "instants at both ends": (
        datetime(2026, 3, 2, 13, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 15, 0, 250, tzinfo=UTC),
        {},
    ),
    "within one day": (
        datetime(2026, 3, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 3, 20, 0, 0, 1, tzinfo=UTC),
        {},
    ),
    "since an instant": (datetime(2026, 3, 6, 18, 45, tzinfo=UTC), None, {}),
    "a feature, days": (date(2026, 3, 2), date(2026, 3, 8), {"feature": "chat"}),
    "a model, instants": (
        datetime(2026, 3, 2, 6, tzinfo=UTC),
        datetime(2026, 3, 9, 6, tzinfo=UTC),
        {"model": "gpt-4o"},
    ),
    "a user, days": (date(2026, 3, 2), date(2026, 3, 8), {"user": "user-03"}),
    "a user and a feature, all time": (None, None, {"user": "user-05", "feature": "search"}),
    "a user, instants": (
        datetime(2026, 3, 2, 13, tzinfo=UTC),
        datetime(2026, 3, 9, 1, tzinfo=UTC),
        {"user": "user-07"},
    ),
}


def _instant(value: When, *, end: bool) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=int(end))


def by_hand(events: list[CostEvent], since: When, until: When, **filters: str) -> list[Any]:
    """(reason, calls, distinct users, last refusal), most calls first."""
    chosen = select(events, since=_instant(since, end=False), until=_instant(until, end=True),
                    **filters)  # fmt: skip
    refused = [e for e in chosen if e.status == "refused"]
    rows = [
        (str(reason), len(es), len({e.user_id for e in es if e.user_id}), max(e.ts for e in es))
        for reason, es in group(refused, lambda e: e.refused_by).items()
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


@pytest.mark.parametrize("case", CASES)
def test_refusals_match_the_events(reports: Reports, case: str) -> None:
    """Calls, distinct users and the last refusal per reason equal the hand count."""
    since, until, filters = CASES[case]
    expected = by_hand(EVENTS, since, until, **filters)
    got = reports.refused(since=since, until=until, **filters)
    assert [(r.reason, r.calls, r.users, r.last_at) for r in got] == expected
    assert expected or case == "within one day"  # each case finds refusals (but one may not)


def refusal(
    rid: str, user: str, day: int, reason: str = "rate limit 20/minute per user"
) -> CostEvent:
    ts = datetime(2026, 3, day, 12, tzinfo=UTC)
    return CostEvent(request_id=rid, ts=ts, status="refused", model="m", user_id=user,
                     refused_by=reason)  # fmt: skip


def test_a_user_refused_only_around_a_range_is_not_counted_in_it(empty_url: str) -> None:
    """Ann, refused on March 1st and 9th, was not refused from the 3rd to the 7th; Bob, refused
    on the 1st, 5th and 9th, was; Cy, refused on the 3rd only, was (the ends count)."""
    events = [refusal("a1", "ann", 1), refusal("a9", "ann", 9), refusal("b1", "bob", 1),
              refusal("b5", "bob", 5), refusal("b9", "bob", 9), refusal("c3", "cy", 3)]  # fmt: skip
    sink = open_sink(empty_url)
    sink.write(events)
    with Reports(sink) as r:
        (row,) = r.refused(since=date(2026, 3, 3), until=date(2026, 3, 7))
        assert (row.calls, row.users) == (2, 2)
        (row,) = r.refused(since=date(2026, 3, 2), until=date(2026, 3, 8))
        assert (row.calls, row.users) == (2, 2)
        (row,) = r.refused(since=date(2026, 3, 1), until=date(2026, 3, 9))
        assert (row.calls, row.users) == (6, 3)


def test_a_user_counted_in_rollup_days_and_an_edge_counts_once(empty_url: str) -> None:
    """A user refused on a whole day and on a partial day of the range is one user."""
    events = [refusal("d3", "dee", 3), refusal("d5", "dee", 5), refusal("e5", "eve", 5)]
    sink = open_sink(empty_url)
    sink.write(events)
    with Reports(sink) as r:
        (row,) = r.refused(since=date(2026, 3, 3), until=datetime(2026, 3, 5, 13, tzinfo=UTC))
    assert (row.calls, row.users) == (3, 2)


def test_refusals_are_read_from_rollups_for_whole_days(tmp_path: Any) -> None:
    """A range of whole days reads no event; each partial day reads its refused events."""
    from tests.reports.test_sources import SpySink

    spy = SpySink(open_sink(f"sqlite:///{tmp_path / 'ledger.db'}"))
    spy.write(EVENTS)
    Reports(spy).refused(since=date(2026, 3, 2), until=date(2026, 3, 8), feature="chat")
    Reports(spy).refused(since=date(2026, 3, 2))
    Reports(spy).refused(user="user-01")
    assert not any("costcap_events" in sql for sql in spy.sql)
    Reports(spy).refused(since=datetime(2026, 3, 2, 13, tzinfo=UTC))
    assert sum("costcap_events" in sql for sql in spy.sql) == 2  # calls, then users
    spy.close()


def test_a_refusal_without_a_reason_is_unknown(empty_url: str) -> None:
    """A refused event with no refused_by is listed as "(unknown)", category other."""
    event = CostEvent(request_id="x", ts=datetime(2026, 3, 2, tzinfo=UTC), status="refused",
                      model="m", user_id="ann")  # fmt: skip
    sink = open_sink(empty_url)
    sink.write([event])
    with Reports(sink) as r:
        (row,) = r.refused(since=date(2026, 3, 2), until=date(2026, 3, 2))
    assert (row.reason, row.category, row.calls, row.users) == ("(unknown)", "other", 1, 1)
