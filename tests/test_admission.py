"""Admission steps: thresholds as integers, fired markers skipped, per-bucket Applied reuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costcap.admission import (
    Applied,
    AppliedCache,
    alerts_due,
    charges_for,
    exhausted_alert,
    spent_before,
)
from costcap.budgets import Budget, CallScope
from costcap.stores import Admission, CounterState

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


def test_budget_that_does_not_apply_is_not_charged() -> None:
    """A budget for Bob is not charged by Alice's call: no Applied, no Charge."""
    budgets = [Budget(scope="user:bob", period="day", limit_usd=5)]
    assert charges_for(budgets, CALL, 10, NOW) == ([], [])


def test_applied_cache_is_emptied_when_it_holds_50_000_members() -> None:
    """The cache keeps 50,000 members; the next one empties it before it is added."""
    cache: AppliedCache = {}
    budgets = [Budget(scope="user:*", period="day", limit_usd=5)]
    for n in range(50_000):
        charges_for(budgets, CallScope(model="gpt-4o", user_id=f"u{n}"), 1, NOW, cache)
    assert len(cache) == 50_000
    charges_for(budgets, CallScope(model="gpt-4o", user_id="one more"), 1, NOW, cache)
    assert list(cache) == [(0, "one more")]


def test_threshold_alert_figures() -> None:
    """A threshold alert carries what is spent and the limit; nothing reserved or requested."""
    budget = Budget(scope="global", period="day", limit_usd=10)
    ((marker, alert),) = alerts_due([applied(budget)], [5_000_000])
    assert marker == "alert:global/day::2026-03-14:50"
    assert (alert.kind, alert.threshold_pct, alert.spent_usd, alert.limit_usd) == (
        "threshold", Decimal(50), Decimal(5), Decimal(10),
    )  # fmt: skip
    assert (alert.reserved_usd, alert.requested_usd) == (Decimal(0), Decimal(0))


def test_alerts_due_needs_one_spent_figure_per_budget() -> None:
    """Figures that do not line up with the budgets are an error, not a budget skipped."""
    budget = Budget(scope="global", period="day", limit_usd=10)
    with pytest.raises(ValueError, match="zip"):
        alerts_due([applied(budget)], [9_000_000, 1])


def refused(spent: int, reserved: int) -> Admission:
    return Admission(admitted=False, states=(CounterState(spent, reserved),), refused=0)


def test_call_as_large_as_the_limit_exhausts_the_budget() -> None:
    """A $3 call refused by a $3 budget with $1 spent: the budget is exhausted; the call is
    not larger than the whole limit, so it is not ``oversized``."""
    budget = Budget(scope="global", period="day", limit_usd=3)
    ((marker, alert),) = exhausted_alert([applied(budget)], refused(1_000_000, 0), 3_000_000)
    assert marker == "alert:global/day::2026-03-14:exhausted"
    assert (alert.kind, alert.threshold_pct) == ("exhausted", Decimal(100))


def test_oversized_share_rounds_up() -> None:
    """4 micro-dollars against a limit of 3 is 133.33…%: shown as 133.34, never less."""
    budget = Budget(scope="global", period="day", limit_usd="0.000003")
    ((_, alert),) = exhausted_alert([applied(budget)], refused(0, 0), 4)
    assert (alert.kind, alert.threshold_pct) == ("oversized", Decimal("133.34"))


def test_spent_before_reads_each_budget() -> None:
    admission = Admission(False, (CounterState(5, 2), CounterState(7, 0)), refused=1)
    assert spent_before(admission) == [5, 7]
