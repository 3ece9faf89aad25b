"""An alert that fired, as the ledger keeps it: one spool line, then one row of ``costcap_alerts``.

Why through the spool and the drain, like the events, rather than a write of its own: an alert
fires on the call path (the admission or the settle that crossed a threshold), and writing to
the database there would make that call wait for it — or fail with it in an outage. Spooled, it
costs the call one short append; it survives a crash of the process, waits out an outage of the
database with the events, and lands in the batch of the events recorded around it. Alerts are
rare (once per budget, member, period and kind), so batching changes nothing for them, but the
same durability does.

A sink writes a batch's alerts after its events, in the same transaction but behind a savepoint
(:func:`add_alerts`): alerts the database refuses (a constraint a DBA added, a table someone
dropped) are logged with their lines and left out, the batch's other alerts are written, and
its events commit all the same — the alert was sent to its notifiers already; the ledger must
never lose or hold back a call's event for it. A database that is down fails the whole batch,
which is retried with its alerts.

Money is integer picodollars, as for events (every amount an alert carries is one: budgets
count micro-dollars, reports picodollars); ``threshold_pct`` is exact decimal text; instants
are whole microseconds since the epoch in the line, and UTC instants in the table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from costcap.alerts import ALERT_KINDS, Alert
from costcap.ledger._inflight import EPOCH, micros
from costcap.ledger._lines import checked_field, json_object

__all__ = ["ALERT_COLUMNS", "MARKER", "FiredAlert", "add_alerts", "insert_alerts_sql"]

log = logging.getLogger("costcap.ledger")

MARKER = b'{"alert":'  # how an alert line starts (event and in-flight lines start otherwise)
_MICRO = timedelta(microseconds=1)


def _pico(usd: Decimal) -> int:
    """``usd`` in whole picodollars (exact for any amount an alert carries)."""
    return int(usd.scaleb(12).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True, kw_only=True)
class FiredAlert:
    """What the ledger records of an :class:`~costcap.alerts.Alert`: its fields, when it fired
    and the message the notifiers were sent. ``alert_id`` is unique per firing: a segment
    replayed after a crash adds nothing twice."""

    alert_id: str
    fired_at_us: int  # by the Guard's clock, microseconds since the epoch
    kind: str
    budget: str = ""
    member: str = ""
    mode: str = ""
    period: str = ""
    threshold_pct: str  # exact decimal text
    spent_pico: int = 0
    limit_pico: int = 0
    reserved_pico: int = 0
    requested_pico: int = 0
    projected_pico: int | None = None
    resets_at_us: int
    exhausts_at_us: int | None = None
    detail: str = ""
    message: str

    @classmethod
    def of(cls, alert: Alert, *, at: datetime, alert_id: str) -> FiredAlert:
        """The record of ``alert``, fired at ``at`` (aware)."""
        projected, exhausts = alert.projected_usd, alert.exhausts_at
        return cls(
            alert_id=alert_id,
            fired_at_us=micros(at),
            kind=alert.kind,
            budget=alert.budget,
            member=alert.member,
            mode=alert.mode,
            period=alert.period,
            threshold_pct=f"{alert.threshold_pct.normalize():f}",
            spent_pico=_pico(alert.spent_usd),
            limit_pico=_pico(alert.limit_usd),
            reserved_pico=_pico(alert.reserved_usd),
            requested_pico=_pico(alert.requested_usd),
            projected_pico=None if projected is None else _pico(projected),
            resets_at_us=micros(alert.resets_at),
            exhausts_at_us=None if exhausts is None else micros(exhausts),
            detail=alert.detail,
            message=alert.message,
        )

    def to_json(self) -> str:
        """One spool line, starting with :data:`MARKER`; ASCII only."""
        data: dict[str, Any] = {"alert": 1}
        data.update((name, getattr(self, name)) for name in _NAMES)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> FiredAlert:
        """The record of one :meth:`to_json` line; ``ValueError`` (and nothing else) if the line
        is not one: not a JSON object, a required field missing, a field of the wrong type, an
        unknown kind, a threshold that is not a finite decimal, text that is not valid Unicode,
        an integer beyond 64 bits, an instant out of range. Unknown fields are ignored."""
        data = json_object(line, _RECORD)
        values: dict[str, Any] = {
            name: checked_field(_RECORD, name, data[name], integer=name in _INTS)
            for name in _NAMES
            if name in data and not (data[name] is None and name in _OPTIONAL)
        }
        missing = sorted(_REQUIRED - values.keys())
        if missing:
            raise ValueError(f"not an alert record: {missing[0]} is missing")
        record = cls(**values)
        if record.kind not in ALERT_KINDS:
            raise ValueError(f"not an alert record: kind {record.kind!r} is unknown")
        try:
            pct = Decimal(record.threshold_pct)
        except InvalidOperation:
            raise ValueError("not an alert record: threshold_pct is not a number") from None
        if not pct.is_finite():
            raise ValueError("not an alert record: threshold_pct is not a finite number")
        try:
            for us in (record.fired_at_us, record.resets_at_us, record.exhausts_at_us):
                if us is not None:
                    _instant(us)
        except OverflowError:
            raise ValueError("not an alert record: an instant out of range") from None
        return record

    def row(self, *, text_time: bool) -> tuple[object, ...]:
        """The ``costcap_alerts`` row (SQLite: instants as ISO text in UTC)."""
        out: list[object] = []
        for name in _NAMES:
            value = getattr(self, name)
            if name.endswith("_us"):
                moment = None if value is None else _instant(value)
                value = moment.isoformat() if text_time and moment is not None else moment
            out.append(value)
        return tuple(out)


_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FiredAlert))
_REQUIRED = frozenset({"alert_id", "fired_at_us", "kind", "threshold_pct", "resets_at_us",
                       "message"})  # fmt: skip
_OPTIONAL = frozenset({"projected_pico", "exhausts_at_us"})  # null when the alert has none
_RECORD = "an alert record"
_INTS = frozenset(n for n in _NAMES if n.endswith(("_pico", "_us")))
# The table's columns, in the order of a row: the fields, instants named without ``_us``.
ALERT_COLUMNS: tuple[str, ...] = tuple(n.removesuffix("_us") for n in _NAMES)


def _instant(us: int) -> datetime:
    """The instant ``us`` microseconds after the epoch; ``OverflowError`` if out of range."""
    return EPOCH + us * _MICRO


def insert_alerts_sql(dialect: str) -> str:
    """One alert row into ``costcap_alerts``; an id already there is skipped (a replay)."""
    mark = "?" if dialect == "sqlite" else "%s"
    return (
        f"INSERT INTO costcap_alerts ({', '.join(ALERT_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(ALERT_COLUMNS))}) ON CONFLICT (alert_id) DO NOTHING"
    )


def add_alerts(
    where: str,
    alerts: Sequence[FiredAlert],
    attempt: Callable[[Sequence[FiredAlert]], Exception | None],
) -> None:
    """Insert a batch's ``alerts`` with ``attempt``: a sink's insert behind a savepoint, which
    returns the error the database refused them with (rolled back to the savepoint), or None.
    Refused together, they are tried one by one, and only those refused alone are left out,
    logged with their lines (to write them by hand once the cause is fixed). An error that
    is not a refusal (the database went away) propagates from ``attempt``: the batch fails
    and is retried, alerts included."""
    refusal = attempt(alerts)
    if refusal is None:
        return
    refused = [a for a in alerts if attempt([a]) is not None] if len(alerts) > 1 else alerts
    if not refused:  # refused together only (nothing alone): all are in now
        return
    log.error(
        "ledger %s: %d alert(s) not recorded (%s); the batch's events are; the alerts: %s",
        where, len(refused), refusal, " ".join(a.to_json() for a in refused),
    )  # fmt: skip
