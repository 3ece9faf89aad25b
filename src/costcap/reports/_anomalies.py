"""Reading the ledger for anomalies (the method is in :mod:`costcap.reports._detect`).

The reads stay small: (1) the last hour and 24 hours per user, from the events of that window
(through ``(user_id, ts, cost_pico)`` on SQLite, ``ts`` on PostgreSQL), and per feature, from
the minute rollup (:mod:`costcap.reports._feature_hours`); (2) only members whose spend reaches
a floor are candidates; (3) their 7 daily totals from the narrowest rollup (primary-key
searches), and their seasonal hours — users through ``(user_id, ts, cost_pico)``, 7 three-hour
windows; features from the minute rollup. Under a user or model filter, which the minute rollup
cannot apply, features are read from events (the 24 hours, the 7 days of the seasonal hours).
Loops are one grouped read of the last minutes (``ts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from costcap.alerts import Alert
from costcap.ledger import LedgerSink
from costcap.reports._detect import (
    BASELINE_DAYS,
    HOUR_SLOTS,
    AnomalyRules,
    candidates,
    describe,
    spikes,
)
from costcap.reports._feature_hours import feature_hours
from costcap.reports._rows import Anomaly, usd
from costcap.reports._sql import EVENTS, Dialect, choose_rollup, in_list

if TYPE_CHECKING:
    from costcap.guard import Guard

__all__ = ["alert_anomalies", "find_anomalies"]

_CHUNK = 500  # members per IN (...) list
_MARKER_TTL_S = 2 * 86400  # longer than the longest window an anomaly alert names
_MEMBER_COLUMNS = {"user": "user_id", "feature": "feature"}


def _where(
    dialect: Dialect, start: datetime, end: datetime, filters: Sequence[tuple[str, str]]
) -> tuple[list[str], list[object]]:
    """Events of ``[start, end)`` and the filters: bounds on ``ts`` alone (its index; bounds on
    ``day`` too could lead SQLite's planner to read whole days)."""
    conditions = ["e.ts >= ?", "e.ts < ?"]
    params: list[object] = [dialect.ts(start), dialect.ts(end)]
    for column, value in filters:
        conditions.append(f"e.{column} = ?")
        params.append(value)
    return conditions, params


def _chunks(members: Sequence[str]) -> list[list[str]]:
    return [list(members[i : i + _CHUNK]) for i in range(0, len(members), _CHUNK)]


def _by_feature_only(filters: Sequence[tuple[str, str]]) -> bool:
    """Whether the minute rollup (minute × feature) can apply these filters."""
    return all(column == "feature" for column, _ in filters)


def _hour_history(
    sink: LedgerSink,
    dialect: Dialect,
    *,
    scope: str,
    members: Sequence[str],
    at: datetime,
    filters: Sequence[tuple[str, str]],
) -> dict[str, dict[int, int]]:
    """``{member: {slot: picodollars}}`` for the seasonal slots of :data:`HOUR_SLOTS`."""
    column = _MEMBER_COLUMNS[scope]
    out: dict[str, dict[int, int]] = {m: {} for m in members}
    if scope == "feature" and _by_feature_only(filters):
        for chunk in _chunks(members):
            out.update(feature_hours(sink, dialect, at, HOUR_SLOTS, chunk))
        return out
    if scope == "user":  # (user_id, ts, cost_pico): read only the 7 three-hour windows
        spans = [(24 * d - 1, 24 * d + 1) for d in range(1, BASELINE_DAYS + 1)]
    else:  # features under a user or model filter: the events of the days the windows span
        spans = [(min(HOUR_SLOTS), max(HOUR_SLOTS))]
    for first, last in spans:
        start, end = at - timedelta(hours=last + 1), at - timedelta(hours=first)
        for chunk in _chunks(members):
            conditions, params = _where(dialect, start, end, filters)
            conditions.append(in_list(f"e.{column}", len(chunk)))
            sql = (
                f"SELECT e.{column}, {dialect.hours_before()}, SUM(e.cost_pico) FROM {EVENTS} e "
                f"WHERE {' AND '.join(conditions)} GROUP BY 1, 2"
            )
            for member, slot, pico in sink.query(
                dialect.sql(sql), [int(at.timestamp()), *params, *chunk]
            ):
                out[str(member)][int(slot)] = int(pico)
    return out


def _day_history(
    sink: LedgerSink,
    dialect: Dialect,
    *,
    scope: str,
    members: Sequence[str],
    at: datetime,
    filters: Sequence[tuple[str, str]],
) -> dict[str, list[int]]:
    """``{member: [picodollars on each of the 7 UTC days before the 24-hour window]}``."""
    column = _MEMBER_COLUMNS[scope]
    window_day = (at - timedelta(hours=24)).date()
    days = [window_day - timedelta(days=k) for k in range(BASELINE_DAYS, 0, -1)]
    table = choose_rollup({"day", column, *(col for col, _ in filters)})
    out = {m: [0] * BASELINE_DAYS for m in members}
    for chunk in _chunks(members):
        conditions = [in_list("e.day", len(days)), in_list(f"e.{column}", len(chunk))]
        params: list[object] = [*(dialect.day(d) for d in days), *chunk]
        for col, value in filters:
            conditions.append(f"e.{col} = ?")
            params.append(value)
        sql = (
            f"SELECT e.{column}, e.day, SUM(e.cost_pico) FROM {table} e "
            f"WHERE {' AND '.join(conditions)} GROUP BY 1, 2"
        )
        for member, day, pico in sink.query(dialect.sql(sql), params):
            out[str(member)][days.index(dialect.read_day(day))] = int(pico)
    return out


def _current(
    sink: LedgerSink,
    dialect: Dialect,
    *,
    scope: str,
    at: datetime,
    filters: Sequence[tuple[str, str]],
) -> list[tuple[str, int, int]]:
    """(member, last-hour picodollars, last-24-hour picodollars) of every member of ``scope``
    with spend in the last 24 hours."""
    if scope == "feature" and _by_feature_only(filters):
        features = [value for _, value in filters] or None
        slots = feature_hours(sink, dialect, at, range(24), features)
        return [(f, s.get(0, 0), sum(s.values())) for f, s in slots.items()]
    column = _MEMBER_COLUMNS[scope]
    conditions, params = _where(dialect, at - timedelta(hours=24), at, filters)
    conditions.append(f"e.{column} IS NOT NULL")
    if scope == "user" and dialect.name == "sqlite":
        # SQLite has no hash aggregate: it would sort the window's events by user. Naming the
        # users (those of the window's days) lets it read (user_id, ts, cost_pico) user by
        # user instead, in order, from the index alone; PostgreSQL hashes the window's events.
        days = sorted({(at - timedelta(hours=24)).date(), (at - timedelta(microseconds=1)).date()})
        conditions.append(
            f"e.user_id IN (SELECT u.user_id FROM {choose_rollup({'day', 'user_id'})} u "
            f"WHERE {in_list('u.day', len(days))})"
        )
        params += [dialect.day(d) for d in days]
    sql = (
        f"SELECT e.{column}, SUM(CASE WHEN e.ts >= ? THEN e.cost_pico ELSE 0 END), "
        f"SUM(e.cost_pico) FROM {EVENTS} e WHERE {' AND '.join(conditions)} GROUP BY e.{column}"
    )
    rows = sink.query(dialect.sql(sql), [dialect.ts(at - timedelta(hours=1)), *params])
    return [(str(member), int(hour), int(day)) for member, hour, day in rows]


def _loops(
    sink: LedgerSink,
    dialect: Dialect,
    at: datetime,
    rules: AnomalyRules,
    filters: Sequence[tuple[str, str]],
) -> list[Anomaly]:
    conditions, params = _where(dialect, at - timedelta(minutes=rules.loop_minutes), at, filters)
    conditions.append("e.prompt_hash IS NOT NULL")
    sql = (
        "SELECT CASE WHEN e.user_id IS NOT NULL THEN 'user' "
        "WHEN e.api_key_id IS NOT NULL THEN 'key' ELSE 'anonymous' END, "
        "COALESCE(e.user_id, e.api_key_id, ''), e.prompt_hash, COUNT(*), SUM(e.cost_pico) "
        f"FROM {EVENTS} e WHERE {' AND '.join(conditions)} GROUP BY 1, 2, 3 HAVING COUNT(*) >= ?"
    )
    rows = sink.query(dialect.sql(sql), [*params, rules.loop_calls])
    found = [
        Anomaly(
            kind="loop",
            scope=str(scope),
            member=str(member),
            window=f"{rules.loop_minutes}m",
            at=at,
            spend_usd=usd(int(pico)),
            calls=int(calls),
            prompt_hash=str(digest),
        )
        for scope, member, digest, calls, pico in rows
    ]
    return sorted(found, key=lambda a: (-(a.calls or 0), a.scope, a.member, a.prompt_hash or ""))


def find_anomalies(
    sink: LedgerSink,
    dialect: Dialect,
    *,
    at: datetime,
    rules: AnomalyRules,
    filters: Sequence[tuple[str, str]] = (),
) -> list[Anomaly]:
    """Spikes (users, then features) and loops as of ``at`` (truncated to the second)."""
    at = at.astimezone(UTC).replace(microsecond=0)
    found: list[Anomaly] = []
    for scope in ("user", "feature"):
        spend = _current(sink, dialect, scope=scope, at=at, filters=filters)
        members = candidates(spend, rules)
        if members:
            names = sorted(members)
            hours = _hour_history(sink, dialect, scope=scope, members=names, at=at, filters=filters)
            days = _day_history(sink, dialect, scope=scope, members=names, at=at, filters=filters)
            found += spikes(scope, members, hours, days, at=at, rules=rules)
    return found + _loops(sink, dialect, at, rules, filters)


def alert_anomalies(guard: Guard, anomalies: Sequence[Anomaly]) -> list[Alert]:
    """Fire an ``anomaly`` alert through the guard's notifiers for each anomaly, once per member
    and window: per clock hour (1-hour spikes, loops) or per UTC day (24-hour spikes), across
    processes (the store's ``mark_once``). Returns the alerts fired now."""
    fired = []
    for a in anomalies:
        slot = a.at.strftime("%Y-%m-%d" if a.window == "24h" else "%Y-%m-%dT%H")
        over = (
            (a.spend_usd * 100 / a.threshold_usd).quantize(Decimal("0.01"))
            if a.threshold_usd
            else Decimal(0)
        )
        alert = Alert(
            kind="anomaly",
            budget="",
            member=f"{a.scope}:{a.member}",
            mode="",
            period=slot,
            threshold_pct=over,
            spent_usd=a.spend_usd,
            limit_usd=a.threshold_usd or Decimal(0),
            resets_at=a.at,
            detail=describe(a),
        )
        marker = f"anomaly:{a.kind}:{a.scope}:{a.member}:{a.window}:{a.prompt_hash or ''}:{slot}"
        granted = guard.store.mark_once(marker, _MARKER_TTL_S)
        guard.fired(marker, alert, granted)
        if granted:
            fired.append(alert)
    return fired
