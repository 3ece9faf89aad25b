"""Traffic profiles: named shapes, 24 weights, time zones, and what is refused."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from costcap.traffic import UNIFORM, TrafficProfile, parse_timezone, profile_from

DAY = date(2026, 3, 2)


def test_business_hours_are_nine_to_five() -> None:
    """``business-hours`` puts every call between 09:00 and 17:00."""
    profile = profile_from("business-hours")
    assert [hour for hour, w in enumerate(profile.weights) if w] == list(range(9, 17))


def test_weights_from_text() -> None:
    """24 comma-separated numbers, spaces and decimals allowed."""
    profile = profile_from(", ".join(["0.5"] * 23 + ["2"]))
    assert profile.weights[-1] == Decimal(2)
    assert profile.name == "custom"


def test_a_share_spreads_calls_evenly_within_an_hour() -> None:
    """Half of hour 0 under uniform traffic is 1/48 of the day's calls."""
    start = UNIFORM.day_start(DAY)
    assert UNIFORM.share(start, start, start + timedelta(minutes=30)) == Fraction(1, 48)


def test_day_start_is_local_midnight_in_utc() -> None:
    """Midnight in Paris on 2 March (winter, +01:00) is 23:00 UTC the day before."""
    profile = profile_from("uniform", timezone=ZoneInfo("Europe/Paris"))
    assert profile.day_start(DAY) == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,2,3", "needs 24 weights, one per hour 0-23 (got 3)"),
        (",".join(["1"] * 23 + ["-1"]), "hour 23: a weight must not be negative"),
        (",".join(["0"] * 24), "needs some traffic"),
        (",".join(["1"] * 23 + ["x"]), "hour 23: 'x' is not a number"),
        (",".join(["1"] * 23 + ["nan"]), "not a finite number"),
        (",".join(["1"] * 23 + ["1e99"]), "out of range"),
        ("evenings", "unknown profile 'evenings'"),
        ([1] * 23 + [True], "hour 23: True is not a number"),
    ],
)
def test_bad_profiles_are_refused(value: str | list[object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        profile_from(value)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("UTC", timedelta(0)),
        ("+05:30", timedelta(hours=5, minutes=30)),
        ("UTC-08:00", timedelta(hours=-8)),
        ("Asia/Kolkata", timedelta(hours=5, minutes=30)),
    ],
)
def test_time_zones(text: str, offset: timedelta) -> None:
    assert parse_timezone(text).utcoffset(datetime(2026, 3, 2, 12)) == offset


@pytest.mark.parametrize("text", ["Mars/Base", "/etc/passwd", "../x", "", "+15:00", "+05:75"])
def test_bad_time_zones_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"time zone|UTC offset"):
        parse_timezone(text)


def test_a_profile_needs_24_weights() -> None:
    with pytest.raises(ValueError, match="got 2"):
        TrafficProfile((Decimal(1), Decimal(1)), timezone(timedelta(0)))
