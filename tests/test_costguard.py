"""The seed's CostGuard facade."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.alerts import Alert
from costcap.costguard import CostGuard
from costcap.errors import BudgetExceeded, ConfigError


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


def test_refusal_shows_plain_dollars() -> None:
    """$50 spent of $100, a $60 call: the message says $100, $50 and $60, never 1E+2."""
    guard = CostGuard(daily_limit_usd=100)
    guard.log_call(50)
    with pytest.raises(BudgetExceeded) as caught:
        guard.check_before_call(60)
    assert "limit $100, spent $50, reserved $0, this call needs up to $60;" in str(caught.value)


def test_daily_spent_prints_plainly() -> None:
    """$50 spent is Decimal("50"), which prints as 50 (not 5E+1)."""
    guard = CostGuard(daily_limit_usd=100)
    guard.log_call(50)
    assert str(guard.daily_spent_usd) == "50"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("lots", "estimated_cost is not a dollar amount: 'lots'"),
        (None, r"estimated_cost must be a dollar amount \(str, int or Decimal\), not None"),
        (10**10, r"estimated_cost \$10000000000 is more than any budget holds"),
    ],
)
def test_bad_estimate_is_a_config_error(amount: object, message: str) -> None:
    """An estimate that is not money, or more than any budget holds, names the argument."""
    guard = CostGuard(daily_limit_usd=100)
    with pytest.raises(ConfigError, match=message):
        guard.check_before_call(amount)  # type: ignore[arg-type]


def test_on_limit_must_be_callable() -> None:
    """``on_limit="ops@example.com"`` is refused when the guard is built, not when it fires."""
    with pytest.raises(ConfigError, match="on_limit must be a function"):
        CostGuard(daily_limit_usd=100, on_limit="ops@example.com")  # type: ignore[arg-type]
