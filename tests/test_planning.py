"""The planning formula over prices that change with the time of day.

``acme-offpeak`` (tests/price_windows.py) costs $3 / $15 per million input / output tokens, half
that from 20:00 to 04:00 UTC. Every plan here is 1,200 calls a day of 2,000 input and 500 output
tokens for 30 days (36,000 calls), so that:

    standard call = 2,000 × $3/1M + 500 × $15/1M = $0.006 + $0.0075 = $0.0135
    off-peak call = $0.0135 / 2                                      = $0.00675
    36,000 standard calls = $486.00; 36,000 off-peak calls = $243.00
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from costcap.planning import CallShape, Plan, day_windows, plan
from costcap.pricing import PriceCatalog
from costcap.traffic import UNIFORM, TrafficProfile, profile_from
from tests.price_windows import OFF_PEAK, PEAK, offpeak_prices

CALL = [CallShape(input_tokens=2_000, output_tokens=500)]
DAY = date(2026, 3, 2)


@pytest.fixture
def model() -> Iterator[str]:
    with offpeak_prices() as name:
        yield name


def catalog_at(moment: datetime) -> PriceCatalog:
    """A catalog whose clock, the minute it runs, is ``moment``."""
    return PriceCatalog(clock=moment.timestamp)


def monthly(
    model: str,
    catalog: PriceCatalog | None = None,
    *,
    profile: TrafficProfile = UNIFORM,
    day: date | None = None,
    at: datetime | None = None,
) -> Plan:
    """1,200 calls a day of 2,000 in / 500 out, 30 days (the catalog's clock: a peak minute)."""
    return plan(
        catalog or catalog_at(PEAK),
        model,
        daily_calls=1_200,
        calls=CALL,
        profile=profile,
        day=day,
        at=at,
    )


def test_the_estimate_does_not_depend_on_the_minute_it_runs(model: str) -> None:
    """Run at a peak minute or an off-peak one, uniform traffic costs the day's average:
    (16 h × $0.0135 + 8 h × $0.00675) / 24 h = $0.0135 × 20/24 = $0.01125 a call,
    × 36,000 calls = $405.00."""
    at_peak = monthly(model, catalog_at(PEAK))
    off_peak = monthly(model, catalog_at(OFF_PEAK))
    assert (at_peak.period_usd, off_peak.period_usd) == (Decimal("405"), Decimal("405"))
    assert at_peak.per_call_usd == Decimal("0.01125")


def test_the_uniform_average_splits_input_and_output(model: str) -> None:
    """Input: 36,000 × 2,000 × $3/1M × 20/24 = $180.00; output: 36,000 × 500 × $15/1M × 20/24
    = $225.00; a day: 1,200 × $0.01125 = $13.50."""
    p = monthly(model, day=DAY)
    assert (p.input_usd, p.output_usd, p.daily_usd) == (Decimal(180), Decimal(225), Decimal("13.5"))


def test_each_window_has_its_share_and_cost_per_call(model: str) -> None:
    """Uniform traffic: 16 of 24 hours at $0.0135 a call, 8 of 24 at $0.00675."""
    windows = [(c.window.hours, c.window.share, c.per_call_usd) for c in monthly(model).windows]
    assert windows == [
        (((time(4), time(20)),), Fraction(2, 3), Decimal("0.0135")),
        (((time(20), time(4)),), Fraction(1, 3), Decimal("0.00675")),
    ]


def test_business_hours_in_utc_pay_the_standard_price(model: str) -> None:
    """09:00-17:00 UTC lies outside 20:00-04:00: 36,000 × $0.0135 = $486.00."""
    assert monthly(model, profile=profile_from("business-hours"), day=DAY).period_usd == 486


def test_a_profile_weights_each_hour(model: str) -> None:
    """Equal traffic at 03:00 (off-peak) and 04:00 (standard), none otherwise:
    (1 × $0.00675 + 1 × $0.0135) / 2 = $0.010125 a call, × 36,000 = $364.50."""
    weights = [0] * 24
    weights[3] = weights[4] = 7  # only the ratio between hours counts
    p = monthly(model, profile=profile_from(weights), day=DAY)
    assert p.period_usd == Decimal("364.5")


def test_business_hours_in_a_utc_offset(model: str) -> None:
    """09:00-17:00 at -05:00 is 14:00-22:00 UTC: 6 h standard, 2 h off-peak:
    (6 × 1 + 2 × 0.5) / 8 = 7/8 of $486.00 = $425.25."""
    profile = profile_from("business-hours", timezone=timezone(timedelta(hours=-5)))
    assert monthly(model, profile=profile, day=DAY).period_usd == Decimal("425.25")


def test_a_half_hour_offset_splits_an_hour(model: str) -> None:
    """09:00-17:00 at +05:30 is 03:30-11:30 UTC: half an hour off-peak, 7.5 h standard:
    (7.5 × 1 + 0.5 × 0.5) / 8 = 31/32 of $486.00 = $470.8125."""
    profile = profile_from("business-hours", timezone=timezone(timedelta(hours=5, minutes=30)))
    assert monthly(model, profile=profile, day=DAY).period_usd == Decimal("470.8125")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # EST (-05:00): 14:00-22:00 UTC, 7/8 of $486.00
        (date(2026, 1, 15), Decimal("425.25")),
        # EDT (-04:00): 13:00-21:00 UTC, 7 h standard and 1 h off-peak: 15/16 of $486.00
        (date(2026, 7, 15), Decimal("455.625")),
    ],
)
def test_a_zone_with_summer_time_uses_the_days_offset(
    model: str, day: date, expected: Decimal
) -> None:
    """New York business hours meet the UTC window an hour later in winter than in summer."""
    profile = profile_from("business-hours", timezone=ZoneInfo("America/New_York"))
    assert monthly(model, profile=profile, day=day).period_usd == expected


