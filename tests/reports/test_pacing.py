"""Budget pacing: the projection math with fixed numbers, pacing a Guard's budgets, the alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costcap.alerts import Alert
from costcap.budgets import Budget
from costcap.guard import Guard
from costcap.ledger import CostEvent, LedgerSink, open_sink
from costcap.reports import Pace, Reports, alert_pacing, pace, pace_rolling, pacing

MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC)
APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
MARCH_11 = datetime(2026, 3, 11, tzinfo=UTC)  # 10 of March's 31 days gone


def month(spent: str, *, now: datetime = MARCH_11, recent: str | None = None) -> Pace:
    return pace(
        limit_usd=Decimal(300),
        spent_usd=Decimal(spent),
        start=MARCH_1,
        end=APRIL_1,
        now=now,
        recent_usd_per_day=None if recent is None else Decimal(recent),
    )


def test_a_budget_burning_too_fast_trends_over() -> None:
    """$150 of $300 in 10 of 31 days: $15/day, $150 + 21 × $15 = $465, runs out on Mar 21."""
    p = month("150")
    assert p.burn_usd_per_day == Decimal("15.000000")
    assert p.projected_usd == Decimal("465.000000")
    assert p.status == "trending_over"
    assert p.exhausts_at == datetime(2026, 3, 21, tzinfo=UTC)


def test_a_budget_on_course_is_on_track() -> None:
    """$90 in 10 days: $9/day, $279 projected of $300: on track, not exhausted this period."""
    p = month("90")
    assert (p.projected_usd, p.status, p.exhausts_at) == (
        Decimal("279.000000"),
        "on_track",
        None,
    )


def test_a_budget_using_less_than_half_trends_under() -> None:
    """$40 in 10 days projects $124: under half of the limit ($150) is trending_under."""
    p = month("40")
    assert (p.projected_usd, p.status) == (Decimal("124.000000"), "trending_under")


def test_a_projection_exactly_at_the_limit_is_on_track() -> None:
    """Over means strictly over: $100 in 10 of 30 days projects exactly $300."""
    p = pace(
        limit_usd=Decimal(300),
        spent_usd=Decimal(100),
        start=APRIL_1,
        end=datetime(2026, 5, 1, tzinfo=UTC),
        now=datetime(2026, 4, 11, tzinfo=UTC),
    )
    assert (p.projected_usd, p.status) == (Decimal("300.000000"), "on_track")


def test_a_recent_rate_from_the_ledger_replaces_the_period_average() -> None:
    """$90 spent but burning $20/day lately: $90 + 21 × $20 = $510, out at Mar 21 12:00."""
    p = month("90", recent="20")
    assert (p.burn_usd_per_day, p.projected_usd) == (Decimal("20.000000"), Decimal("510.000000"))
    assert p.exhausts_at == datetime(2026, 3, 21, 12, tzinfo=UTC)


def test_an_exhausted_budget_ran_out_now() -> None:
    """Nothing left: the exhaustion date is now."""
    p = month("300")
    assert (p.status, p.exhausts_at) == ("trending_over", MARCH_11)


def test_at_the_start_of_a_period_nothing_is_extrapolated() -> None:
    """At the first instant no time has passed: the burn is 0 and the projection what is spent."""
    p = month("0", now=MARCH_1)
    assert (p.burn_usd_per_day, p.projected_usd) == (Decimal(0), Decimal(0))


def test_a_rolling_window_projects_its_steady_state() -> None:
    """A 24-hour window holding $10 of $12 is on track at its own rate, over at $15/day."""

    def rolling(recent: Decimal | None) -> Pace:
        return pace_rolling(
            limit_usd=Decimal(12),
            spent_usd=Decimal(10),
            window=timedelta(days=1),
            now=MARCH_11,
            recent_usd_per_day=recent,
        )

    steady = rolling(None)
    assert (steady.projected_usd, steady.status) == (Decimal("10.000000"), "on_track")
    faster = rolling(Decimal(15))
    assert (faster.projected_usd, faster.status) == (Decimal("15.000000"), "trending_over")


# -- pacing a Guard ----------------------------------------------------------------------------


class SinkObserver:
    """Writes each event the Guard emits straight to a ledger sink."""

    def __init__(self, sink: LedgerSink) -> None:
        self.sink = sink

    def on_event(self, event: CostEvent) -> None:
        self.sink.write([event])


def spend(
    guard: Guard, usd: str, *, user_id: str | None = None, feature: str | None = None
) -> None:
    ticket = guard.admit(model="gpt-4o-mini", reserve_usd=usd, user_id=user_id, feature=feature)
    guard.settle_cost(ticket, usd)


def make_guard(
    now: datetime, alerts: list[Alert], store: object = "memory://", **extra: object
) -> Guard:
    return Guard(
        store,  # type: ignore[arg-type]
        budgets=[
            Budget(scope="global", period="month", limit_usd=300),
            Budget(scope="feature:chat", period="week", limit_usd=50),
            Budget(scope="user:*", period="day", limit_usd=5, mode="soft"),
        ],
        notifiers=[alerts.append],
        clock=lambda: now,
        **extra,  # type: ignore[arg-type]
    )


def test_pacing_reads_each_budgets_status() -> None:
    """pacing() paces the global and fixed-member budgets from guard.status()."""
    alerts: list[Alert] = []
    guard = make_guard(MARCH_11, alerts)
    spend(guard, "150", feature="search")
    spend(guard, "10", feature="chat")  # the week began on Monday Mar 9: 2 days gone
    rows = {p.budget: p for p in pacing(guard)}
    total = rows["global/month"]
    assert (total.start, total.resets_at) == (MARCH_1, APRIL_1)
    assert (total.spent_usd, total.burn_usd_per_day) == (Decimal(160), Decimal("16.000000"))
    assert (total.projected_usd, total.status) == (Decimal("496.000000"), "trending_over")
    assert total.projected_pct == Decimal("165.33")
    chat = rows["feature:chat/week"]
    assert chat.start == datetime(2026, 3, 9, tzinfo=UTC)
    assert (chat.projected_usd, chat.status) == (Decimal("35.000000"), "on_track")
    assert "user:*/day" not in rows  # a template has no member to pace without the ledger


def test_the_pacing_alert_fires_once_per_budget_and_period() -> None:
    """Trending over with money left: one pacing alert, not again — not from a second guard
    sharing the store either (the store's mark_once)."""
    alerts: list[Alert] = []
    guard = make_guard(MARCH_11, alerts)
    spend(guard, "150")
    fired = alert_pacing(guard, pacing(guard))
    assert [(a.kind, a.budget, a.period) for a in fired] == [("pacing", "global/month", "2026-03")]
    assert fired[0].projected_usd == Decimal("465.000000")
    assert fired[0].exhausts_at == datetime(2026, 3, 21, tzinfo=UTC)
    assert "on pace to spend $465 of $300 in 2026-03 (155%): $150 spent" in fired[0].message
    assert alert_pacing(guard, pacing(guard)) == []
    other = make_guard(MARCH_11, alerts, store=guard.store)
    assert alert_pacing(other, pacing(other)) == []
    assert [a.kind for a in alerts].count("pacing") == 1


def test_no_pacing_alert_too_early_in_the_period() -> None:
    """One hour into March, $50 spent extrapolates wildly: trending over, but no alert before
    10% of the period has passed on the period's own average."""
    alerts: list[Alert] = []
    guard = make_guard(MARCH_1 + timedelta(hours=1), alerts)
    spend(guard, "50")
    rows = pacing(guard)
    assert rows[0].status == "trending_over"
    assert alert_pacing(guard, rows) == []


def test_no_pacing_alert_once_the_money_is_gone() -> None:
    """A budget already at its limit is the exhausted alert's business, not pacing's."""
    alerts: list[Alert] = []
    guard = make_guard(MARCH_11, alerts)
    spend(guard, "300")
    assert alert_pacing(guard, pacing(guard)) == []


def test_the_ledger_rate_paces_long_periods(tmp_path: Path) -> None:
    """A month budget uses the ledger's spend since the start of yesterday: $45 in 1.5 days is
    $30/day, so $150 spent projects $150 + 20.5 × $30 = $765."""
    now = MARCH_11 + timedelta(hours=12)
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    sink.write(
        [
            CostEvent(request_id="old", ts=now - timedelta(days=5), status="ok", model="m",
                      cost_pico=99 * 10**12),
            CostEvent(request_id="y", ts=datetime(2026, 3, 10, 8, tzinfo=UTC), status="ok",
                      model="m", cost_pico=30 * 10**12),
            CostEvent(request_id="t", ts=datetime(2026, 3, 11, 9, tzinfo=UTC), status="ok",
                      model="m", cost_pico=15 * 10**12),
        ]
    )  # fmt: skip
    guard = make_guard(now, [])
    spend(guard, "150")
    with Reports(sink) as reports:
        total = next(p for p in pacing(guard, reports=reports) if p.budget == "global/month")
    assert (total.rate_from, total.burn_usd_per_day) == ("ledger", Decimal("30.000000"))
    assert total.projected_usd == Decimal("765.000000")


def test_template_members_are_paced_from_the_ledger(tmp_path: Path) -> None:
    """With the ledger, a user:* budget is paced for its top spenders this period: alice spent
    $4 of $5 by noon, $8/day, so she runs out at 15:00."""
    now = MARCH_11 + timedelta(hours=12)
    sink = open_sink(f"sqlite:///{tmp_path / 'ledger.db'}")
    guard = make_guard(now, [], observers=[SinkObserver(sink)])
    spend(guard, "4", user_id="alice")
    spend(guard, "1", user_id="bob")
    with Reports(sink) as reports:
        rows = [p for p in pacing(guard, reports=reports) if p.budget == "user:*/day"]
    assert [(p.member, p.spent_usd, p.status) for p in rows] == [
        ("alice", Decimal(4), "trending_over"),
        ("bob", Decimal(1), "trending_under"),
    ]
    assert rows[0].exhausts_at == MARCH_11 + timedelta(hours=15)


@pytest.mark.parametrize("period", ["rolling:7d", "rolling:1h"])
def test_rolling_budgets_are_paced(period: str) -> None:
    """A rolling budget is paced over its window length."""
    guard = Guard(
        "memory://",
        budgets=[Budget(scope="global", period=period, limit_usd=10)],
        notifiers=[],
        clock=lambda: MARCH_11,
    )
    spend(guard, "6")
    (row,) = pacing(guard)
    assert (row.projected_usd, row.status) == (Decimal("6.000000"), "on_track")
    assert row.at - row.start == timedelta(seconds=guard.budgets[0].window.seconds)
