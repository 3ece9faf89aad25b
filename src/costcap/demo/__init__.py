"""``costcap demo``: a realistic day of an AI product through costcap, against the fake provider."""

from __future__ import annotations

from costcap.demo._day import DayResult, Outcome, simulate_day

__all__ = ["DayResult", "Outcome", "simulate_day"]
