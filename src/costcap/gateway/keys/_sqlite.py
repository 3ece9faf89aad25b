"""``sqlite:///path.db``: virtual keys in a SQLite file, safe across threads and processes.

The Guard's own store file will do: the keys get a table of their own, created if missing. WAL
journaling; every write is one ``BEGIN IMMEDIATE`` transaction (SQLite's lock orders writers of
every process), so a revocation or a rotation is visible to every process as soon as it returns.
One connection per store, used under a lock; a ``fork``-ed child opens its own. Times are kept as
ISO 8601 text in UTC. ``sqlite://`` alone is a private in-memory database (tests).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costcap.errors import StoreUnavailable
from costcap.gateway.keys._store import TABLE, Clock, Duplicate, SqlKeyStore, utc_now
from costcap.stores.sqlite import _busy, _read_url

__all__ = ["SQLiteKeyStore"]

_MEMORY = ":memory:"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE,"
    " name TEXT, user_id TEXT, feature TEXT, models TEXT, budgets TEXT NOT NULL,"
    " limits TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT)"
)


class SQLiteKeyStore(SqlKeyStore):
    """Virtual keys in the SQLite database at ``path`` (``":memory:"``: a private one)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        busy_timeout_s: float = 10.0,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = os.fspath(path)
        name = "sqlite:// (in memory)" if self.path == _MEMORY else repr(self.path)
        super().__init__(clock=clock, where=f"the SQLite key store {name}")
        self._timeout = busy_timeout_s
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # a forked parent's: never used nor closed
        self._closed = False
        self._conn = self._connect()

    @classmethod
    def from_url(cls, url: str, *, clock: Clock = utc_now) -> SQLiteKeyStore:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://`` (in memory),
        with the store's options ``?timeout=<seconds>`` and ``?synchronous=NORMAL|FULL|EXTRA``."""
        path, timeout, synchronous = _read_url(url)
        return cls(path, clock=clock, busy_timeout_s=timeout, synchronous=synchronous)

    def _run(self, statement: str, params: Sequence[Any]) -> builtins.list[tuple[Any, ...]]:
        if self._pid != os.getpid():
            self._after_fork()
        write = not statement.startswith("SELECT")
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"{self._where} is closed")
            conn = self._conn
            try:
                if write:
                    self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
                try:
                    rows = conn.execute(statement, params).fetchall()
                    if write:
                        conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with suppress(sqlite3.Error):  # the first error is the one to report
                            conn.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise Duplicate(str(exc)) from None
                raise
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return rows

    def _time_in(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).astimezone(UTC)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # -- the connection -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        directory = Path(self.path).parent
        if self.path != _MEMORY and not directory.is_dir():
            raise StoreUnavailable(
                f"cannot open {self._where}: directory {str(directory)!r} does not exist"
            )
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            self._prepare(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(exc) from exc
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL, the sync level, and the table if missing (``IF NOT EXISTS`` under the write
        lock: processes opening the file at once create it once)."""
        mode = self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL")).fetchone()[0]
        if self.path != _MEMORY and str(mode).lower() != "wal":
            raise StoreUnavailable(
                f"{self._where} cannot use WAL journaling (journal_mode={mode}); "
                "is it on a network file system?"
            )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            conn.execute(_SCHEMA)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _retry_busy(self, step: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
        """Run ``step`` (one that starts a transaction, so nothing is done when it fails),
        retrying the busy errors that skip SQLite's busy handler until the timeout."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.005)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock and a connection of its own (SQLite forbids using a
        connection across ``fork``); an in-memory database stays the child's copy."""
        self._lock = threading.Lock()
        if self.path != _MEMORY and not self._closed:
            self._inherited.append(self._conn)
            self._conn = self._connect()
        self._pid = os.getpid()

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"{self._where} is unavailable: {exc}")
