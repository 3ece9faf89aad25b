"""The PostgreSQL ledger sink: a batch is COPYed into a temporary staging table, then moved
into the ledger and its rollups by one statement (:func:`costcap.ledger._sql.merge_statements`),
in one transaction. In-flight records are COPYed into a staging table of their own and upserted
into ``costcap_inflight`` in the same transaction; the calls in flight, ``lost`` events and
their replacement are in :mod:`costcap.ledger._lost`. Alerts fired are inserted last, in a
savepoint (:mod:`costcap.ledger._fired`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from costcap.errors import StoreUnavailable
from costcap.ledger._event import CostEvent, EventsRefused
from costcap.ledger._fired import FiredAlert, add_alerts, insert_alerts_sql
from costcap.ledger._inflight import InFlight
from costcap.ledger._lost import (
    INFLIGHT,
    REPLACED,
    convert_sql,
    inflight_row,
    lost_probe,
    replace_statements,
    sort_out,
    upsert_sql,
)
from costcap.ledger._migrate import META_TABLE, VERSION_QUERY, check_version, upgrade_statements
from costcap.ledger._schema import INFLIGHT_COLUMNS
from costcap.ledger._sql import EVENT_COLUMNS, event_row, merge_statements
from costcap.ledger._urls import postgres_target

__all__ = ["PostgresSink"]

_INSERT_ALERT = insert_alerts_sql("postgres")
_BATCH_TABLE = "costcap_batch"
_FLIGHTS_TABLE = "costcap_flights"
_STAGING = (  # temporary tables, emptied at each commit, created when the sink opens
    f"CREATE TEMP TABLE IF NOT EXISTS {_BATCH_TABLE} "
    "(LIKE costcap_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    f"CREATE TEMP TABLE IF NOT EXISTS {_FLIGHTS_TABLE} "
    f"(LIKE {INFLIGHT} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    f"CREATE TEMP TABLE IF NOT EXISTS {REPLACED} (LIKE costcap_events) ON COMMIT DELETE ROWS",
)
# first: the batch's calls are no longer in flight (a conversion holding one of these rows
# makes the batch wait for its lost event, which the batch then replaces; see _lost)
_ENDED = f"DELETE FROM {INFLIGHT} i USING {_BATCH_TABLE} b WHERE i.request_id = b.request_id"


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
            for statement in _STAGING:  # this session's, for good
                self._db.execute(statement)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, psycopg.OperationalError):
                raise StoreUnavailable(
                    f"ledger PostgreSQL at {where} is unavailable: {exc}"
                ) from None
            raise
        self._merge = merge_statements(_BATCH_TABLE, "postgres")
        self._replace = replace_statements("postgres", _BATCH_TABLE)
        self._convert = convert_sql("postgres")
        self._where = where

    def write(self, records: Sequence[CostEvent | InFlight | FiredAlert]) -> int:
        """Record ``records`` (events, calls in flight, alerts fired) in one transaction; how
        many events were new. ``EventsRefused``: the database refuses their data for good
        (``_refuses``); ``StoreUnavailable``: it cannot write now (connection lost, …), try
        again. Alerts it cannot write are logged and left out (:mod:`costcap.ledger._fired`)."""
        import psycopg

        if not records:
            return 0
        events, flights, alerts = sort_out(records)
        try:
            rows = [event_row(e, text_time=False) for e in events]
            flying = [inflight_row(f, text_time=False) for f in flights]
        except (ValueError, TypeError, OverflowError) as exc:  # a time out of range in UTC
            raise EventsRefused(f"ledger {self._where}: events refused: {exc}") from None
        with self._lock:
            try:
                with self._db.transaction():
                    inserted = self._merge_events(rows) if rows else 0
                    if flying:
                        self._copy(_FLIGHTS_TABLE, INFLIGHT_COLUMNS, flying)
                        self._db.execute(upsert_sql("postgres", _FLIGHTS_TABLE))
                    if alerts:
                        add_alerts(self._where, alerts, self._try_alerts)
            except (psycopg.Error, ValueError, TypeError, OverflowError) as exc:
                if _refuses(exc):
                    raise EventsRefused(f"ledger {self._where}: events refused: {exc}") from None
                if isinstance(exc, psycopg.OperationalError):
                    raise StoreUnavailable(f"ledger {self._where}: write failed: {exc}") from None
                raise
        return inserted

    def _try_alerts(self, alerts: Sequence[FiredAlert]) -> Exception | None:
        """Insert ``alerts`` in a savepoint (a nested transaction); the error the database
        refused them with (rolled back), or None (:func:`~costcap.ledger._fired.add_alerts`).
        A lost connection propagates: the batch fails and is retried."""
        import psycopg

        try:
            with self._db.transaction(), self._db.cursor() as cur:
                cur.executemany(_INSERT_ALERT, [a.row(text_time=False) for a in alerts])
        except (psycopg.Error, ValueError, TypeError, OverflowError) as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            return exc
        return None

    def _copy(self, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
        with (
            self._db.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _merge_events(self, rows: list[tuple[object, ...]]) -> int:
        """Stage the event ``rows``, end their calls in flight, insert those not recorded yet
        (replacing lost events); how many were new."""
        db = self._db
        self._copy(_BATCH_TABLE, EVENT_COLUMNS, rows)
        # one event recorded twice in a batch counts once
        db.execute(
            f"DELETE FROM {_BATCH_TABLE} a USING {_BATCH_TABLE} b "
            "WHERE a.request_id = b.request_id AND a.ctid > b.ctid"
        )
        db.execute(_ENDED)
        (merge,) = self._merge
        counted = db.execute(merge).fetchone()
        inserted = int(counted[0]) if counted else 0
        if inserted < len(rows):  # replays, or events of calls recorded as lost
            copy, take_out = self._replace
            if db.execute(copy).rowcount:
                for statement in take_out:
                    db.execute(statement)
                counted = db.execute(merge).fetchone()  # inserts those the lost ones left
                inserted += int(counted[0]) if counted else 0
        return inserted

    def convert_lost(self, cutoff: datetime) -> tuple[int, int]:
        """Turn the in-flight rows whose lease ended before ``cutoff`` into ``lost`` events
        (:mod:`costcap.ledger._lost`); how many, and their cost in picodollars."""
        import psycopg

        with self._lock:
            try:
                if self._db.execute(lost_probe("postgres"), (cutoff,)).fetchone() is None:
                    return 0, 0
                with self._db.transaction():
                    (convert,) = self._convert
                    row = self._db.execute(convert, (cutoff,)).fetchone()
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"ledger {self._where}: write failed: {exc}") from None
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
