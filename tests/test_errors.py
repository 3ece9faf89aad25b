"""Error messages show money in plain decimal notation, exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from costcap.errors import BudgetExceeded, plain_usd


def test_budget_exceeded_prints_plain_exact_dollars() -> None:
    """Normalized Decimals (1E+2, 5E+1) print as 100 and 50; a micro-dollar stays 0.000001."""
    error = BudgetExceeded(
        budget="global/day",
        member="",
        limit_usd=Decimal("1E+2"),
        spent_usd=Decimal("5E+1"),
        reserved_usd=Decimal("0"),
        requested_usd=Decimal("0.000001"),
        resets_at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert str(error) == (
        "budget 'global/day' has no room: limit $100, spent $50, reserved $0, "
        "this call needs up to $0.000001; resets at 2026-12-05T00:00:00+00:00"
    )


def test_plain_usd_keeps_every_digit() -> None:
    """A tenth of a micro-dollar and a large round amount are written out in full."""
    assert plain_usd(Decimal("1E-7")) == "0.0000001"
    assert plain_usd(Decimal("1E+9")) == "1000000000"
