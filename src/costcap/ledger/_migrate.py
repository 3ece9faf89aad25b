"""Bringing a ledger database to the current schema version when a sink opens it.

The version is ``costcap_ledger_meta.ledger_schema_version`` (no row: no ledger yet, version 0).
The sink reads it and runs :func:`upgrade_statements` in the same transaction, under its write
lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an advisory lock), so concurrent openers migrate
once and writers never see a half-built schema. An upgrade creates what is missing, drops what
was retired, and fills each rollup added since the version found from the events already there
— the same aggregates a batch adds (:func:`costcap.ledger._sql.rollup_select`), so a backfilled
rollup equals one maintained from the start. A version newer than this costcap is refused.

Upgrade every process that writes to a ledger together: a process still running an older
costcap keeps writing events without the rollups it does not know. A migration holds the write
lock while it runs (10M events: ~105 s on SQLite, ~48 s on PostgreSQL, see
``benchmarks/results/reports.md``): a Ledger's drain keeps its events in the spool and retries;
another SQLite opener gives up after the 10 s busy timeout (``StoreUnavailable``).
"""

from __future__ import annotations

from costcap.errors import ConfigError
from costcap.ledger._schema import (
    DROPPED_INDEXES,
    EVENT_COLUMNS_SINCE,
    MEASURES_SINCE,
    ROLLUPS_ALL,
    SCHEMA_VERSION,
    SPEND_ROLLUPS,
    column_types,
    ddl,
)
from costcap.ledger._sql import rollup_select

__all__ = ["META_TABLE", "VERSION_QUERY", "check_version", "upgrade_statements"]

META_TABLE = ddl("sqlite")[0]  # the same text on both databases
assert "costcap_ledger_meta" in META_TABLE
VERSION_QUERY = "SELECT value FROM costcap_ledger_meta WHERE key = 'ledger_schema_version'"


def check_version(found: str | None, where: str) -> int:
    """The version stored (0: none); a ledger newer than this costcap is refused."""
    version = 0 if found is None else int(found)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: the ledger schema is version {version}, newer than this costcap "
            f"({SCHEMA_VERSION}); upgrade costcap"
        )
    return version


def upgrade_statements(version: int, dialect: str) -> list[str]:
    """The statements that bring a ledger from ``version`` to :data:`SCHEMA_VERSION` (none when
    it is current), to run in one transaction."""
    if version >= SCHEMA_VERSION:
        return []
    out = [f"DROP INDEX IF EXISTS {name}" for name in DROPPED_INDEXES]
    types = column_types(dialect)
    # the events table exists without the columns later versions added (before the DDL: an
    # index may name one): no flag before 3, no tier before 4, no cache miss before 5, no
    # routing before 6 — NULL (or false) is the truth for the events already there
    for since, column, kind in EVENT_COLUMNS_SINCE:
        if 0 < version < since:
            spelled = kind.format(boolean=types.boolean, false=types.false)
            out.append(f"ALTER TABLE costcap_events ADD COLUMN {column} {spelled}")
    for rollup in SPEND_ROLLUPS:  # the spend rollups there already gain the newer measures
        if 0 < rollup.since <= version:
            out += [
                f"ALTER TABLE {rollup.table} ADD COLUMN {name} {types.integer} NOT NULL DEFAULT 0"
                for name, since in MEASURES_SINCE.items()
                if since > version
            ]
    out += ddl(dialect)
    for rollup in ROLLUPS_ALL:
        if rollup.since > version:
            columns = ", ".join([*rollup.keys, *rollup.names])
            out.append(f"DELETE FROM {rollup.table}")
            out.append(
                f"INSERT INTO {rollup.table} ({columns}) "
                f"{rollup_select(rollup, dialect, 'costcap_events e')}"
            )
    out.append(
        "INSERT INTO costcap_ledger_meta (key, value) "
        f"VALUES ('ledger_schema_version', '{SCHEMA_VERSION}') "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    return out
