"""Periods: calendar buckets in a time zone, rolling windows."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from costcap.budgets import MAX_ROLLING_S, Period, parse_period
from costcap.errors import ConfigError

NY = ZoneInfo("America/New_York")


def test_day_bucket_follows_the_local_date() -> None:
    """At 03:30 UTC it is still the previous evening in New York: the bucket is that date."""
    period = parse_period("day", timezone="America/New_York")
    window = period.at(datetime(2026, 11, 28, 3, 30, tzinfo=UTC))
    assert window.bucket == "2026-11-27"
    assert window.resets_at == datetime(2026, 11, 28, 0, 0, tzinfo=NY)


def test_day_rolls_over_at_local_midnight() -> None:
    """One minute either side of New York midnight lands in two different buckets."""
    period = parse_period("day", timezone="America/New_York")
    before = period.at(datetime(2026, 11, 28, 23, 59, tzinfo=NY))
    after = period.at(datetime(2026, 11, 29, 0, 1, tzinfo=NY))
    assert (before.bucket, after.bucket) == ("2026-11-28", "2026-11-29")


def test_month_boundary() -> None:
    """January 31st and February 1st are different monthly buckets; January resets on Feb 1."""
    period = parse_period("month")
    jan = period.at(datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC))
    feb = period.at(datetime(2027, 2, 1, 0, 0, tzinfo=UTC))
    assert (jan.bucket, feb.bucket) == ("2027-01", "2027-02")
    assert jan.resets_at == datetime(2027, 2, 1, tzinfo=UTC)


def test_december_resets_in_january() -> None:
    """The monthly bucket of December resets on January 1st of the next year."""
    window = parse_period("month").at(datetime(2026, 12, 15, tzinfo=UTC))
    assert window.resets_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_week_starts_on_monday() -> None:
    """ISO weeks: Sunday 2026-11-29 is in week 48, Monday 2026-11-30 starts week 49."""
    period = parse_period("week")
    assert period.at(datetime(2026, 11, 29, 12, tzinfo=UTC)).bucket == "2026-W48"
    assert period.at(datetime(2026, 11, 30, 0, tzinfo=UTC)).bucket == "2026-W49"


def test_day_across_a_dst_change_is_23_hours() -> None:
    """The day DST starts in New York resets 23 hours after it began."""
    window = parse_period("day", timezone="America/New_York").at(
        datetime(2026, 3, 8, 12, tzinfo=NY)
    )
    assert (window.resets_at - window.start).total_seconds() == 23 * 3600


def test_rolling_window_covers_its_length() -> None:
    """A 1-hour rolling window sums the buckets of the last hour (61 one-minute buckets) and
    the next one (charged by calls that read the clock a moment later)."""
    window = parse_period("rolling:1h").at(datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC))
    assert len(window.window) == 62
    assert window.bucket == window.window[-2]


@pytest.mark.parametrize("text", ["daily-ish", "rolling:0h", "rolling:5y", ""])
def test_bad_period_names_the_problem(text: str) -> None:
    """An unknown period is a ConfigError that lists the valid forms."""
    with pytest.raises(ConfigError, match="not a period"):
        parse_period(text)


def test_unknown_time_zone_is_an_error() -> None:
    """A time zone that does not exist is refused by name."""
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        parse_period("day", timezone="Mars/Olympus")


def test_rolling_window_is_at_most_366_days() -> None:
    """``rolling:366d`` is the longest window (366 × 86,400 = 31,622,400 seconds)."""
    assert parse_period("rolling:366d").seconds == 31_622_400
    assert parse_period("rolling:8784h").seconds == 31_622_400  # 366 × 24 hours


@pytest.mark.parametrize("text", ["rolling:367d", "rolling:31622401s", "rolling:99999999999999d"])
def test_longer_rolling_window_is_refused(text: str) -> None:
    """A window past 366 days is refused when parsed, not when a store is first asked."""
    with pytest.raises(ConfigError, match="a rolling window is at most 366 days"):
        parse_period(text)


def test_period_built_directly_is_checked() -> None:
    """``Period("rolling", seconds=…)`` obeys the same bound as the parsed form."""
    with pytest.raises(ConfigError, match="a rolling window is at most 366 days"):
        Period("rolling", MAX_ROLLING_S + 1)


@pytest.mark.parametrize("text", [None, 5])
def test_period_that_is_not_text_is_a_config_error(text: object) -> None:
    """A period that is not a string names the forms, not an AttributeError from ``.strip``."""
    with pytest.raises(ConfigError, match="must be day, week, month or rolling"):
        parse_period(text)  # type: ignore[arg-type]
