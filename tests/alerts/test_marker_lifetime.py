"""An alert's once-per-period marker outlives the period it names: a rolling window runs up to
366 days, and a marker kept only 40 days let a new Guard on the same store (another process, a
restart) send the same 50 % alert again on day 41."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from costcap import Budget, Guard
from costcap.guard_core import utc_now
from costcap.stores import MemoryStore

DAY = 86_400


class MarkerTtls(MemoryStore):
    """The memory store, remembering the lifetime each marker was written with."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: dict[str, int] = {}

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        self.ttls[marker] = ttl_s
        return super().mark_once(marker, ttl_s)


def half_spent(period: str, clock: Callable[[], datetime] = utc_now) -> dict[str, int]:
    """The marker lifetimes written when a $1 budget crosses 50 %."""
    store = MarkerTtls()
    budgets = [Budget(scope="global", period=period, limit_usd=1)]
    guard = Guard(store, budgets=budgets, notifiers=[], clock=clock)
    ticket = guard.admit(model="gpt-4o-mini", reserve_usd="0.6")
    guard.settle_cost(ticket, "0.6")
    guard.close()
    assert store.ttls, "the 50 % alert fired"
    return store.ttls


def test_a_rolling_90_day_alert_marker_outlives_its_window() -> None:
    """90 days of window plus a day to spare."""
    assert set(half_spent("rolling:90d").values()) == {91 * DAY}


def test_a_daily_alert_marker_keeps_the_40_day_floor() -> None:
    assert set(half_spent("day").values()) == {40 * DAY}


def test_a_monthly_alert_marker_outlives_its_month() -> None:
    """At 00:00:01 on January 1st the month has 31 days less one second left: 40 days is
    already longer, so the floor holds."""
    clock = lambda: datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)  # noqa: E731
    assert set(half_spent("month", clock).values()) == {40 * DAY}
