"""Budgets: scopes, periods, modes, thresholds and allocation."""

from __future__ import annotations

from costcap.budgets._allocation import allocate
from costcap.budgets._budget import MAX_LIMIT_USD, Budget, CallScope
from costcap.budgets._periods import MAX_ROLLING_S, Period, PeriodWindow, parse_period

__all__ = [
    "MAX_LIMIT_USD",
    "MAX_ROLLING_S",
    "Budget",
    "CallScope",
    "Period",
    "PeriodWindow",
    "allocate",
    "parse_period",
]
