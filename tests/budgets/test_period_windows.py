"""What a period's window holds, worked out by hand: its label, the calendar start of a month,
how long a store keeps its counters, the bucket size of a rolling window that sixty does not
divide, and the periods that are refused when built."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from costcap.budgets import Period, parse_period
from costcap.errors import ConfigError

# 1,800,000,030 s since the epoch: 2027-01-15 08:00:30 UTC, 30 s into a minute
T = 1_800_000_030
AT_T = datetime.fromtimestamp(T, UTC)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("day", "day"),
        ("weekly", "week"),
        ("month", "month"),
        ("rolling:2d", "rolling:2d"),
        ("rolling:48h", "rolling:2d"),  # the largest unit that divides it
        ("rolling:2h", "rolling:2h"),
        ("rolling:90m", "rolling:90m"),  # 5,400 s: not whole hours
        ("rolling:120s", "rolling:2m"),
        ("rolling:90s", "rolling:90s"),
    ],
)
def test_label(text: str, label: str) -> None:
    assert parse_period(text).label == label


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("rolling:45s", 45), ("rolling:5m", 300), ("rolling:3h", 10_800), ("rolling:2d", 172_800)],
)
def test_rolling_units(text: str, seconds: int) -> None:
    assert parse_period(text).seconds == seconds


NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("text", "start", "ends", "ttl_s"),
    [
        # a day: 12 h left, kept a day longer: 43,200 + 86,400
        ("day", datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC), 129_600),
        # the week of Monday the 23rd: 3.5 days left, 302,400 + 86,400
        ("week", datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC), 388_800),
        # November: 4.5 days left, 388,800 + 86,400
        ("month", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), 475_200),
    ],
)
def test_calendar_window_start_end_and_lifetime(
    text: str, start: datetime, ends: datetime, ttl_s: int
) -> None:
    """A calendar bucket starts at its local midnight and its counters are kept until a day
    after it ends."""
    window = parse_period(text).at(NOON)
    assert (window.start, window.resets_at, window.ttl_s) == (start, ends, ttl_s)


def test_month_starts_on_the_first_in_its_time_zone() -> None:
    """In Tokyo (UTC+9) November starts at 2026-10-31 15:00 UTC."""
    window = parse_period("month", timezone="Asia/Tokyo").at(NOON)
    assert window.start == datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert window.start == datetime(2026, 10, 31, 15, tzinfo=UTC)


def test_rolling_hour_by_hand() -> None:
    """One-minute buckets: the current one is 1,800,000,030 // 60 = 30,000,000; the oldest
    (1,800,000,030 − 3,600) // 60 = 29,999,940, whose end (29,999,941 × 60 = 1,799,996,460)
    plus the hour is when it stops counting; the counters are kept the hour and two buckets."""
    window = parse_period("rolling:1h").at(AT_T)
    assert window.bucket == "r30000000"
    assert window.window == tuple(f"r{i}" for i in range(29_999_940, 30_000_002))
    assert window.start == datetime.fromtimestamp(1_799_996_400, UTC)
    assert window.resets_at == datetime.fromtimestamp(1_800_000_060, UTC)
    assert window.ttl_s == 3_720


def test_rolling_buckets_round_down() -> None:
    """1,000 s in 60 buckets: 16 s each (16.7 rounded down);
    1,800,000,030 // 16 = 112,500,001 and (1,800,000,030 − 1,000) // 16 = 112,499,939; the
    counters are kept 1,000 + 2 × 16 s."""
    window = parse_period("rolling:1000s").at(AT_T)
    assert window.bucket == "r112500001"
    assert window.window[0] == "r112499939"
    assert window.ttl_s == 1_032


def test_one_second_is_the_shortest_rolling_window() -> None:
    period = Period("rolling", 1)
    assert period.label == "rolling:1s"
    window = period.at(AT_T)
    assert window.window == (f"r{T - 1}", f"r{T}", f"r{T + 1}")


@pytest.mark.parametrize("seconds", [0, -5, True, 1.5, "60"])
def test_rolling_window_must_be_a_positive_whole_number_of_seconds(seconds: object) -> None:
    with pytest.raises(ConfigError, match="positive whole number of seconds"):
        Period("rolling", seconds)  # type: ignore[arg-type]


def test_unknown_period_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="period kind must be one of day, week, month, rolling"):
        Period("year")


def test_time_zone_must_be_a_zoneinfo() -> None:
    with pytest.raises(ConfigError, match=r"period tz must be a zoneinfo\.ZoneInfo"):
        Period("day", tz="UTC")  # type: ignore[arg-type]


def test_too_long_a_window_is_named_where_it_was_written() -> None:
    """The error names the place and the text, not a count of seconds."""
    with pytest.raises(ConfigError, match=r"^budget 'b': 'rolling:367d': a rolling window is"):
        parse_period("rolling:367d", where="budget 'b'")
