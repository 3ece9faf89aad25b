"""Report SQL, written once for SQLite and PostgreSQL, with a tiny dialect shim.

The shim only knows placeholders (``?`` / ``%s``), how a day and an instant are passed and read
back (SQLite stores them as ISO text, in UTC; Postgres as ``date`` / ``timestamptz``), and how
an event's age in whole hours is computed. Everything else is the same text on both.

Which table answers: the narrowest rollup whose keys cover the report's dimensions and filters,
smallest first — ``_daily_feature_model`` (days × features × models: a few thousand rows a
quarter), then ``_daily_tier`` (the same per service tier: the reports by tier), then
``_daily_route`` (the same per routing tier and route reason: the routing report), then
``_daily_user`` (days × users), then ``_daily`` (days × users × features × models), then
``_daily_user_route`` (days × users × features × routing tiers and reasons: one user's routing
report; last, so that every query an older rollup answers keeps reading it, on a ledger of any
version, and only a user's routing reads the newest — or the events, on a ledger older than
it: reports never migrate). Refusals
have their own rollups (:mod:`costcap.reports._refused`); partial edge days and anomalies read
``costcap_events`` (anomalies also the minute rollup), and so does a report that no rollup is
keyed for (a user's spend by service tier).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from costcap.ledger._schema import MEASURES, ROLLUPS, SPEND_ROLLUPS

__all__ = [
    "EVENTS",
    "MAX_LISTED_DAYS",
    "ROLLUP_ORDER",
    "Dialect",
    "choose_rollup",
    "covering_rollup",
    "dialect_for",
    "grouped_sql",
    "in_list",
    "rollup_since",
]

EVENTS = "costcap_events"
# Smallest first: a deployment has far more users than features × models.
ROLLUP_ORDER: tuple[str, ...] = (
    "costcap_rollup_daily_feature_model",
    "costcap_rollup_daily_tier",
    "costcap_rollup_daily_route",
    "costcap_rollup_daily_user",
    "costcap_rollup_daily",
    "costcap_rollup_daily_user_route",
)
assert set(ROLLUP_ORDER) == set(ROLLUPS)
_SINCE = {r.table: r.since for r in SPEND_ROLLUPS}
# A user filter on a rollup keyed (day, user_id, …) lists the days, so that the primary key is
# searched once per day (a "skip scan" by hand) instead of scanned over the whole range.
MAX_LISTED_DAYS = 1000

_MEASURE_SQL = dict(MEASURES)
_EVENT_KEYS = {
    "day": "e.day",
    "user_id": "COALESCE(e.user_id, '')",
    "feature": "COALESCE(e.feature, '')",
    "model": "e.model",
    "service_tier": "COALESCE(e.service_tier, '')",
    "tier": "COALESCE(e.tier, '')",
    "route_reason": "COALESCE(e.route_reason, '')",
}


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str  # "sqlite" | "postgres"

    def sql(self, text: str) -> str:
        """Placeholders: the SQL here is written with ``?`` (and contains no other ``?``)."""
        return text if self.name == "sqlite" else text.replace("?", "%s")

    def day(self, value: date) -> object:
        return value.isoformat() if self.name == "sqlite" else value

    def ts(self, value: datetime) -> object:
        utc = value.astimezone(UTC)
        return utc.isoformat() if self.name == "sqlite" else utc

    @staticmethod
    def read_day(value: Any) -> date:
        return date.fromisoformat(value) if isinstance(value, str) else value

    @staticmethod
    def read_ts(value: Any) -> datetime:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(UTC)

    def bytewise(self, column: str) -> str:
        """``column`` ordered by its bytes, as Python orders str (SQLite's default)."""
        return column if self.name == "sqlite" else f'{column} COLLATE "C"'

    def hours_before(self, column: str = "e.ts") -> str:
        """The hourly slot of the instant ``column`` counted back from an instant given as whole
        epoch seconds (``?``): slot 0 is ``[at - 1h, at)``, slot 1 the hour before, … — that is
        ``ceil((at - ts) / 3600) - 1``, exact to the microsecond on both databases."""
        if self.name == "sqlite":
            # With n = at - ts truncated to the second, the slot is (n - 1) // 3600 whether or
            # not ts has a fraction. The truncation reads the text: strftime('%s') would round
            # a fraction of .9995 or more up to the next second.
            return f"((? - CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) - 1) / 3600)"
        return f"(CAST(ceil((? - extract(epoch FROM {column})) / 3600) AS INTEGER) - 1)"


def dialect_for(name: str) -> Dialect:
    if name not in ("sqlite", "postgres"):
        raise ValueError(f"reports run on SQLite or PostgreSQL ledgers, not {name!r}")
    return Dialect(name)


def covering_rollup(dims: Collection[str], version: int | None = None) -> str | None:
    """The smallest rollup keyed by every one of ``dims`` (day, user_id, feature, model,
    service_tier, tier, route_reason); None when there is none. ``version``: among the rollups
    a ledger of that schema version has (None: every one)."""
    for table in ROLLUP_ORDER:
        if version is not None and _SINCE[table] > version:
            continue
        if set(dims) <= set(ROLLUPS[table]):
            return table
    return None


def rollup_since(table: str) -> int:
    """The schema version that added the spend rollup ``table``."""
    return _SINCE[table]


def choose_rollup(dims: Collection[str]) -> str:
    """:func:`covering_rollup`, which must exist."""
    table = covering_rollup(dims)
    if table is None:
        raise ValueError(f"no rollup is keyed by {sorted(dims)}")
    return table


def in_list(column: str, count: int) -> str:
    return f"{column} IN ({', '.join('?' * count)})"


def grouped_sql(
    dialect: Dialect,
    source: str,
    keys: Sequence[str],
    measures: Sequence[str],
    conditions: Sequence[str],
    *,
    top: int | None = None,
) -> str:
    """``SELECT keys…, SUM(measure)… FROM source e WHERE … GROUP BY keys…`` — the same shape
    from a rollup (its stored sums) or from events (each measure's expression per event). Only
    the ``measures`` a report shows are summed: each SUM costs (SQLite: ~5× for all ten)."""
    events = source == EVENTS
    key_sql = [(_EVENT_KEYS[k] if events else f"e.{k}") for k in keys]
    sums = {m: f"SUM({_MEASURE_SQL[m] if events else f'e.{m}'})" for m in measures}
    where = list(conditions)
    if top is not None:  # the first key, ranked like the pure functions rank (name: bytewise)
        where.append(f"{key_sql[0]} <> ''")
    sql = f"SELECT {', '.join([*key_sql, *sums.values()])} FROM {source} e"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if keys:
        sql += " GROUP BY " + ", ".join(key_sql)
    if top is not None:
        rank = [
            f"SUM({_MEASURE_SQL[m] if events else f'e.{m}'}) DESC" for m in ("cost_pico", "calls")
        ]
        sql += f" ORDER BY {', '.join(rank)}, {dialect.bytewise(key_sql[0])} LIMIT ?"
    return dialect.sql(sql)