@pytest.mark.parametrize(("at", "expected"), [(PEAK, 486), (OFF_PEAK, 243)])
def test_at_prices_every_call_at_one_instant(model: str, at: datetime, expected: int) -> None:
    """--at pins the prices in force then: all standard, or all off-peak."""
    p = monthly(model, catalog_at(OFF_PEAK if at == PEAK else PEAK), at=at)
    assert p.period_usd == expected
    assert p.at == at


def test_at_names_the_window_in_force(model: str) -> None:
    """At 22:00 UTC the 20:00-04:00 window carries every call."""
    (only,) = monthly(model, at=OFF_PEAK).windows
    assert (only.window.hours, only.window.share) == (((time(20), time(4)),), Fraction(1))


def test_a_naive_at_is_utc(model: str) -> None:
    """22:00 without an offset is 22:00 UTC: off-peak, $243.00."""
    p = monthly(model, at=datetime(2026, 3, 2, 22, 0))
    assert (p.period_usd, p.at) == (Decimal(243), OFF_PEAK)


def test_day_windows_of_a_model_with_one_price() -> None:
    """A price set in costcap.toml holds all day: one window, every call in it."""
    catalog = PriceCatalog(overrides={"flat": {"input": "3", "output": "15"}})
    (only,) = day_windows(catalog, "flat", day=DAY)
    assert (only.all_day, only.share) == (True, Fraction(1))


def test_a_model_with_one_price_costs_the_same(model: str) -> None:
    """With one price all day, the average is that price: 36,000 × $0.0135 = $486.00."""
    catalog = PriceCatalog(overrides={"flat": {"input": "3", "output": "15"}})
    business = TrafficProfile(profile_from("business-hours").weights, UTC)
    assert plan(catalog, "flat", daily_calls=1_200, calls=CALL, profile=business).period_usd == 486
    assert plan(catalog, "flat", daily_calls=1_200, calls=CALL, profile=UNIFORM).period_usd == 486


def test_day_windows_join_across_midnight(model: str) -> None:
    """The off-peak window is one span, 20:00-04:00, not 00:00-04:00 and 20:00-00:00."""
    hours = [w.hours for w in day_windows(catalog_at(PEAK), model, day=DAY)]
    assert hours == [((time(4), time(20)),), ((time(20), time(4)),)]
