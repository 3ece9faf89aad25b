"""The seed's CostGuard facade."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.alerts import Alert
from costcap.costguard import CostGuard
from costcap.errors import BudgetExceeded


def test_check_then_log_records_the_actual_cost() -> None:
    """check_before_call reserves; log_call turns it into the actual cost."""
    guard = CostGuard(daily_limit_usd=100)
    guard.check_before_call(Decimal("0.50"))
    guard.log_call("0.20")
    assert guard.daily_spent_usd == Decimal("0.2")


def test_limit_raises_and_notifies_the_team() -> None:
    """Past the daily limit the check raises BudgetExceeded and on_limit hears of it once."""
    told: list[Alert] = []
    guard = CostGuard(daily_limit_usd=1, on_limit=told.append)
    for _ in range(10):
        guard.check_before_call(0.1)
        guard.log_call(0.1)
    with pytest.raises(BudgetExceeded):
        guard.check_before_call(0.1)
    assert [a.kind for a in told].count("exhausted") == 1


def test_log_without_check_is_still_recorded() -> None:
    """Spend logged with no open reservation is charged, not dropped."""
    guard = CostGuard(daily_limit_usd=10)
    guard.log_call("1.25")
    assert guard.daily_spent_usd == Decimal("1.25")
