"""Refused calls by reason: calls, distinct users and the last refusal, from the refusal rollups.

Whole days of the range are read from rollups, partial edge days from the refused events (their
partial index), as the spend reports do (:mod:`costcap.reports._range`):

* **calls and the last one** — ``costcap_rollup_daily_refused`` (day × reason × feature × model:
  a few thousand rows a quarter), or with a user filter ``costcap_rollup_daily_refused_user``
  (user × reason × feature × model × day, searched by its key's leading user).
* **distinct users** — not additive over days, so counted from user ids: with no feature or
  model filter, one row per reason and user in ``costcap_rollup_refused_user_span`` (the first
  and last day that user was refused for that reason). A user refused on a day inside the range
  is in it; one refused before and after the range but not on those days is only certain after
  a look at their days (``_daily_refused_user``); others are out. With a feature or model filter
  the user × day rollup is read for the range. Edge days add their users; a user counted in two
  parts counts once (``COUNT(DISTINCT …)`` over the union).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from costcap.ledger import LedgerSink
from costcap.ledger._schema import REFUSED, REFUSED_SPAN, REFUSED_USER
from costcap.reports._range import Edge, Split, TimeRange
from costcap.reports._rows import RefusedCalls
from costcap.reports._spend import refusal_category
from costcap.reports._sql import EVENTS, Dialect

__all__ = ["refused_calls"]

_Part = tuple[str, list[object]]  # SQL (``?`` placeholders) and its parameters


def _days(dialect: Dialect, first: date | None, end: date | None) -> tuple[list[str], list[Any]]:
    """Conditions on ``e.day`` for the whole days ``[first, end)``."""
    conditions: list[str] = []
    params: list[Any] = []
    if first is not None:
        conditions.append("e.day >= ?")
        params.append(dialect.day(first))
    if end is not None:
        conditions.append("e.day < ?")
        params.append(dialect.day(end))
    return conditions, params


def _filters(filters: Sequence[tuple[str, str]], conditions: list[str], params: list[Any]) -> None:
    for column, value in filters:
        conditions.append(f"e.{column} = ?")
        params.append(value)


def _edge(dialect: Dialect, edge: Edge, filters: Sequence[tuple[str, str]]) -> _Part:
    """The WHERE clause of an edge day's refused events (the partial index on refused events
    leads with the day)."""
    conditions = ["e.status = 'refused'", "e.day = ?", "e.ts >= ?", "e.ts < ?"]
    params: list[Any] = [dialect.day(edge.day), dialect.ts(edge.start), dialect.ts(edge.end)]
    _filters(filters, conditions, params)
    return " AND ".join(conditions), params


def _calls(dialect: Dialect, split: Split, filters: Sequence[tuple[str, str]]) -> list[_Part]:
    """Queries of (reason, calls, last refusal): whole days from a rollup, then each edge."""
    parts: list[_Part] = []
    if split.whole:
        user = any(column == "user_id" for column, _ in filters)
        conditions, params = _days(dialect, split.first, split.end)
        _filters(filters, conditions, params)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        table = (REFUSED_USER if user else REFUSED).table
        parts.append(
            (
                f"SELECT e.refused_by, SUM(e.calls), MAX(e.last_ts) FROM {table} e{where} "
                "GROUP BY e.refused_by",
                params,
            )
        )
    for edge in split.edges:
        where, params = _edge(dialect, edge, filters)
        parts.append(
            (
                "SELECT COALESCE(e.refused_by, ''), COUNT(*), MAX(e.ts) "
                f"FROM {EVENTS} e WHERE {where} GROUP BY COALESCE(e.refused_by, '')",
                params,
            )
        )
    return parts


def _span_pairs(dialect: Dialect, first: date | None, end: date | None) -> _Part:
    """(reason, user) of the users refused on a whole day of ``[first, end)``, one row each,
    from the span rollup (no feature or model filter)."""
    last = None if end is None else end - timedelta(days=1)
    conditions = ["TRUE"]
    params: list[Any] = []
    if first is not None:
        conditions.append("s.last_day >= ?")
        params.append(dialect.day(first))
    if last is not None:
        conditions.append("s.first_day <= ?")
        params.append(dialect.day(last))
    if first is not None and last is not None:
        # refused on the range's first or last day or inside it — or before and after it:
        # then only their days tell
        conditions.append(
            "(s.first_day >= ? OR s.last_day <= ? OR EXISTS (SELECT 1 FROM "
            f"{REFUSED_USER.table} d WHERE d.user_id = s.user_id AND d.refused_by = "
            "s.refused_by AND d.day >= ? AND d.day <= ?))"
        )
        params += [dialect.day(first), dialect.day(last), dialect.day(first), dialect.day(last)]
    return (
        f"SELECT s.refused_by, s.user_id FROM {REFUSED_SPAN.table} s "
        f"WHERE {' AND '.join(conditions)}",
        params,
    )


def _users(dialect: Dialect, split: Split, filters: Sequence[tuple[str, str]]) -> _Part:
    """One query of (reason, distinct users) over the whole days and the edges."""
    pairs: list[_Part] = []
    if split.whole:
        if filters:  # feature / model: the user × day rollup of the range
            conditions, params = _days(dialect, split.first, split.end)
            _filters(filters, conditions, params)
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            pairs.append(
                (f"SELECT e.refused_by, e.user_id FROM {REFUSED_USER.table} e{where}", params)
            )
        else:
            pairs.append(_span_pairs(dialect, split.first, split.end))
    for edge in split.edges:
        where, params = _edge(dialect, edge, filters)
        pairs.append(
            (
                "SELECT COALESCE(e.refused_by, '') AS refused_by, e.user_id AS user_id "
                f"FROM {EVENTS} e WHERE {where} AND e.user_id <> ''",
                params,
            )
        )
    union = " UNION ALL ".join(sql for sql, _ in pairs)
    return (
        f"SELECT p.refused_by, COUNT(DISTINCT p.user_id) FROM ({union}) p GROUP BY p.refused_by",
        [param for _, params in pairs for param in params],
    )


def refused_calls(
    sink: LedgerSink, dialect: Dialect, when: TimeRange, filters: Sequence[tuple[str, str]]
) -> list[RefusedCalls]:
    """Refused calls per ``refused_by`` reason over ``when`` and ``filters`` (``(column, value)``
    for user_id, feature, model), most frequent first."""
    split = when.split()
    calls: dict[str, int] = {}
    lasts: dict[str, datetime] = {}
    for sql, params in _calls(dialect, split, filters):
        for reason, count, last in sink.query(dialect.sql(sql), params):
            key, moment = str(reason), dialect.read_ts(last)
            calls[key] = calls.get(key, 0) + int(count)
            lasts[key] = max(lasts.get(key, moment), moment)
    if not calls:
        return []
    user = next((value for column, value in filters if column == "user_id"), None)
    if user is not None:  # every reason listed refused that one user
        users = dict.fromkeys(calls, 1)
    else:
        sql, params = _users(dialect, split, filters)
        users = {str(r): int(n) for r, n in sink.query(dialect.sql(sql), params)}
    out = [
        RefusedCalls(
            reason=reason or "(unknown)",
            category=refusal_category(reason),
            calls=count,
            users=users.get(reason, 0),
            last_at=lasts[reason],
        )
        for reason, count in calls.items()
    ]
    return sorted(out, key=lambda r: (-r.calls, r.reason))
