"""The PostgreSQL ledger sink: a batch is COPYed into a temporary staging table, then moved
into the ledger and its rollups by one statement (:func:`costcap.ledger._sql.merge_statements`),
in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from costcap.errors import StoreUnavailable
from costcap.ledger._event import CostEvent, EventsRefused
from costcap.ledger._migrate import META_TABLE, VERSION_QUERY, check_version, upgrade_statements
from costcap.ledger._sql import EVENT_COLUMNS, event_row, merge_statements
from costcap.ledger._urls import postgres_target

__all__ = ["PostgresSink"]

_BATCH_TABLE = "costcap_batch"


def _refuses(exc: Exception) -> bool:
    """Whether ``exc`` refuses a batch for the data of its events, for good: a constraint
    (NOT NULL, CHECK), a value out of range or not storable (NUL in text), a value psycopg
    cannot send (no server error code: a type it cannot adapt, text that is not valid
    Unicode, an int beyond 64 bits), or a limit of one row (an index entry too large)."""
    import psycopg
    from psycopg import errors

    if isinstance(exc, psycopg.IntegrityError | psycopg.DataError | errors.ProgramLimitExceeded):
        return True
    if isinstance(exc, psycopg.ProgrammingError):
        return exc.sqlstate is None  # raised by psycopg itself, adapting a value
    return not isinstance(exc, psycopg.Error)  # ValueError, TypeError, OverflowError


class PostgresSink:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        target = postgres_target(url)  # a bad URL is a ConfigError; psycopg is importable
        import psycopg

        dsn, schema, where = target.dsn, target.schema, target.where
        self.url, self.schema = url, schema
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"ledger PostgreSQL at {where} is unavailable: {exc}") from None
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext('costcap_ledger'))")
                self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._db.execute(f'SET LOCAL search_path TO "{schema}"')
                self._db.execute(META_TABLE)
                row = self._db.execute(VERSION_QUERY).fetchone()
                version = check_version(row[0] if row else None, where)
                for statement in upgrade_statements(version, "postgres"):
                    self._db.execute(statement)
            self._db.execute(f'SET search_path TO "{schema}"')
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, psycopg.OperationalError):
                raise StoreUnavailable(
                    f"ledger PostgreSQL at {where} is unavailable: {exc}"
                ) from None
            raise
        self._merge = merge_statements(_BATCH_TABLE, "postgres")
        self._where = where

    def write(self, events: Sequence[CostEvent]) -> int:
        """Record ``events`` in one transaction; how many were new. ``EventsRefused``: the
        database refuses their data for good (``_refuses``); ``StoreUnavailable``: it cannot
        write now (connection lost, …), try again."""
        import psycopg

        if not events:
            return 0
        try:
            rows = [event_row(e, text_time=False) for e in events]
        except (ValueError, TypeError, OverflowError) as exc:  # a time out of range in UTC
            raise EventsRefused(f"ledger {self._where}: events refused: {exc}") from None
        columns = ", ".join(EVENT_COLUMNS)
        with self._lock:
            try:
                with self._db.transaction():
                    self._db.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS {_BATCH_TABLE} "
                        f"(LIKE costcap_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                    )
                    with (
                        self._db.cursor() as cur,
                        cur.copy(f"COPY {_BATCH_TABLE} ({columns}) FROM STDIN") as copy,
                    ):
                        for row in rows:
                            copy.write_row(row)
                    # one event recorded twice in a batch counts once
                    self._db.execute(
                        f"DELETE FROM {_BATCH_TABLE} a USING {_BATCH_TABLE} b "
                        "WHERE a.request_id = b.request_id AND a.ctid > b.ctid"
                    )
                    (merge,) = self._merge
                    counted = self._db.execute(merge).fetchone()
                    inserted = int(counted[0]) if counted else 0
            except (psycopg.Error, ValueError, TypeError, OverflowError) as exc:
                if _refuses(exc):
                    raise EventsRefused(f"ledger {self._where}: events refused: {exc}") from None
                if isinstance(exc, psycopg.OperationalError):
                    raise StoreUnavailable(f"ledger {self._where}: write failed: {exc}") from None
                raise
        return inserted

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
