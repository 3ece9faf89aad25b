"""A Guard with a Ledger records every alert it sends, once, at its clock's time: a budget that
crosses its threshold and then runs out leaves exactly those two alerts in the ledger (sync and
async Guards, SQLite store and ledger). Recording an alert never fails the call: an alert the
ledger refuses, or an observer that raises, leaves the call and its event as they were."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costcap import AsyncGuard, Budget, BudgetExceeded, Guard
from costcap.alerts import Alert
from costcap.ledger import Ledger, open_sink
from costcap.reports import Reports
from tests.clocks import Clock
from tests.ledger.conftest import execute

MODEL = "gpt-4o-mini"  # names the ticket only: dollar reservations price no tokens
ONE_PM = datetime(2026, 3, 5, 13, tzinfo=UTC)
# the global $1 daily budget, alerting at 50 % (and when it refuses a call)
BUDGET = Budget(scope="global", period="day", limit_usd=1, thresholds=[50])


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def history(ledger: Ledger) -> list[tuple[datetime, str, Decimal, Decimal]]:
    """(fired at, kind, threshold, spent) of each alert in the ledger, newest first."""
    assert ledger.flush()
    with Reports(open_sink(ledger.url)) as reports:
        return [(r.at, r.kind, r.threshold_pct, r.spent_usd) for r in reports.alerts()]


# The day: $0.60 settled at 13:00 (50 % passed), $0.30 more at 13:01 (90 %: no threshold left),
# then at 13:02 two calls of $0.20 refused (only the first alerts).
EXPECTED = [
    (datetime(2026, 3, 5, 13, 2, tzinfo=UTC), "exhausted", Decimal(100), Decimal("0.9")),
    (ONE_PM, "threshold", Decimal(50), Decimal("0.6")),
]


def test_a_threshold_then_exhaustion_are_recorded_once_each(store: str, ledger: Ledger) -> None:
    clock = Clock(ONE_PM)
    guard = Guard(store, budgets=[BUDGET], notifiers=[], clock=clock, observers=[ledger])
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
        clock.advance(60)
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.3"), "0.3")
        clock.advance(60)
        for _ in range(2):
            with pytest.raises(BudgetExceeded):
                guard.admit(model=MODEL, reserve_usd="0.2")
    finally:
        guard.close()
    assert history(ledger) == EXPECTED


async def test_an_async_guard_records_them_too(store: str, ledger: Ledger) -> None:
    clock = Clock(ONE_PM)
    guard = AsyncGuard(store, budgets=[BUDGET], notifiers=[], clock=clock, observers=[ledger])
    try:
        await guard.settle_cost(await guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
        clock.advance(60)
        await guard.settle_cost(await guard.admit(model=MODEL, reserve_usd="0.3"), "0.3")
        clock.advance(60)
        for _ in range(2):
            with pytest.raises(BudgetExceeded):
                await guard.admit(model=MODEL, reserve_usd="0.2")
    finally:
        await guard.close()
    assert history(ledger) == EXPECTED


def test_the_ledger_keeps_the_message_the_notifiers_got(store: str, ledger: Ledger) -> None:
    sent: list[Alert] = []
    guard = Guard(store, budgets=[BUDGET], notifiers=[sent.append], clock=Clock(ONE_PM),
                  observers=[ledger])  # fmt: skip
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
    finally:
        guard.close()
    assert ledger.flush()
    with Reports(open_sink(ledger.url)) as reports:
        assert [r.message for r in reports.alerts()] == [a.message for a in sent]
    assert [a.message for a in sent] == [
        "costcap: budget global/day reached 50% for 2026-03-05: $0.6 of $1 (hard)"
    ]


def test_a_guard_without_a_ledger_sends_its_alerts_all_the_same(store: str) -> None:
    sent: list[Alert] = []
    guard = Guard(store, budgets=[BUDGET], notifiers=[sent.append], clock=Clock(ONE_PM))
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
    finally:
        guard.close()
    assert [a.kind for a in sent] == ["threshold"]


def test_an_alert_the_ledger_refuses_leaves_the_call_and_its_event(
    store: str, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger's database refuses every alert: the call that fired one is settled, its
    event is recorded, and the refusal is logged."""
    execute(ledger.url, "CREATE TRIGGER no_alerts BEFORE INSERT ON costcap_alerts "
                        "BEGIN SELECT RAISE(ABORT, 'no alerts here'); END")  # fmt: skip
    guard = Guard(store, budgets=[BUDGET], notifiers=[], clock=Clock(ONE_PM), observers=[ledger])
    try:
        guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
        assert guard.status()[0]["spent_usd"] == Decimal("0.6")
    finally:
        guard.close()
    with caplog.at_level(logging.ERROR, logger="costcap.ledger"):
        assert history(ledger) == []
    assert "1 alert(s) not recorded (no alerts here)" in caplog.text
    with Reports(open_sink(ledger.url)) as reports:
        assert reports.totals().cost_pico == 600_000_000_000


class _Broken:
    """An alert observer that always fails."""

    def __init__(self) -> None:
        self.tried = 0

    def on_alert(self, alert: Alert, at: datetime) -> None:
        self.tried += 1
        raise RuntimeError("cannot record")


def test_an_observer_that_fails_to_record_does_not_fail_the_call(
    store: str, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _Broken()
    sent: list[Alert] = []
    guard = Guard(store, budgets=[BUDGET], notifiers=[sent.append], clock=Clock(ONE_PM),
                  observers=[broken, ledger])  # fmt: skip
    try:
        with caplog.at_level(logging.ERROR, logger="costcap.observe"):
            guard.settle_cost(guard.admit(model=MODEL, reserve_usd="0.6"), "0.6")
    finally:
        guard.close()
    assert (broken.tried, [a.kind for a in sent]) == (1, ["threshold"])
    assert "failed to record alert" in caplog.text
    assert [kind for _, kind, _, _ in history(ledger)] == ["threshold"]
