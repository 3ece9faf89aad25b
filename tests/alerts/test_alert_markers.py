"""An alert is sent once however many Guards share the store: the first to reach a threshold
writes the alert's marker, and a Guard that reaches it later (another process, or one started
after a restart, which remembers nothing) finds the marker and stays quiet. A marker lasts 40
days, longer than any calendar period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from costcap import Budget, Guard
from costcap.alerts import Alert
from costcap.stores.memory import MemoryStore
from tests.clocks import Clock

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
DAY = 86_400
# 2026-12-13 00:00 UTC = 1,797,120,000 s = 520 × 40 days: a 40-day window slot starts here, so
# a rolling:40d budget's alerts name the same slot ("w519") for the next 40 days
SLOT_START = datetime(2026, 12, 13, tzinfo=UTC)


def guard_on(store: MemoryStore, budget: Budget, clock: Clock, alerts: list[Alert]) -> Guard:
    return Guard(store, budgets=[budget], notifiers=[alerts.append], clock=clock)


def test_a_second_guard_does_not_repeat_an_alert_until_the_window_ends() -> None:
    """$0.60 of a $1 rolling:40d budget spent at the slot's start sends the 50 % alert; 40
    days less 20 s later (still in the window and in the same slot) a new Guard on the same
    store spends a cent: the threshold is still reached, but the marker is still there."""
    clock = Clock(SLOT_START)
    store = MemoryStore(clock=lambda: clock().timestamp())
    budget = Budget(scope="global", period="rolling:40d", limit_usd=1, thresholds=[50])
    alerts: list[Alert] = []
    first = guard_on(store, budget, clock, alerts)
    first.settle_cost(first.admit(model=MODEL, reserve_usd="0.6"), "0.6")
    assert [(a.kind, a.period) for a in alerts] == [("threshold", "w519")]

    clock.advance(40 * DAY - 20)
    later = guard_on(store, budget, clock, alerts)
    later.settle_cost(later.admit(model=MODEL, reserve_usd="0.01"), "0.01")
    (status,) = later.status()
    assert status["spent_usd"] == Decimal("0.61")  # still past 50 %
    assert len(alerts) == 1


def test_a_monthly_alert_is_sent_once_in_the_month() -> None:
    """The 80 % alert of November, reached on the 1st; a Guard started on the 30th that
    spends more finds it sent."""
    clock = Clock(datetime(2026, 11, 1, tzinfo=UTC))
    store = MemoryStore(clock=lambda: clock().timestamp())
    budget = Budget(scope="global", period="month", limit_usd=1, thresholds=[80])
    alerts: list[Alert] = []
    first = guard_on(store, budget, clock, alerts)
    first.settle_cost(first.admit(model=MODEL, reserve_usd="0.9"), "0.9")
    clock.advance(29 * DAY + 23 * 3600)
    later = guard_on(store, budget, clock, alerts)
    later.settle_cost(later.admit(model=MODEL, reserve_usd="0.05"), "0.05")
    assert [(a.threshold_pct, a.period) for a in alerts] == [(Decimal(80), "2026-11")]
