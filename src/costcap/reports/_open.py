"""Opening a ledger for reports: read-only, never created, never migrated.

A ledger sink (:func:`costcap.ledger.open_sink`) creates the schema or migrates it when it
opens; reports must not: reading a ledger leaves the database exactly as it was. SQLite is opened
with ``mode=ro``; a PostgreSQL session is made read-only before it reads anything. A database
with no ledger in it (no file, no tables) raises :class:`NoLedger`; a ledger of an older schema
version raises ``ConfigError`` (a process writing to it migrates it); a newer one too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from costcap.errors import ConfigError, StoreUnavailable
from costcap.ledger._migrate import VERSION_QUERY, check_version
from costcap.ledger._sinks import sqlite_path
from costcap.ledger._urls import check_ledger_url, postgres_target
from costcap.stores._urls import redact

__all__ = ["READABLE_SINCE", "NoLedger", "open_readonly", "shown_url"]

READABLE_SINCE = 2  # the oldest ledger schema whose tables the reports' queries find


class NoLedger(ConfigError):
    """The URL holds no costcap ledger (nothing was ever recorded there)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"no costcap ledger at {url} (nothing recorded yet; run your app with a ledger, "
            "or `costcap demo`)"
        )


def shown_url(url: str) -> str:
    """``url`` without its password, for messages."""
    return redact(url)


def _check(found: str | None, url: str) -> None:
    version = check_version(found, shown_url(url))  # newer than this costcap: refused
    if version < READABLE_SINCE:
        raise ConfigError(
            f"the ledger at {shown_url(url)} is schema version {version}, older than the "
            f"{READABLE_SINCE} reports read; reports do not migrate it: run a costcap that "
            "writes to it (a Ledger) once to upgrade it"
        )


class _ReadOnly:
    """What both read-only ledgers answer: queries, under a lock; never a write."""

    _db: Any  # the connection: sqlite3 or psycopg, opened by the subclass
    _lock: threading.Lock

    def write(self, events: Sequence[object]) -> int:
        raise TypeError("a ledger opened for reports is read-only")

    def convert_lost(self, cutoff: object) -> tuple[int, int]:
        raise TypeError("a ledger opened for reports is read-only")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()


class ReadOnlySQLite(_ReadOnly):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        self.url = url
        if path == ":memory:" or not Path(path).is_file():
            raise NoLedger(url)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"ledger at {path} cannot be opened: {exc}") from None
        try:
            self._db.execute("PRAGMA busy_timeout=10000")
            meta = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'costcap_ledger_meta'"
            ).fetchone()
            if meta is None:
                raise NoLedger(url)
            row = self._db.execute(VERSION_QUERY).fetchone()
            _check(row and row[0], url)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"ledger at {path} cannot be read: {exc}") from None
            raise


class ReadOnlyPostgres(_ReadOnly):
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        target = postgres_target(url)  # a bad port, schema or libpq option: ConfigError
        import psycopg

        self.url = url
        shown, schema, where = shown_url(url), target.schema, target.where
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(target.dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            reason = str(exc).strip().replace("\n", " ")
            raise StoreUnavailable(
                f"ledger PostgreSQL at {where} is unavailable: {reason}"
            ) from None
        try:
            self._db.execute("SET default_transaction_read_only = on")
            self._db.execute(f'SET search_path TO "{schema}"')
            (meta,) = self._db.execute(
                "SELECT to_regclass(%s)", [f'"{schema}".costcap_ledger_meta']
            ).fetchone() or (None,)
            if meta is None:
                raise NoLedger(shown)
            row = self._db.execute(VERSION_QUERY).fetchone()
            _check(row[0] if row else None, url)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, psycopg.Error):
                reason = str(exc).strip().replace("\n", " ")
                raise StoreUnavailable(f"ledger PostgreSQL at {where}: {reason}") from None
            raise


def open_readonly(url: str) -> ReadOnlySQLite | ReadOnlyPostgres:
    """The ledger at ``url`` (``sqlite:///path.db`` or ``postgresql://…?schema=…``), read-only."""
    if check_ledger_url(url) == "sqlite":  # a URL that cannot work: ConfigError
        return ReadOnlySQLite(url)
    return ReadOnlyPostgres(url)
