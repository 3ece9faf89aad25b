"""What the user is told, figure by figure, on every store: a BudgetExceeded's fields and
message and ``guard.status()``, after a call settled at $0.30 and another holding $0.50 of a
$1 budget, when a third asks for $0.25 ($0.30 + $0.50 + $0.25 = $1.05 > $1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costcap import Budget, BudgetExceeded, Guard

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)
TOMORROW = datetime(2026, 3, 6, tzinfo=UTC)


def fixed() -> datetime:
    return NOW


@pytest.fixture
def guard(store_url: str) -> Iterator[Guard]:
    """Every user $1 a day; alice has $0.30 spent and $0.50 in flight."""
    budget = Budget(scope="user:*", period="day", limit_usd=1)
    g = Guard(store_url, budgets=[budget], notifiers=[], clock=fixed)
    g.settle_cost(g.admit(model=MODEL, reserve_usd="0.5", user_id="alice"), "0.3")
    g.admit(model=MODEL, reserve_usd="0.5", user_id="alice")
    yield g
    g.close()


def refused(guard: Guard) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as caught:
        guard.admit(model=MODEL, reserve_usd="0.25", user_id="alice")
    return caught.value


def test_budget_exceeded_names_the_budget_and_member(guard: Guard) -> None:
    """The budget's id is its scope and period; the member is alice."""
    error = refused(guard)
    assert (error.budget, error.member) == ("user:*/day", "alice")


def test_budget_exceeded_carries_the_figures(guard: Guard) -> None:
    """Limit $1, spent $0.30, reserved $0.50, requested $0.25; the day resets at midnight UTC."""
    error = refused(guard)
    figures = (error.limit_usd, error.spent_usd, error.reserved_usd, error.requested_usd)
    assert figures == (Decimal(1), Decimal("0.3"), Decimal("0.5"), Decimal("0.25"))
    assert error.resets_at == TOMORROW


def test_budget_exceeded_message_states_the_figures(guard: Guard) -> None:
    """The message says the same figures in plain dollars."""
    assert str(refused(guard)) == (
        "budget 'user:*/day' for 'alice' has no room: limit $1, spent $0.3, reserved $0.5, "
        "this call needs up to $0.25; resets at 2026-03-06T00:00:00+00:00"
    )


def test_status_shows_spent_reserved_and_remaining(guard: Guard) -> None:
    """$1 − $0.30 spent − $0.50 reserved leaves $0.20."""
    row = guard.status(user_id="alice")[0]
    figures = (row["limit_usd"], row["spent_usd"], row["reserved_usd"], row["remaining_usd"])
    assert figures == (Decimal(1), Decimal("0.3"), Decimal("0.5"), Decimal("0.2"))
    assert (row["member"], row["bucket"]) == ("alice", "2026-03-05")
    assert row["resets_at"] == "2026-03-06T00:00:00+00:00"


def test_refusal_changes_no_figure(guard: Guard) -> None:
    """A refused call reserves nothing: status is as before it."""
    refused(guard)
    row = guard.status(user_id="alice")[0]
    assert (row["spent_usd"], row["reserved_usd"]) == (Decimal("0.3"), Decimal("0.5"))


def test_other_members_are_untouched(guard: Guard) -> None:
    """bob's budget is his own: nothing spent, the whole $1 remaining."""
    row = guard.status(user_id="bob")[0]
    assert (row["spent_usd"], row["remaining_usd"]) == (Decimal(0), Decimal(1))


def test_remaining_never_goes_below_zero(store_url: str) -> None:
    """A soft $1 budget settled at $1.50 shows $1.50 spent and $0 remaining, not −$0.50."""
    budget = Budget(scope="global", period="day", limit_usd=1, mode="soft")
    guard = Guard(store_url, budgets=[budget], notifiers=[], clock=fixed)
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd=2), "1.5")
        row = guard.status()[0]
        assert (row["spent_usd"], row["remaining_usd"]) == (Decimal("1.5"), Decimal(0))
    finally:
        guard.close()
