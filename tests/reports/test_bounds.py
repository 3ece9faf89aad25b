"""Ranges at the ends of the calendar, the width of a time report, and reading without writing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from costcap.ledger import open_sink
from costcap.reports import AnomalyRules, NoLedger, Reports, TimeRange
from costcap.reports._range import bucket_count, buckets
from costcap.reports._rows import Totals
from costcap.reports._spend import MAX_FILLED_BUCKETS, spend_over_time

LAST = date(9999, 12, 31)


def test_the_last_date_as_until_is_no_bound() -> None:
    """Up to the end of 9999-12-31, included, is everything after ``since``."""
    assert TimeRange.of(date(2026, 3, 1), LAST) == TimeRange(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (datetime(9999, 12, 31, 0, 0, 1, tzinfo=UTC), None, "is too late"),
        (None, datetime(1, 1, 1, 23, tzinfo=UTC), "is too early"),
        (None, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "out of range in UTC"),
    ],
)  # fmt: skip
def test_instants_without_a_day_beyond_them_are_refused(
    since: datetime | None, until: datetime | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TimeRange.of(since, until)


def test_the_first_and_last_days_split() -> None:
    """A range from the first midnight there is to the last one splits without overflowing."""
    whole = TimeRange.of(date(1, 1, 1), date(9999, 12, 30)).split()
    assert (whole.first, whole.end, whole.edges) == (date(1, 1, 1), LAST, ())
    last = TimeRange(datetime(9999, 12, 31, tzinfo=UTC)).split()
    assert (last.first, last.end) == (LAST, None)


@pytest.mark.parametrize(
    ("first", "last", "granularity", "count"),
    [
        (date(2026, 3, 1), date(2026, 3, 10), "day", 10),
        (date(2026, 3, 1), date(2026, 3, 10), "week", 3),  # Mondays Feb 23, Mar 2, Mar 9
        (date(2026, 1, 31), date(2026, 3, 1), "month", 3),
        (date(2020, 1, 1), date(2026, 3, 10), "month", 75),  # 6 × 12 + 3
        (date(1, 1, 1), LAST, "day", 3_652_059),  # every day of the proleptic calendar
        (date(2026, 3, 10), date(2026, 3, 1), "day", 0),
    ],
)
def test_bucket_count_without_walking(
    first: date, last: date, granularity: str, count: int
) -> None:
    assert bucket_count(first, last, granularity) == count  # type: ignore[arg-type]


@pytest.mark.parametrize(("granularity", "count"), [("day", 5), ("week", 1), ("month", 1)])
def test_buckets_stop_at_the_last_date(granularity: str, count: int) -> None:
    """The bucket holding 9999-12-31 is the last one: no step past it (9999-12-27 is a Monday)."""
    listed = list(buckets(date(9999, 12, 27), LAST, granularity))  # type: ignore[arg-type]
    assert len(listed) == count
    assert listed[-1] <= LAST


def test_a_range_wider_than_the_limit_lists_the_days_with_calls() -> None:
    """Over a range of more than MAX_FILLED_BUCKETS buckets, only the first to the last day with
    calls are listed (the empty day between them at zero)."""
    days = {date(2026, 3, 1): Totals(calls=2), date(2026, 3, 3): Totals(calls=1)}
    rows = spend_over_time(days, "day", first=date(1, 1, 1), last=LAST)
    assert [(r.start, r.calls) for r in rows] == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 2), 0),
        (date(2026, 3, 3), 1),
    ]


def test_a_range_up_to_the_limit_lists_every_bucket() -> None:
    start = date(2000, 1, 1)
    rows = spend_over_time(
        {start: Totals(calls=1)},
        "day",
        first=start,
        last=start + timedelta(days=MAX_FILLED_BUCKETS - 1),
    )
    assert len(rows) == MAX_FILLED_BUCKETS == 3660


def test_opening_a_missing_ledger_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'ledger.db'}"
    with pytest.raises(NoLedger, match="no costcap ledger at"):
        Reports.open(url)
    assert not (tmp_path / "sub").exists()


def test_a_ledger_opened_for_reports_refuses_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_sink(url).close()
    with Reports.open(url) as reports, pytest.raises(TypeError, match="read-only"):
        reports.sink.write([])


@pytest.mark.parametrize(
    "rules",
    [
        {"loop_calls": 1},
        {"loop_calls": 1_000_000_001},
        {"loop_minutes": 0},
        {"loop_minutes": 24 * 60 + 1},
    ],
)
def test_loop_rules_are_bounded(rules: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"loop_calls must be 2\.\.1,000,000,000"):
        AnomalyRules(**rules)  # type: ignore[arg-type]


def test_anomalies_need_a_week_before_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_sink(url).close()
    with Reports.open(url) as reports, pytest.raises(ValueError, match="too early for anomalies"):
        reports.anomalies(at=datetime(1, 1, 20, tzinfo=UTC))


def test_top_users_limit_fits_sql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_sink(url).close()
    with Reports.open(url) as reports, pytest.raises(ValueError, match="limit must be"):
        reports.top_users(limit=2**63)
