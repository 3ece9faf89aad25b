"""The alerts a budget sends and the figures in them, on every store: the exhausted alert's spent
and in-flight amounts, the oversized alert, thresholds reached exactly, a $0 budget that alerts
nothing, and a rolling budget that alerts once per window length, not once per bucket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costcap import Budget, BudgetExceeded, Guard
from costcap.alerts import Alert
from tests.clocks import Clock

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
# Thursday 2026-03-05 13:00 UTC is 1,772,715,600 s since the epoch, hour 492,421
ONE_PM = datetime(2026, 3, 5, 13, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(ONE_PM)


@pytest.fixture
def alerts() -> list[Alert]:
    return []


def make(store_url: str, budget: Budget, clock: Clock, alerts: list[Alert]) -> Guard:
    return Guard(store_url, budgets=[budget], notifiers=[alerts.append], clock=clock)


@pytest.fixture
def daily(store_url: str, clock: Clock, alerts: list[Alert]) -> Iterator[Guard]:
    """A global $1 daily budget with $0.40 settled and $0.45 held by a call in flight, and only
    the 100 % threshold (so the one alert expected is the refusal's)."""
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=[100])
    guard = make(store_url, budget, clock, alerts)
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.45"), "0.4")
    guard.admit(model=MODEL, reserve_usd="0.45")
    yield guard
    guard.close()


def refuse(guard: Guard, amount: str) -> None:
    with pytest.raises(BudgetExceeded):
        guard.admit(model=MODEL, reserve_usd=amount)


def test_exhausted_alert_tells_what_is_spent_and_in_flight(
    daily: Guard, alerts: list[Alert]
) -> None:
    """$0.40 + $0.45 + $0.20 = $1.05 > $1: one exhausted alert with $0.40 spent, $0.45
    reserved by the call in flight and the $0.20 asked for."""
    refuse(daily, "0.2")
    (alert,) = alerts
    assert (alert.kind, alert.threshold_pct, alert.period) == (
        "exhausted", Decimal(100), "2026-03-05",
    )  # fmt: skip
    figures = (alert.spent_usd, alert.reserved_usd, alert.requested_usd, alert.limit_usd)
    assert figures == (Decimal("0.4"), Decimal("0.45"), Decimal("0.2"), Decimal(1))
    assert alert.resets_at == datetime(2026, 3, 6, tzinfo=UTC)


def test_exhausted_alert_message_states_the_figures(daily: Guard, alerts: list[Alert]) -> None:
    """The message has the same figures."""
    refuse(daily, "0.2")
    assert alerts[0].message == (
        "costcap: budget global/day has no room left for 2026-03-05: $0.4 spent + $0.45 in "
        "flight of $1; calls that could pass it are refused until 2026-03-06T00:00:00+00:00"
    )


def test_exhausted_alert_fires_once_a_period(daily: Guard, alerts: list[Alert]) -> None:
    """A second refusal the same day sends nothing more."""
    refuse(daily, "0.2")
    refuse(daily, "0.3")
    assert [a.kind for a in alerts] == ["exhausted"]


def test_oversized_call_gets_its_own_alert(daily: Guard, alerts: list[Alert]) -> None:
    """A call needing $1.50 of a $1 limit is oversized, at 150 % of the limit; the budget's
    own exhausted alert still comes when a call that could fit is refused."""
    refuse(daily, "1.5")
    refuse(daily, "0.2")
    assert [a.kind for a in alerts] == ["oversized", "exhausted"]
    assert (alerts[0].threshold_pct, alerts[0].requested_usd) == (Decimal(150), Decimal("1.5"))


def test_threshold_fires_when_spend_reaches_it_exactly(
    store_url: str, clock: Clock, alerts: list[Alert]
) -> None:
    """50 % of $1: $0.499999 settled sends nothing, $0.000001 more ($0.50) sends the alert."""
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=[50])
    guard = make(store_url, budget, clock, alerts)
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.5"), "0.499999")
        assert alerts == []
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.1"), "0.000001")
        assert [(a.threshold_pct, a.spent_usd) for a in alerts] == [(Decimal(50), Decimal("0.5"))]
    finally:
        guard.close()


def test_soft_budget_passed_sends_each_threshold_once(
    store_url: str, clock: Clock, alerts: list[Alert]
) -> None:
    """A soft $1 budget settled at $1.50 has passed 50, 80, 100 and 120 %: four alerts, each
    with the $1.50 spent."""
    budget = Budget(scope="global", period="day", limit_usd=1, mode="soft")
    guard = make(store_url, budget, clock, alerts)
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd=2), "1.5")
        assert [(a.threshold_pct, a.spent_usd) for a in alerts] == [
            (Decimal(pct), Decimal("1.5")) for pct in (50, 80, 100, 120)
        ]
    finally:
        guard.close()


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_zero_budget_alerts_nothing(
    store_url: str, clock: Clock, alerts: list[Alert], mode: str
) -> None:
    """A $0 budget refuses (hard) or lets through (soft) a $0.01 call and sends no alert."""
    budget = Budget(scope="global", period="day", limit_usd=0, mode=mode)  # type: ignore[arg-type]
    guard = make(store_url, budget, clock, alerts)
    try:
        if mode == "hard":
            refuse(guard, "0.01")
        else:
            guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.01"), "0.01")
        assert alerts == []
    finally:
        guard.close()


@pytest.fixture
def hourly(store_url: str, clock: Clock, alerts: list[Alert]) -> Iterator[Guard]:
    """A $1 budget over a rolling hour (one-minute buckets), alerting at 50 %; $0.60 spent at
    13:00. The hour-long slot an alert belongs to starts with the window: at 13:00 the window
    starts at 12:00, hour 492,420."""
    budget = Budget(scope="global", period="rolling:1h", limit_usd=1, thresholds=[50])
    guard = make(store_url, budget, clock, alerts)
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
    yield guard
    guard.close()


def spend_cent(guard: Guard) -> None:
    guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.01"), "0.01")


def test_rolling_alert_names_the_window_hour(hourly: Guard, alerts: list[Alert]) -> None:
    """The 50 % alert of $0.60 at 13:00 belongs to hour 492,420; room comes back when the
    12:00 minute leaves, at 12:01 + 1 h = 13:01."""
    assert [(a.period, a.spent_usd) for a in alerts] == [("w492420", Decimal("0.6"))]
    assert alerts[0].resets_at == datetime(2026, 3, 5, 13, 1, tzinfo=UTC)


def test_rolling_alert_is_not_repeated_for_each_bucket(
    hourly: Guard, clock: Clock, alerts: list[Alert]
) -> None:
    """One and thirty minutes later (other buckets, the same window hour: the window starts
    at 12:01 and 12:30) the spend is still over 50 %, and nothing more is sent."""
    for minutes in (1, 30):
        clock.now = ONE_PM + timedelta(minutes=minutes)
        spend_cent(hourly)
    assert len(alerts) == 1


def test_rolling_alert_fires_again_a_window_later(
    hourly: Guard, clock: Clock, alerts: list[Alert]
) -> None:
    """At 14:00 the window starts at 13:00, hour 492,421, and still holds the $0.60 (13:00 is
    its oldest bucket): the 50 % alert fires again, once."""
    clock.now = ONE_PM + timedelta(hours=1)
    spend_cent(hourly)
    spend_cent(hourly)
    assert [(a.period, a.spent_usd) for a in alerts] == [
        ("w492420", Decimal("0.6")), ("w492421", Decimal("0.6")),
    ]  # fmt: skip
