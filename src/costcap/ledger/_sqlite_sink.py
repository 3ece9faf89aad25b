"""The SQLite ledger sink (the embedded default).

A batch is one ``BEGIN IMMEDIATE`` transaction. Its events are inserted straight into
``costcap_events`` by multi-row ``INSERT … ON CONFLICT (request_id) DO NOTHING`` statements
(replays and duplicates are skipped); the rows it added are exactly those past the largest rowid
the table had before — SQLite numbers new rows max + 1, max + 2, …, which is checked after the
insert — so every rollup is updated from that rowid range, with no staging table.

Why multi-row statements: ``executemany`` steps once per row and the drain thread must take the
GIL back after each step; while the application records events (holding the GIL) each row then
waits its turn. One statement per 1,024 rows binds them in one go and steps once.

In-flight records are upserted into ``costcap_inflight`` in the same transaction (from
multi-row ``VALUES`` too), and the rows of the calls whose event is now stored are deleted;
converting expired rows into ``lost`` events and replacing those by late events is in
:mod:`costcap.ledger._lost`. Alerts fired are inserted last, behind a savepoint
(:mod:`costcap.ledger._fired`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from costcap.errors import StoreUnavailable
from costcap.ledger._event import CostEvent, EventsRefused
from costcap.ledger._fired import FiredAlert, add_alerts, insert_alerts_sql
from costcap.ledger._inflight import InFlight
from costcap.ledger._lost import (
    DELETE_ENDED,
    REPLACED,
    convert_sql,
    inflight_row,
    lost_probe,
    replace_statements,
    sort_out,
    upsert_sql,
)
from costcap.ledger._migrate import META_TABLE, VERSION_QUERY, check_version, upgrade_statements
from costcap.ledger._schema import INFLIGHT_COLUMNS, ROLLUPS_ALL
from costcap.ledger._sql import EVENT_COLUMNS, event_row, rollup_upsert

__all__ = ["PRAGMAS", "SQLiteSink"]

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed batch survives a power loss. The spool checkpoint moves past a batch
    # once it is committed; under NORMAL a WAL commit can still roll back on power loss, after
    # the checkpoint said it was in, and those events would be lost. (One fsync per batch.)
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    # 64 MiB instead of 2 MiB: the index pages a batch touches stay cached between batches
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",  # the rollups' GROUP BY sorts in memory
    # Copy the WAL back into the database every ~40 MB (10,000 pages) instead of every ~4 MB:
    # a page rewritten by successive batches is copied once, not once per batch (+10-15%
    # events/s). Durability is the same (a commit is durable once its WAL frames are synced);
    # the WAL file grows to ~40 MB between checkpoints, and recovery after a crash replays it.
    "PRAGMA wal_autocheckpoint=10000",
)
# Values SQLite cannot bind: an int beyond 64 bits (OverflowError), text that is not valid
# Unicode (UnicodeEncodeError), a type it does not know (ProgrammingError, InterfaceError before
# Python 3.11); raised while binding a batch's rows, never for the database's own state.
_UNBINDABLE = (
    ValueError,
    TypeError,
    OverflowError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
)
_LAST_ROWID = "SELECT COALESCE(MAX(rowid), 0) FROM costcap_events"
_NEW_COST = "SELECT COALESCE(SUM(cost_pico), 0) FROM costcap_events NOT INDEXED WHERE rowid > ?"
_INSERT_ALERT = insert_alerts_sql("sqlite")
_MOST_ROWS = 1024  # rows per INSERT statement (a power of two)
# the ids of a batch, passed as one JSON array: the rare replacement of lost events needs them
_BATCH_IDS = "(SELECT value AS request_id FROM json_each(?))"


@cache
def _insert_sql(rows: int) -> str:
    one = f"({', '.join('?' * len(EVENT_COLUMNS))})"
    return (
        f"INSERT INTO costcap_events ({', '.join(EVENT_COLUMNS)}) VALUES "
        f"{', '.join([one] * rows)} ON CONFLICT (request_id) DO NOTHING"
    )


@cache
def _upsert_sql(rows: int) -> str:
    one = f"({', '.join('?' * len(INFLIGHT_COLUMNS))})"
    values = f"WITH v ({', '.join(INFLIGHT_COLUMNS)}) AS (VALUES {', '.join([one] * rows)}) "
    return values + upsert_sql("sqlite", "v")


class SQLiteSink:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.url = f"sqlite:///{path}"
        self._lock = threading.Lock()
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"ledger at {path} cannot be opened: {exc}") from None
        try:
            for pragma in PRAGMAS:
                self._db.execute(pragma)
            self._open_schema(path)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"ledger at {path} cannot be opened: {exc}") from None
            raise
        # statement sizes: the largest power of two of rows the variable limit allows (at most
        # _MOST_ROWS), then the smaller powers of two for the rest — a few cached statements
        fits = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(EVENT_COLUMNS)
        most = min(_MOST_ROWS, 1 << (fits.bit_length() - 1))
        self._sizes = [most >> k for k in range(most.bit_length())]
        # NOT INDEXED: the batch's rows by rowid range, never a walk of an index — left to
        # itself the planner reads a whole day's (or every refused) event through the index
        # that orders its GROUP BY, and each batch then costs as much as the ledger holds
        new_rows = "costcap_events e NOT INDEXED"
        self._rollups = [rollup_upsert(r, "sqlite", new_rows, ["e.rowid > ?"]) for r in ROLLUPS_ALL]
        self._replace = replace_statements("sqlite", _BATCH_IDS)
        self._convert = convert_sql("sqlite")

    def _open_schema(self, path: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(META_TABLE)
            row = db.execute(VERSION_QUERY).fetchone()
            for statement in upgrade_statements(check_version(row and row[0], path), "sqlite"):
                db.execute(statement)
            db.execute("COMMIT")
            # the lost events a batch replaces, copied here (a temporary table: this connection)
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {REPLACED} AS "
                       "SELECT * FROM costcap_events WHERE 0")  # fmt: skip
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def write(self, records: Sequence[CostEvent | InFlight | FiredAlert]) -> int:
        """Record ``records`` (events, calls in flight, alerts fired) in one transaction; how
        many events were new. ``EventsRefused``: the database refuses their data for good (a
        constraint, a value it cannot bind); ``StoreUnavailable``: it cannot write now (locked,
        I/O error, …), try again. Alerts it cannot write are logged and left out
        (:mod:`costcap.ledger._fired`)."""
        if not records:
            return 0
        events, flights, alerts = sort_out(records)
        try:
            rows = [event_row(e, text_time=True) for e in events]
            flying = [inflight_row(f, text_time=True) for f in flights]
        except _UNBINDABLE as exc:  # a time out of range in UTC
            raise EventsRefused(f"ledger {self.url}: events refused: {exc}") from None
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                inserted = self._add(rows)
                if inserted < len(rows):  # replays, or events of calls recorded as lost
                    inserted += self._add(self._take_out_lost(rows))
                if flying:
                    self._insert(flying, _upsert_sql)
                if rows:
                    db.execute(DELETE_ENDED)
                if alerts:
                    add_alerts(self.url, alerts, self._try_alerts)
                db.execute("COMMIT")
            except (sqlite3.IntegrityError, sqlite3.DataError) as exc:  # NOT NULL, CHECK, too big
                raise EventsRefused(f"ledger {self.url}: events refused: {exc}") from None
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"ledger {self.url}: write failed: {exc}") from None
            finally:
                # also after a value SQLite cannot bind (OverflowError…): an open transaction
                # would refuse every later batch
                if db.in_transaction:
                    db.execute("ROLLBACK")
        return inserted

    def _add(self, rows: list[tuple[object, ...]]) -> int:
        """Insert the event ``rows`` not recorded yet and add them to every rollup: they are
        the rows past the largest rowid before the insert. How many were new."""
        db = self._db
        (last,) = db.execute(_LAST_ROWID).fetchone()
        inserted = self._insert(rows)
        if inserted:
            (now,) = db.execute(_LAST_ROWID).fetchone()
            if now - last != inserted:  # new rows not numbered after the old ones
                raise StoreUnavailable(
                    f"ledger {self.url}: {inserted} events inserted but the rowids "
                    f"went from {last} to {now}; batch rolled back"
                )
            for statement in self._rollups:
                db.execute(statement, (last,))
        return inserted

    def _try_alerts(self, alerts: Sequence[FiredAlert]) -> Exception | None:
        """Insert ``alerts`` behind a savepoint; the error the database refused them with
        (rolled back), or None (:func:`~costcap.ledger._fired.add_alerts`). An error that ended
        the transaction fails the ``ROLLBACK TO``, and with it the batch, which is retried."""
        db = self._db
        db.execute("SAVEPOINT costcap_alerts")
        refusal: Exception | None = None
        try:
            db.executemany(_INSERT_ALERT, [a.row(text_time=True) for a in alerts])
        except (sqlite3.Error, *_UNBINDABLE) as exc:
            db.execute("ROLLBACK TO costcap_alerts")
            refusal = exc
        db.execute("RELEASE costcap_alerts")
        return refusal

    def _take_out_lost(self, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
        """The event ``rows`` whose call is recorded as lost (the first row of each): the lost
        events are taken out of the rollups and deleted, for those rows to replace them."""
        db = self._db
        copy, take_out = self._replace
        ids = json.dumps([row[0] for row in rows])
        if not db.execute(copy, (ids,)).rowcount:
            return []
        for statement in take_out:
            db.execute(statement)
        lost = {request_id for (request_id,) in db.execute(f"SELECT request_id FROM {REPLACED}")}
        db.execute(f"DELETE FROM {REPLACED}")
        again: dict[object, tuple[object, ...]] = {}
        for row in rows:
            if row[0] in lost:
                again.setdefault(row[0], row)
        return list(again.values())

    def convert_lost(self, cutoff: datetime) -> tuple[int, int]:
        """Turn the in-flight rows whose lease ended before ``cutoff`` into ``lost`` events
        (:mod:`costcap.ledger._lost`); how many, and their cost in picodollars."""
        text = cutoff.astimezone(UTC).isoformat()
        with self._lock:
            db = self._db
            try:
                if db.execute(lost_probe("sqlite"), (text,)).fetchone() is None:
                    return 0, 0
                db.execute("BEGIN IMMEDIATE")
                (last,) = db.execute(_LAST_ROWID).fetchone()
                insert, delete = self._convert
                converted = db.execute(insert, (text,)).rowcount
                (cost,) = db.execute(_NEW_COST, (last,)).fetchone()
                for statement in self._rollups if converted else ():
                    db.execute(statement, (last,))
                db.execute(delete, (text,))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"ledger {self.url}: write failed: {exc}") from None
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
        return converted, cost

    def _insert(
        self, rows: list[tuple[object, ...]], sql: Callable[[int], str] = _insert_sql
    ) -> int:
        """Insert ``rows`` (in order) in statements of the cached sizes (``sql``: the statement
        for a number of rows; events by default); how many rows were inserted or changed."""
        inserted, start = 0, 0
        for size in self._sizes:
            while len(rows) - start >= size:
                values = [v for row in rows[start : start + size] for v in row]
                try:
                    inserted += self._db.execute(sql(size), values).rowcount
                except _UNBINDABLE as exc:
                    raise EventsRefused(f"ledger {self.url}: events refused: {exc}") from None
                start += size
        return inserted

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
