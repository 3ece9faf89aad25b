"""Budgets reset with their period, in the configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from costcap.budgets import Budget
from costcap.errors import BudgetExceeded
from costcap.guard import Guard

NY = ZoneInfo("America/New_York")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def spend_all(guard: Guard) -> None:
    ticket = guard.admit(
        model="gpt-4o-mini", reserve_usd=Decimal(guard.budgets[0].limit_micros) / 10**6
    )
    guard.settle_cost(ticket, ticket.reserved_usd)


def test_daily_budget_resets_at_local_midnight(store_url: str) -> None:
    """Spent at 23:59 in New York blocks until 00:00 New York time, then the day is fresh."""
    clock = Clock(datetime(2026, 11, 28, 23, 59, tzinfo=NY))
    budget = Budget(scope="global", period="day", limit_usd=1, timezone="America/New_York")
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=clock)
    spend_all(guard)
    with pytest.raises(BudgetExceeded) as caught:
        guard.admit(model="gpt-4o-mini", reserve_usd=1)
    assert caught.value.resets_at == datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    clock.now = datetime(2026, 11, 29, 0, 0, 1, tzinfo=NY)
    guard.admit(model="gpt-4o-mini", reserve_usd=1)
    guard.close()


def test_utc_midnight_is_not_new_york_midnight(store_url: str) -> None:
    """At 00:30 UTC it is still yesterday in New York: the budget has not reset yet."""
    clock = Clock(datetime(2026, 11, 28, 20, 0, tzinfo=NY))
    budget = Budget(scope="global", period="day", limit_usd=1, timezone="America/New_York")
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=clock)
    spend_all(guard)
    clock.now = datetime(2026, 11, 29, 0, 30, tzinfo=UTC)
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o-mini", reserve_usd=1)
    guard.close()


def test_monthly_budget_resets_on_the_first(store_url: str) -> None:
    """A monthly budget spent on January 31st is fresh on February 1st."""
    clock = Clock(datetime(2027, 1, 31, 12, tzinfo=UTC))
    guard = Guard(
        store_url,
        budgets=[Budget(scope="global", period="month", limit_usd=1)],
        notifiers=[],
        clock=clock,
    )
    spend_all(guard)
    with pytest.raises(BudgetExceeded):
        guard.admit(model="gpt-4o-mini", reserve_usd=1)
    clock.now = datetime(2027, 2, 1, 0, 0, tzinfo=UTC)
    guard.admit(model="gpt-4o-mini", reserve_usd=1)
    guard.close()


def test_a_rolling_budget_counts_a_later_bucket_charged_first(store_url: str) -> None:
    """A call that read the clock just before a rolling bucket's boundary, admitted after calls
    that read it just past the boundary and charged the next bucket, sees their spend."""
    clock = Clock(datetime(2026, 1, 1, 0, 23, 59, 900000, tzinfo=UTC))  # 24-minute buckets
    budget = Budget(scope="global", period="rolling:24h", limit_usd=1)
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=clock)
    late, charges = guard.prepare(
        model="gpt-4o-mini", messages=None, max_tokens=None, user_id=None, feature=None,
        api_key=None, endpoint=None, system=None, tools=None, input=None, instructions=None,
        reserve_usd=Decimal("0.6"),
    )  # fmt: skip
    clock.now = datetime(2026, 1, 1, 0, 24, 0, 100000, tzinfo=UTC)  # the next bucket
    guard.admit(model="gpt-4o-mini", reserve_usd=Decimal("0.6"))
    assert not guard.store.admit(late.id, charges, guard.lease_s).admitted
    guard.close()
