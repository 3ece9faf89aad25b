"""Ledgers as older costcaps left them, made behind costcap's back (a sink would migrate them):
statements run on the database directly, and the current schema taken back to version 2, 3, 4,
5, 6 or 7."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from costcap.ledger import CostEvent, open_sink
from costcap.ledger._schema import (
    DAILY_ROUTE,
    DAILY_TIER,
    DAILY_USER_ROUTE,
    MEASURES_SINCE,
    SPEND_ROLLUPS,
)
from costcap.ledger._sinks import sqlite_path


def execute(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on the ledger database at ``url`` (no sink opened: no migration); its
    rows, if any."""
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as db:
            rows = db.execute(sql).fetchall()
        db.close()
        return rows
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def make_older(url: str, version: int, events: Sequence[CostEvent]) -> None:
    """A ledger of schema ``version`` (2 to 7) at ``url`` holding ``events``: without the
    rollup of users' routing version 8 added, nor, at 6 or below, the alerts table version 7
    added, nor, at 5 or below, what version 6 added (routing columns, their rollup and index),
    nor, at 4 or below, what version 5 added (cache misses and their measures), nor, at 3 or
    below, what version 4 added (calls in flight, service tiers), nor, at 2, the flag version 3
    added. The events' routing and cache misses are lost with their columns."""
    assert version in (2, 3, 4, 5, 6, 7)
    sink = open_sink(url)
    sink.write(events)
    sink.close()
    execute(url, f"DROP TABLE {DAILY_USER_ROUTE.table}")
    if version == 7:
        execute(url, "UPDATE costcap_ledger_meta SET value = '7'")
        return
    execute(url, "DROP TABLE costcap_alerts")
    if version == 6:
        execute(url, "UPDATE costcap_ledger_meta SET value = '6'")
        return
    execute(url, f"DROP TABLE {DAILY_ROUTE.table}")
    execute(url, "DROP INDEX costcap_events_cascade")
    for column in ("tier", "route_reason", "cascade_id"):
        execute(url, f"ALTER TABLE costcap_events DROP COLUMN {column}")
    if version == 5:
        execute(url, "UPDATE costcap_ledger_meta SET value = '5'")
        return
    execute(url, "ALTER TABLE costcap_events DROP COLUMN cache_miss")
    for rollup in SPEND_ROLLUPS:
        if rollup.since > 4:
            continue
        for name in MEASURES_SINCE:
            execute(url, f"ALTER TABLE {rollup.table} DROP COLUMN {name}")
    if version == 4:
        execute(url, "UPDATE costcap_ledger_meta SET value = '4'")
        return
    execute(url, "DROP TABLE costcap_inflight")
    execute(url, f"DROP TABLE {DAILY_TIER.table}")
    execute(url, "ALTER TABLE costcap_events DROP COLUMN service_tier")
    if version == 2:
        execute(url, "ALTER TABLE costcap_events DROP COLUMN flag")
    execute(url, f"UPDATE costcap_ledger_meta SET value = '{version}'")
