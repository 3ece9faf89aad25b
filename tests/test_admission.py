"""Admission steps: thresholds as integers, fired markers skipped, per-bucket Applied reuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costcap.admission import Applied, AppliedCache, alerts_due, charges_for
from costcap.budgets import Budget, CallScope

NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)
CALL = CallScope(model="gpt-4o", user_id="alice")


def applied(budget: Budget) -> Applied:
    return Applied(budget, "", budget.window_at(NOW))


def test_threshold_micros_round_up() -> None:
    """50% of $10.000003 is 5,000,001.5 micros: reached at 5,000,002, not at 5,000,001."""
    budget = Budget(scope="global", period="day", limit_usd="10.000003")
    assert alerts_due([applied(budget)], [5_000_001]) == []
    assert [a.threshold_pct for _, a in alerts_due([applied(budget)], [5_000_002])] == [50]


def test_every_threshold_reached_is_due() -> None:
    """Spend past 80% of the limit makes the 50% and 80% thresholds due, not 100%."""
    budget = Budget(scope="global", period="day", limit_usd=10)
    due = alerts_due([applied(budget)], [8_500_000])
    assert [a.threshold_pct for _, a in due] == [Decimal(50), Decimal(80)]


def test_fired_markers_are_not_due_again() -> None:
    """A marker already fired is skipped (no Alert built for it)."""
    budget = Budget(scope="global", period="day", limit_usd=10)
    first = alerts_due([applied(budget)], [8_500_000])
    fired = {first[0][0]}
    assert [m for m, _ in alerts_due([applied(budget)], [8_500_000], fired)] == [first[1][0]]


def test_applied_is_reused_within_a_bucket() -> None:
    """The same member in the same period bucket gets the same Applied (keys built once)."""
    cache: AppliedCache = {}
    budgets = [Budget(scope="user:*", period="day", limit_usd=5)]
    first, _ = charges_for(budgets, CALL, 10, NOW, cache)
    again, _ = charges_for(budgets, CALL, 10, NOW + timedelta(hours=1), cache)
    assert again[0] is first[0]


def test_a_new_bucket_gets_new_keys() -> None:
    """After the day rolls over the charge names the new day's counter."""
    cache: AppliedCache = {}
    budgets = [Budget(scope="user:*", period="day", limit_usd=5)]
    _, today = charges_for(budgets, CALL, 10, NOW, cache)
    _, tomorrow = charges_for(budgets, CALL, 10, NOW + timedelta(days=1), cache)
    assert today[0].key != tomorrow[0].key
    assert tomorrow[0].key.startswith("budget:user:*/day:alice:")


def test_cached_charges_equal_uncached_ones() -> None:
    """With or without the cache the charges are the same."""
    budgets = [Budget(scope="global", period="day", limit_usd=5),
               Budget(scope="user:*", period="rolling:24h", limit_usd=1)]  # fmt: skip
    cache: AppliedCache = {}
    charges_for(budgets, CALL, 10, NOW, cache)
    assert charges_for(budgets, CALL, 7, NOW, cache)[1] == charges_for(budgets, CALL, 7, NOW)[1]
