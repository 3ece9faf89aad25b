"""SQL shared by the ledger sinks: event rows, and the statements that add events to rollups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from operator import attrgetter

from costcap.ledger._event import CostEvent
from costcap.ledger._schema import ROLLUPS_ALL, Rollup, key_sql

__all__ = [
    "EVENT_COLUMNS",
    "event_row",
    "merge_statements",
    "rollup_ctes",
    "rollup_select",
    "rollup_upsert",
]

EVENT_COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "day", "status", "model", "requested_model", "provider", "user_id",
    "feature", "api_key_id", "endpoint", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_pico", "saved_pico", "latency_ms", "cache_hit", "stream",
    "refused_by", "prompt_hash", "flag", "service_tier", "cache_miss", "tier", "route_reason",
    "cascade_id",
)  # fmt: skip
assert EVENT_COLUMNS[:3] == ("request_id", "ts", "day")
_REST = attrgetter(*EVENT_COLUMNS[3:])


def event_row(event: CostEvent, *, text_time: bool) -> tuple[object, ...]:
    """The row for ``costcap_events``, its time in UTC: SQLite stores it as ISO text (which
    sorts as time does, and whose first 10 / 16 characters are its day / minute), Postgres
    natively. On the sink's hot path: one attribute getter for the plain columns."""
    ts = event.ts
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    rest = _REST(event)
    if any(type(value) is str and not value.isascii() for value in rest):
        rest = tuple(_storable(value) for value in rest)
    if text_time:
        text = ts.isoformat()
        return (event.request_id, text, text[:10], *rest)
    return (event.request_id, ts, ts.date(), *rest)


def _storable(value: object) -> object:
    """Text a database keeps: a lone surrogate (a model name from a JSON body may carry one)
    is written as its escape, ``\\ud800``, rather than the event being refused by the sink."""
    if type(value) is not str:
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def rollup_select(
    rollup: Rollup,
    dialect: str,
    source: str,
    conditions: Sequence[str] = (),
    *,
    negate: bool = False,
) -> str:
    """``SELECT keys…, aggregates… FROM source WHERE … GROUP BY keys…`` over event rows
    (``source``: a table of events aliased ``e``, e.g. ``costcap_events e``); ``negate``: the
    sums with their sign changed (a greatest or least kept as it is: taking events out of a
    rollup leaves it where it was, a bound that may be loose but never wrong the other way)."""
    keys = [key_sql(k, dialect) for k in rollup.keys]
    aggregates = [
        f"{'-' if negate and aggregate == 'SUM' else ''}{aggregate}({expr})"
        for _, aggregate, expr in rollup.measures
    ]
    where = [*conditions, *([rollup.where] if rollup.where else [])] or ["true"]
    return (
        f"SELECT {', '.join([*keys, *aggregates])} FROM {source} "
        f"WHERE {' AND '.join(where)} GROUP BY {', '.join(keys)}"
    )


def rollup_upsert(
    rollup: Rollup,
    dialect: str,
    source: str,
    conditions: Sequence[str] = (),
    *,
    negate: bool = False,
) -> str:
    """Add the events of ``source`` (a table of events aliased ``e``, with ``conditions``) to
    ``rollup`` (``negate``: take them out of it): one upsert, its rows taken in key order, so
    that concurrent writers lock the rows they share in one order (PostgreSQL batches cannot
    deadlock)."""
    table = rollup.table
    updates = []
    for name, aggregate, _ in rollup.measures:
        if aggregate == "SUM":
            updates.append(f"{name} = {table}.{name} + excluded.{name}")
        else:  # MIN / MAX: keep the least / greatest
            better = "<" if aggregate == "MIN" else ">"
            updates.append(
                f"{name} = CASE WHEN excluded.{name} {better} {table}.{name} "
                f"THEN excluded.{name} ELSE {table}.{name} END"
            )
    order = ", ".join(str(i + 1) for i in range(len(rollup.keys)))
    return (
        f"INSERT INTO {table} ({', '.join([*rollup.keys, *rollup.names])}) "
        f"{rollup_select(rollup, dialect, source, conditions, negate=negate)} ORDER BY {order} "
        f"ON CONFLICT ({', '.join(rollup.keys)}) DO UPDATE SET {', '.join(updates)}"
    )


def rollup_ctes(new: str) -> str:
    """PostgreSQL: data-modifying CTEs (``r0 AS (…), r1 AS (…), …``) that add the events of the
    CTE ``new`` to every rollup."""
    return ",\n".join(
        f"r{i} AS ({rollup_upsert(r, 'postgres', f'{new} e')})" for i, r in enumerate(ROLLUPS_ALL)
    )


def merge_statements(batch: str, dialect: str) -> list[str]:
    """Statements, run in order in one transaction, that move the rows of staging table
    ``batch`` (one per request_id) into the ledger: the events not yet recorded (a replay adds
    nothing) and their sums in every rollup.

    On SQLite: drop the rows already recorded, insert the rest, update each rollup from the
    batch. On PostgreSQL: ONE statement, whose one row is the number of events inserted — the
    insert (``ON CONFLICT DO NOTHING``) returns the new rows, and data-modifying CTEs add them to
    every rollup, with no lookup of the batch in the ledger beforehand."""
    columns = ", ".join(EVENT_COLUMNS)
    if dialect == "postgres":
        return [
            f"WITH new AS (INSERT INTO costcap_events ({columns}) SELECT {columns} FROM {batch} "
            f"ON CONFLICT (request_id) DO NOTHING RETURNING *),\n{rollup_ctes('new')}\n"
            "SELECT COUNT(*) FROM new"
        ]
    return [
        # EXISTS, not IN (SELECT …): SQLite plans the IN form as a walk over every recorded
        # request_id, so each batch cost grew with the size of the ledger
        f"DELETE FROM {batch} WHERE EXISTS "
        f"(SELECT 1 FROM costcap_events e WHERE e.request_id = {batch}.request_id)",
        f"INSERT INTO costcap_events ({columns}) SELECT {columns} FROM {batch}",
        *(rollup_upsert(r, dialect, f"{batch} e") for r in ROLLUPS_ALL),
    ]
