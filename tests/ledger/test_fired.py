"""The alerts a Ledger records: one row of ``costcap_alerts`` each, money exact; a replay adds
nothing; they wait out an outage in the spool like events; an alert the database refuses is
logged and never holds back the events of its batch (SQLite and PostgreSQL). Their spool lines
read back as written, and a line that is not one is a ValueError (the spool moves it aside)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costcap.ledger import Ledger, open_sink
from costcap.ledger._fired import FiredAlert
from tests.fired import HISTORY, alert, fired
from tests.ledger.conftest import Switch, event, execute, fetch, totals

AT = datetime(2026, 3, 5, 13, 0, 0, 250_000, tzinfo=UTC)
ROW = (
    "SELECT fired_at, kind, budget, member, mode, period, threshold_pct, spent_pico, limit_pico, "
    "reserved_pico, requested_pico, projected_pico, resets_at, exhausts_at, detail, message "
    "FROM costcap_alerts"
)
# A constraint a DBA might add to the alerts table, by URL scheme: no threshold alerts.
NO_THRESHOLDS = {
    "sqlite": "CREATE TRIGGER no_thresholds BEFORE INSERT ON costcap_alerts "
    "WHEN NEW.kind = 'threshold' BEGIN SELECT RAISE(ABORT, 'no thresholds'); END",
    "postgresql": "ALTER TABLE costcap_alerts ADD CONSTRAINT no_thresholds "
    "CHECK (kind <> 'threshold')",
}


def _instant(value: Any) -> Any:
    """An instant as read back: ISO text on SQLite, a datetime on PostgreSQL; as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def rows(url: str) -> list[tuple[Any, ...]]:
    return [
        tuple(_instant(v) if i in (0, 12, 13) else v for i, v in enumerate(row))
        for row in fetch(url, ROW)
    ]


def test_an_alert_is_one_row_with_its_figures(ledger_url: str) -> None:
    """80 % of $1 reached with $0.81 spent at 13:00:00.25: 810,000,000,000 and
    1,000,000,000,000 picodollars, the instant to the microsecond, the message as sent."""
    with Ledger(ledger_url) as ledger:
        ledger.on_alert(alert(), AT)
        assert ledger.flush()
    assert rows(ledger_url) == [
        (
            AT, "threshold", "global/day", "", "hard", "2026-03-05", "80", 810_000_000_000,
            1_000_000_000_000, 0, 0, None, datetime(2026, 3, 6, tzinfo=UTC), None, "",
            "costcap: budget global/day reached 80% for 2026-03-05: $0.81 of $1 (hard)",
        )
    ]  # fmt: skip


def test_a_pacing_alert_keeps_its_projection(ledger_url: str) -> None:
    """$36.15 projected (36,150,000,000,000 picodollars), the limit reached on the 26th at
    07:12, 120.5 % of the limit."""
    with Ledger(ledger_url) as ledger:
        ledger.on_alert(
            alert("pacing", threshold_pct=Decimal("120.50"), projected_usd=Decimal("36.15"),
                  exhausts_at=datetime(2026, 3, 26, 7, 12, tzinfo=UTC)),
            AT,
        )  # fmt: skip
        assert ledger.flush()
    ((pct, projected, exhausts),) = [(r[6], r[11], r[13]) for r in rows(ledger_url)]
    assert (pct, projected, exhausts) == (
        "120.5",
        36_150_000_000_000,
        datetime(2026, 3, 26, 7, 12, tzinfo=UTC),
    )


def test_a_replayed_alert_is_stored_once(ledger_url: str) -> None:
    """A segment replayed after a crash re-sends its alerts: their ids keep one row each."""
    sink = open_sink(ledger_url)
    try:
        sink.write(HISTORY[:2])
        sink.write(HISTORY)
    finally:
        sink.close()
    assert fetch(ledger_url, "SELECT COUNT(*) FROM costcap_alerts") == [(5,)]


