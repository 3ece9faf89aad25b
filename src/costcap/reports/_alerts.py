"""The alerts that fired, newest first, from ``costcap_alerts``.

The Guards writing to a ledger record each alert they send there (:mod:`costcap.ledger._fired`):
their own threshold, exhausted and oversized alerts, and the pacing and anomaly alerts the
``--alert`` reports fire through them. A range reads as every report's does (dates: whole UTC
days, the end date included; aware datetimes: instants, ``until`` excluded) and bounds when the
alert fired, by the clock of the Guard that fired it. Alerts are few (once per budget, member,
period and kind), so the table is read directly, through its index on ``fired_at``. A ledger
older than the table (schema version 6 or below) has recorded none: the report is empty there,
not an error — reports never migrate a ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from costcap.alerts import ALERT_KINDS
from costcap.ledger import LedgerSink
from costcap.ledger._schema import ALERTS_SINCE
from costcap.reports._range import TimeRange
from costcap.reports._rows import usd
from costcap.reports._sql import Dialect

__all__ = ["MAX_ALERTS", "AlertQuery", "AlertRecord", "read_alerts"]

MAX_ALERTS = 10_000  # the most one report lists

_COLUMNS = ("fired_at", "kind", "budget", "member", "period", "threshold_pct", "spent_pico",
            "limit_pico", "message", "mode", "reserved_pico", "requested_pico",
            "projected_pico", "resets_at", "exhausts_at", "detail")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert that fired: ``at`` (UTC) when, by the firing Guard's clock; the rest as the
    :class:`~costcap.alerts.Alert` said it (``message`` the text its notifiers were sent).
    ``budget`` is empty for an anomaly, ``member`` for a budget with one member; money is
    exact. ``projected_usd`` and ``exhausts_at`` are a pacing alert's (None otherwise),
    ``requested_usd`` an oversized alert's (0 otherwise), ``detail`` an anomaly's."""

    at: datetime
    kind: str
    budget: str
    member: str
    period: str
    threshold_pct: Decimal
    spent_usd: Decimal
    limit_usd: Decimal
    message: str
    mode: str
    reserved_usd: Decimal
    requested_usd: Decimal
    projected_usd: Decimal | None
    resets_at: datetime
    exhausts_at: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """What :meth:`Reports.alerts <costcap.reports.Reports.alerts>` was asked, checked."""

    range: TimeRange
    kind: str | None
    limit: int

    @classmethod
    def of(
        cls,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> AlertQuery:
        """ValueError for a bad range, a kind that is not an alert's (naming them) or a limit
        outside 1..10,000."""
        if kind is not None and kind not in ALERT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ALERT_KINDS)}, not {kind!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_ALERTS:
            raise ValueError(f"limit must be 1..{MAX_ALERTS:,}, not {limit!r}")
        return cls(TimeRange.of(since, until), kind, limit)


def read_alerts(
    sink: LedgerSink, dialect: Dialect, query: AlertQuery, *, version: int
) -> list[AlertRecord]:
    """The alerts of ``query``, newest first; alerts fired at one instant by one Guard in the
    reverse of the order they fired (their ids count up). None on a ledger of schema
    ``version`` older than the table."""
    if version < ALERTS_SINCE:
        return []
    conditions: list[str] = []
    params: list[object] = []
    for bound, op in ((query.range.since, ">="), (query.range.until, "<")):
        if bound is not None:
            conditions.append(f"fired_at {op} ?")
            params.append(dialect.ts(bound))
    if query.kind is not None:
        conditions.append("kind = ?")
        params.append(query.kind)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT {', '.join(_COLUMNS)} FROM costcap_alerts{where} "
        f"ORDER BY fired_at DESC, {dialect.bytewise('alert_id')} DESC LIMIT ?"
    )
    return [_record(dialect, row) for row in sink.query(dialect.sql(sql), [*params, query.limit])]


def _record(dialect: Dialect, row: tuple[Any, ...]) -> AlertRecord:
    (at, kind, budget, member, period, pct, spent, limit, message, mode, reserved, requested,
     projected, resets, exhausts, detail) = row  # fmt: skip
    return AlertRecord(
        at=dialect.read_ts(at),
        kind=kind,
        budget=budget,
        member=member,
        period=period,
        threshold_pct=Decimal(pct),
        spent_usd=usd(int(spent)),
        limit_usd=usd(int(limit)),
        message=message,
        mode=mode,
        reserved_usd=usd(int(reserved)),
        requested_usd=usd(int(requested)),
        projected_usd=None if projected is None else usd(int(projected)),
        resets_at=dialect.read_ts(resets),
        exhausts_at=None if exhausts is None else dialect.read_ts(exhausts),
        detail=detail,
    )
