"""Budgets: scopes, periods, modes, thresholds and allocation."""

from __future__ import annotations

from costcap.budgets._allocation import allocate
from costcap.budgets._budget import Budget, CallScope
from costcap.budgets._periods import Period, PeriodWindow, parse_period

__all__ = ["Budget", "CallScope", "Period", "PeriodWindow", "allocate", "parse_period"]
