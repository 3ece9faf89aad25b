"""Where ledger events land: SQLite (the embedded default) or PostgreSQL.

A sink writes a batch of events in ONE transaction: new events are inserted and added to every
rollup; events already recorded (same ``request_id``, e.g. a spool replayed after a crash) are
skipped, so replay is idempotent and rollups never double count.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from costcap.errors import ConfigError, StoreUnavailable
from costcap.ledger._event import CostEvent
from costcap.ledger._schema import POSTGRES_DDL, SCHEMA_VERSION, SQLITE_DDL
from costcap.ledger._sql import EVENT_COLUMNS, event_row, merge_statements

__all__ = ["LedgerSink", "PostgresSink", "SQLiteSink", "open_sink", "sqlite_path"]

_BATCH_TABLE = "costcap_batch"


class LedgerSink(Protocol):
    url: str

    def write(self, events: Sequence[CostEvent]) -> int:
        """Record ``events`` atomically; returns how many were new."""
        ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (reports); ``?`` placeholders on SQLite, ``%s`` on Postgres."""
        ...

    @property
    def dialect(self) -> str: ...

    def close(self) -> None: ...


def _check_version(found: str | None, where: str) -> None:
    if found is not None and int(found) > SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: the ledger schema is version {found}, newer than this costcap "
            f"({SCHEMA_VERSION}); upgrade costcap"
        )


class SQLiteSink:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.url = f"sqlite:///{path}"
        self._lock = threading.Lock()
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed batch survives a power loss. The spool checkpoint moves past a
            # batch once it is committed; under NORMAL a WAL commit can still roll back on power
            # loss, after the checkpoint said it was in, and those events would be lost.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            found = self._db.execute(
                "SELECT name FROM sqlite_master WHERE name = 'costcap_ledger_meta'"
            ).fetchone()
            version = None
            if found:
                row = self._db.execute(
                    "SELECT value FROM costcap_ledger_meta WHERE key = 'ledger_schema_version'"
                ).fetchone()
                version = row[0] if row else None
            _check_version(version, path)
            self._db.executescript("BEGIN IMMEDIATE;" + SQLITE_DDL + "COMMIT;")
            self._db.execute(
                "INSERT OR REPLACE INTO costcap_ledger_meta VALUES ('ledger_schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"ledger at {path} cannot be opened: {exc}") from None
        columns = ", ".join(
            f"{c} {'PRIMARY KEY' if c == 'request_id' else ''}" for c in EVENT_COLUMNS
        )
        self._temp = f"CREATE TEMP TABLE IF NOT EXISTS {_BATCH_TABLE} ({columns})"
        self._fill = (
            f"INSERT OR IGNORE INTO {_BATCH_TABLE} ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        )
        self._merge = merge_statements(_BATCH_TABLE)

    def write(self, events: Sequence[CostEvent]) -> int:
        if not events:
            return 0
        rows = [event_row(e, text_time=True) for e in events]
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(self._temp)
                db.execute(f"DELETE FROM {_BATCH_TABLE}")
                db.executemany(self._fill, rows)
                db.execute(self._merge[0])
                inserted = db.execute(self._merge[1]).rowcount
                for statement in self._merge[2:]:
                    db.execute(statement)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"ledger {self.url}: write failed: {exc}") from None
            finally:
                # also after a value SQLite cannot bind (OverflowError…): an open transaction
                # would refuse every later batch
                if db.in_transaction:
                    db.execute("ROLLBACK")
        return int(inserted)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresSink:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        schema = query.pop("schema", ["public"])[0]
        if not schema.replace("_", "").isalnum():
            raise ConfigError(f"ledger URL {url!r}: bad schema name {schema!r}")
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        dsn = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
        self.url, self.schema = url, schema
        self._lock = threading.Lock()
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext('costcap_ledger'))")
                self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._db.execute(f'SET LOCAL search_path TO "{schema}"')
                self._db.execute(POSTGRES_DDL)
                row = self._db.execute(
                    "SELECT value FROM costcap_ledger_meta WHERE key = 'ledger_schema_version'"
                ).fetchone()
                _check_version(row[0] if row else None, where)
                self._db.execute(
                    "INSERT INTO costcap_ledger_meta VALUES ('ledger_schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
            self._db.execute(f'SET search_path TO "{schema}"')
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"ledger PostgreSQL at {where} is unavailable: {exc}") from None
        self._merge = merge_statements(_BATCH_TABLE)
        self._where = where

    def write(self, events: Sequence[CostEvent]) -> int:
        import psycopg

        if not events:
            return 0
        rows = [event_row(e, text_time=False) for e in events]
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
                    self._db.execute(self._merge[0])
                    inserted = self._db.execute(self._merge[1]).rowcount
                    for statement in self._merge[2:]:
                        self._db.execute(statement)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"ledger {self._where}: write failed: {exc}") from None
        return int(inserted)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def sqlite_path(url: str) -> str:
    """The file of ``sqlite:///relative.db`` / ``sqlite:////absolute.db``; ``:memory:`` for
    ``sqlite://``."""
    path = url[len("sqlite://") :].removeprefix("/") or ":memory:"
    if url.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    return path


def open_sink(url: str) -> LedgerSink:
    """``sqlite:///path.db`` (``sqlite://`` alone: in memory) or ``postgresql://…?schema=…``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        return SQLiteSink(sqlite_path(url))
    if scheme in ("postgresql", "postgres"):
        return PostgresSink(url)
    raise ConfigError(f"ledger URL {url!r}: use sqlite:///path.db or postgresql://…")
