"""Time ranges: dates as whole days, instants split into rollup days and edge days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from costcap.reports import TimeRange, parse_when
from costcap.reports._range import Edge, bucket_start, buckets


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_dates_cover_whole_days_with_the_end_date_included() -> None:
    """since=Mar 2, until=Mar 8 is [Mar 2 00:00, Mar 9 00:00): rollup days only, no edges."""
    r = TimeRange.of(date(2026, 3, 2), date(2026, 3, 8))
    assert (r.since, r.until) == (at(2), at(9))
    split = r.split()
    assert (split.first, split.end, split.edges) == (date(2026, 3, 2), date(2026, 3, 9), ())


def test_instants_split_into_edges_and_whole_days() -> None:
    """Partial first and last days become edges; the days between are whole."""
    split = TimeRange.of(at(2, 13, 30), at(8, 7, 15)).split()
    assert (split.first, split.end) == (date(2026, 3, 3), date(2026, 3, 8))
    assert split.edges == (
        Edge(date(2026, 3, 2), at(2, 13, 30), at(3)),
        Edge(date(2026, 3, 8), at(8), at(8, 7, 15)),
    )


def test_a_range_inside_one_day_is_one_edge() -> None:
    """Both ends on the same day: one edge, no whole day."""
    split = TimeRange.of(at(3, 6), at(3, 18)).split()
    assert split.edges == (Edge(date(2026, 3, 3), at(3, 6), at(3, 18)),)
    assert not split.whole


def test_a_midnight_start_and_a_partial_end_day() -> None:
    """Since midnight until noon of the same day: one edge from midnight."""
    split = TimeRange.of(at(3), at(3, 12)).split()
    assert split.edges == (Edge(date(2026, 3, 3), at(3), at(3, 12)),)
    assert not split.whole


def test_open_ends_are_unbounded() -> None:
    """No since: from the beginning; no until: up to now, with only the given edge."""
    split = TimeRange.of(until=at(4, 9)).split()
    assert (split.first, split.end) == (None, date(2026, 3, 4))
    assert split.edges == (Edge(date(2026, 3, 4), at(4), at(4, 9)),)
    assert TimeRange.of().split().whole


def test_offsets_are_converted_to_utc() -> None:
    """An instant with an offset is the same instant in UTC (days are UTC days)."""
    paris = timezone(timedelta(hours=1))
    r = TimeRange.of(datetime(2026, 3, 2, 0, 30, tzinfo=paris), None)
    assert r.since == at(1, 23, 30)


@pytest.mark.parametrize(
    ("since", "until"),
    [(at(5), at(5)), (at(6), at(5)), (date(2026, 3, 6), date(2026, 3, 5))],
)
def test_an_empty_or_reversed_range_is_refused(since: object, until: object) -> None:
    """since must come before until."""
    with pytest.raises(ValueError, match="must be before"):
        TimeRange.of(since, until)  # type: ignore[arg-type]


def test_a_naive_datetime_is_refused() -> None:
    """The API does not guess a time zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        TimeRange.of(datetime(2026, 3, 2), None)


def test_parse_when_reads_dates_and_instants() -> None:
    """Text: a date, an ISO datetime (UTC unless it says otherwise), or a clear error."""
    assert parse_when("2026-03-05", what="--since") == date(2026, 3, 5)
    assert parse_when("2026-03-05T14:00", what="--since") == at(5, 14)
    assert parse_when("2026-03-05T14:00Z", what="--since") == at(5, 14)
    assert parse_when("2026-03-05T15:00+01:00", what="--since") == at(5, 14)
    with pytest.raises(ValueError, match="--since: 'yesterday' is not a date"):
        parse_when("yesterday", what="--since")


def test_buckets_start_on_mondays_and_firsts() -> None:
    """Weeks are ISO weeks (from Monday), months calendar months; every bucket is listed."""
    assert bucket_start(date(2026, 3, 1), "week") == date(2026, 2, 23)
    assert bucket_start(date(2026, 3, 31), "month") == date(2026, 3, 1)
    assert list(buckets(date(2026, 1, 30), date(2026, 3, 2), "month")) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert len(list(buckets(date(2026, 3, 1), date(2026, 3, 31), "week"))) == 6
