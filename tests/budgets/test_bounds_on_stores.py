"""The documented bounds hold on every store: the largest limit is counted exactly, the longest
rolling window is kept, and anything past them is refused when the Budget is built."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap import Guard
from costcap.budgets import Budget
from costcap.errors import BudgetExceeded, ConfigError

MODEL = "gpt-4o"  # names the ticket only: dollar reservations price no tokens


def test_largest_limit_is_counted_to_the_micro_dollar(store_url: str) -> None:
    """$1,000,000,000 admits $999,999,999.999999 and then exactly one micro-dollar more."""
    budget = Budget(scope="global", period="day", limit_usd="1000000000")
    guard = Guard(store_url, budgets=[budget])
    try:
        guard.admit(model=MODEL, reserve_usd=Decimal("999999999.999999"))
        with pytest.raises(BudgetExceeded):  # one micro-dollar is left, not two
            guard.admit(model=MODEL, reserve_usd=Decimal("0.000002"))
        guard.admit(model=MODEL, reserve_usd=Decimal("0.000001"))
        with pytest.raises(BudgetExceeded):
            guard.admit(model=MODEL, reserve_usd=Decimal("0.000001"))
    finally:
        guard.close()


def test_limit_past_the_largest_is_refused_before_the_store(store_url: str) -> None:
    """One micro-dollar more than $1,000,000,000 is a ConfigError from the Budget itself."""
    with pytest.raises(ConfigError, match="above the largest limit every store counts exactly"):
        Guard(
            store_url, budgets=[Budget(scope="global", period="day", limit_usd="1000000000.000001")]
        )


def test_longest_rolling_window_is_kept(store_url: str) -> None:
    """A rolling:366d budget of $1: $0.50 settled, then $0.60 is refused and $0.50 fits."""
    budget = Budget(scope="global", period="rolling:366d", limit_usd=1)
    guard = Guard(store_url, budgets=[budget])
    try:
        ticket = guard.admit(model=MODEL, reserve_usd=Decimal("0.60"))
        guard.settle_cost(ticket, Decimal("0.50"))
        with pytest.raises(BudgetExceeded):
            guard.admit(model=MODEL, reserve_usd=Decimal("0.60"))
        guard.admit(model=MODEL, reserve_usd=Decimal("0.50"))
    finally:
        guard.close()