def test_alerts_fired_in_one_ledger_have_ids_counting_up(ledger_url: str) -> None:
    """Two alerts at one instant: the second's id sorts after the first's (the report's order
    among alerts of one instant)."""
    with Ledger(ledger_url) as ledger:
        ledger.on_alert(alert(threshold_pct=Decimal(50)), AT)
        ledger.on_alert(alert(threshold_pct=Decimal(80)), AT)
        assert ledger.flush()
    found = fetch(ledger_url, "SELECT alert_id, threshold_pct FROM costcap_alerts")
    assert [pct for _, pct in sorted(found, key=lambda r: r[0].encode())] == ["50", "80"]


def test_an_alert_the_database_refuses_leaves_the_events_of_its_batch(
    ledger_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A constraint refuses the threshold alert of a batch: its two events and the exhausted
    alert are written, and the refused alert is logged with its line."""
    execute(ledger_url, NO_THRESHOLDS[ledger_url.partition(":")[0]])
    refused, kept = fired(1, AT), fired(2, AT, kind="exhausted")
    sink = open_sink(ledger_url)
    try:
        with caplog.at_level(logging.ERROR, logger="costcap.ledger"):
            assert sink.write([event(1), refused, event(2), kept]) == 2
    finally:
        sink.close()
    assert totals(ledger_url)["costcap_events"] == (2, 1001 + 1002)
    assert fetch(ledger_url, "SELECT kind FROM costcap_alerts") == [("exhausted",)]
    (message,) = [r.getMessage() for r in caplog.records]
    assert "1 alert(s) not recorded" in message
    assert refused.to_json() in message


def test_an_alert_waits_out_an_outage_in_the_spool(
    ledger_url: str, tmp_path: Path, outage: Callable[[str], Switch]
) -> None:
    """Spooled while the database is down, closed, drained by the next Ledger on the spool."""
    switch = outage("open")
    spool = tmp_path / "spool"
    first = Ledger(ledger_url, spool_dir=spool)
    first.record(event(1))
    first.on_alert(alert(), AT)
    first.close(timeout=0.2)
    switch.down = False
    with Ledger(ledger_url, spool_dir=spool) as second:
        assert second.flush()
    assert totals(ledger_url)["costcap_events"][0] == 1
    assert [r[:2] for r in rows(ledger_url)] == [(AT, "threshold")]


@pytest.mark.parametrize("record", HISTORY, ids=lambda r: r.kind)
def test_an_alert_line_reads_back_as_written(record: FiredAlert) -> None:
    line = record.to_json()
    assert line.startswith('{"alert":1,')
    assert line.isascii()
    assert FiredAlert.from_json(line) == record


def _line(**changes: object) -> str:
    """The spool line of the first test alert, with ``changes`` (None: the field removed)."""
    data = json.loads(HISTORY[0].to_json())
    for name, value in changes.items():
        if value is None:
            del data[name]
        else:
            data[name] = value
    return json.dumps(data)


NOT_ALERTS = {
    "not JSON": '{"alert":1, nope',
    "nested too deeply": '{"alert":' * 100_000,
    "not an object": '["alert", 1]',
    "an id missing": _line(alert_id=None),
    "a message missing": _line(message=None),
    "a time that is text": _line(fired_at_us="2026-03-05T13:00:00Z"),
    "a count that is a flag": _line(spent_pico=True),
    "money beyond 64 bits": _line(limit_pico=2**63),
    "a time out of range": _line(resets_at_us=2**62),
    "an unknown kind": _line(kind="panic"),
    "a threshold that is no number": _line(threshold_pct="lots"),
    "an infinite threshold": _line(threshold_pct="Infinity"),
    "text that is not Unicode": _line(member="\ud800"),
    "a number for text": _line(budget=5),
    "a null for text": _line(detail=None).replace("}", ', "detail": null}'),
}


@pytest.mark.parametrize("line", NOT_ALERTS.values(), ids=NOT_ALERTS.keys())
def test_a_line_that_is_not_an_alert_is_a_value_error(line: str) -> None:
    with pytest.raises(ValueError, match="not an alert record"):
        FiredAlert.from_json(line)
