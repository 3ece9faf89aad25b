"""What a period tells the user: when a rolling window's oldest bucket leaves it and where the
window starts, the weekly reset in the budget's time zone, and rolling windows shorter than a
minute (one-second buckets). Figures are worked out by hand from the instants below; the
Guard's ``status()`` shows the same ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from costcap import Budget, BudgetExceeded, Guard
from costcap.budgets import parse_period
from tests.clocks import Clock

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
# Thursday 2026-03-05 12:00:00 UTC is 1,772,712,000 s since the epoch (29,545,200 minutes)
NOON = datetime(2026, 3, 5, 12, tzinfo=UTC)


def test_rolling_hour_starts_at_the_oldest_minute_it_overlaps() -> None:
    """rolling:1h at 12:00:30 counts the last hour, 11:00:30 on, in whole one-minute buckets:
    it starts at 11:00:00 and its oldest bucket leaves at 11:01:00 + 1 h = 12:01:00."""
    window = parse_period("rolling:1h").at(NOON + timedelta(seconds=30))
    assert window.start == datetime(2026, 3, 5, 11, 0, tzinfo=UTC)
    assert window.resets_at == datetime(2026, 3, 5, 12, 1, tzinfo=UTC)
    assert window.bucket == "r29545200"  # 12:00:00 is minute 29,545,200


def test_rolling_hour_sums_the_last_hour_and_the_next_minute() -> None:
    """From the 11:00 bucket through the 12:01 one (charged by a call timed a moment later):
    61 + 1 = 62 buckets."""
    window = parse_period("rolling:1h").at(NOON + timedelta(seconds=30))
    assert window.window == tuple(f"r{m}" for m in range(29_545_140, 29_545_202))


def test_rolling_window_under_a_minute_counts_whole_seconds() -> None:
    """rolling:30s has one-second buckets (30 / 60 rounds up to 1 s): at 12:00:10.5 it starts
    at 11:59:40, its oldest second leaves at 11:59:41 + 30 s = 12:00:11, and it sums the 32
    seconds 11:59:40 to 12:00:11."""
    window = parse_period("rolling:30s").at(NOON + timedelta(seconds=10.5))
    assert window.start == datetime(2026, 3, 5, 11, 59, 40, tzinfo=UTC)
    assert window.resets_at == datetime(2026, 3, 5, 12, 0, 11, tzinfo=UTC)
    assert window.bucket == "r1772712010"
    assert window.window == tuple(f"r{s}" for s in range(1_772_711_980, 1_772_712_012))


def test_week_resets_on_monday_midnight_in_its_time_zone() -> None:
    """Wednesday 20:00 UTC is already Thursday in Tokyo; the week began Monday 2026-03-02 00:00
    JST (Sunday 15:00 UTC) and resets Monday 2026-03-09 00:00 JST = Sunday 2026-03-08 15:00
    UTC."""
    window = parse_period("week", timezone="Asia/Tokyo").at(datetime(2026, 3, 4, 20, tzinfo=UTC))
    assert window.bucket == "2026-W10"
    assert window.start == datetime(2026, 3, 1, 15, tzinfo=UTC)
    assert window.resets_at == datetime(2026, 3, 8, 15, tzinfo=UTC)


def test_week_turns_at_the_local_monday() -> None:
    """One second before Sunday 15:00 UTC is week 10 in Tokyo; 15:00 UTC is Monday there."""
    period = parse_period("week", timezone="Asia/Tokyo")
    before = period.at(datetime(2026, 3, 8, 14, 59, 59, tzinfo=UTC))
    after = period.at(datetime(2026, 3, 8, 15, tzinfo=UTC))
    assert (before.bucket, after.bucket) == ("2026-W10", "2026-W11")
    assert after.resets_at == datetime(2026, 3, 15, 15, tzinfo=UTC)


def test_week_across_a_dst_change_resets_at_local_midnight() -> None:
    """Paris's week of 2026-03-23 begins at 00:00 CET (23:00 UTC the day before) and ends at
    00:00 CEST on the 30th, after clocks went forward on Sunday the 29th: 22:00 UTC, a week of
    167 hours."""
    window = parse_period("week", timezone="Europe/Paris").at(datetime(2026, 3, 25, tzinfo=UTC))
    assert window.start == datetime(2026, 3, 22, 23, tzinfo=UTC)
    assert window.resets_at == datetime(2026, 3, 29, 22, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def half_minute(store_url: str, clock: Clock) -> Iterator[Guard]:
    """A $1 budget over a rolling 30 seconds."""
    budget = Budget(scope="global", period="rolling:30s", limit_usd=1)
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=clock)
    yield guard
    guard.close()


def test_status_shows_the_weekly_reset_in_the_budget_time_zone(clock: Clock) -> None:
    """guard.status() of a Paris weekly budget on 2026-03-25: week 13, resetting 2026-03-29
    22:00 UTC."""
    clock.now = datetime(2026, 3, 25, tzinfo=UTC)
    budget = Budget(scope="global", period="week", limit_usd=1, timezone="Europe/Paris")
    guard = Guard("memory://", budgets=[budget], notifiers=[], clock=clock)
    row = guard.status()[0]
    guard.close()
    assert (row["bucket"], row["resets_at"]) == ("2026-W13", "2026-03-29T22:00:00+00:00")


def test_rolling_half_minute_keeps_spend_until_its_second_leaves(
    half_minute: Guard, clock: Clock
) -> None:
    """$1 spent at 12:00:00 is still counted at 12:00:30.5 (its one-second bucket overlaps the
    last 30 s) and the refusal says room comes back at 12:00:01 + 30 s = 12:00:31."""
    ticket = half_minute.admit(model=MODEL, reserve_usd=1)
    half_minute.settle_cost(ticket, 1)
    clock.now = NOON + timedelta(seconds=30.5)
    with pytest.raises(BudgetExceeded) as refused:
        half_minute.admit(model=MODEL, reserve_usd="0.000001")
    assert refused.value.resets_at == datetime(2026, 3, 5, 12, 0, 31, tzinfo=UTC)
    assert half_minute.status()[0]["resets_at"] == "2026-03-05T12:00:31+00:00"


def test_rolling_half_minute_frees_its_room_when_the_second_leaves(
    half_minute: Guard, clock: Clock
) -> None:
    """At 12:00:31 the 12:00:00 bucket has left the window: the whole $1 is free again."""
    half_minute.settle_cost(half_minute.admit(model=MODEL, reserve_usd=1), 1)
    clock.now = NOON + timedelta(seconds=31)
    half_minute.admit(model=MODEL, reserve_usd=1)
    assert half_minute.status()[0]["spent_usd"] == 0
