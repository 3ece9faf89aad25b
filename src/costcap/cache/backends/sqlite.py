"""``sqlite:///path.db``: the embedded cache, kept across restarts and shared by processes.

``sqlite:///costcap-cache.db?max_bytes=268435456&timeout=5``: values add up to at most
``max_bytes`` (default 256 MiB); storing past it drops the least recently used (the time of use
is updated at most once a minute per value, so a hit rarely writes). Expired values are never
returned and are swept as values are stored. Leases live in their own table, so processes on
one file take turns filling a key. The file may be the store's own (the tables are
``costcap_cache`` and ``costcap_cache_leases``). Times are ``time.time()``.

One connection per backend under a lock, as the SQLite store does; a forked child opens its
own. Any SQLite error (locked past ``timeout``, disk full, a file that is not a database) is
:class:`~costcap.cache.CacheUnavailable`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import parse_qsl, unquote, urlsplit

from costcap.cache.backends._base import CacheUnavailable
from costcap.errors import ConfigError

__all__ = ["DEFAULT_MAX_BYTES", "SQLiteCacheBackend"]

DEFAULT_MAX_BYTES = 256 << 20
_TOUCH_EVERY_S = 60.0
_OPTIONS = ("max_bytes", "timeout")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS costcap_cache (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
    " size INTEGER NOT NULL, expires_at REAL NOT NULL, used_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS costcap_cache_by_use ON costcap_cache (used_at)",
    "CREATE INDEX IF NOT EXISTS costcap_cache_by_expiry ON costcap_cache (expires_at)",
    "CREATE TABLE IF NOT EXISTS costcap_cache_leases (key TEXT PRIMARY KEY,"
    " owner TEXT NOT NULL, until REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS costcap_cache_size (id INTEGER PRIMARY KEY CHECK (id = 0),"
    " bytes INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO costcap_cache_size (id, bytes)"
    " SELECT 0, COALESCE(SUM(size), 0) FROM costcap_cache",
)


class SQLiteCacheBackend:
    """Cached values in a SQLite file (or a private in-memory database)."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._timeout = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        try:
            self._conn = self._connect()
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cannot open the SQLite cache {path!r}: {exc}") from None

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time) -> SQLiteCacheBackend:
        parts = urlsplit(url)
        usage = "use sqlite:///relative.db, sqlite:////absolute/path.db or sqlite:// (in memory)"
        if url[:9].lower() != "sqlite://" or parts.netloc or parts.fragment:
            raise ConfigError(f"cache URL {url!r}: {usage}")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"cache URL {url!r}: unknown options {unknown} (max_bytes, timeout)")
        try:
            max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
            timeout = float(options.get("timeout", 5.0))
        except ValueError:
            raise ConfigError(
                f"cache URL {url!r}: max_bytes must be a whole number, timeout a number of seconds"
            ) from None
        if max_bytes < 1 or not 0 < timeout < 3600:
            raise ConfigError(f"cache URL {url!r}: max_bytes and timeout must be above 0")
        path = unquote(parts.path)[1:] or ":memory:"
        return cls(path, max_bytes=max_bytes, timeout_s=timeout, clock=clock)

    # -- the protocol ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        with self._using() as conn:
            row = conn.execute(
                "SELECT value, expires_at, used_at FROM costcap_cache WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            value, expires_at, used_at = row
            now = self._clock()
            if expires_at <= now:
                with self._write(conn):
                    self._remove(conn, key)
                return None
            if now - used_at >= _TOUCH_EVERY_S:
                with self._write(conn):
                    conn.execute("UPDATE costcap_cache SET used_at = ? WHERE key = ?", (now, key))
            return bytes(value)

    def put(self, key: str, value: bytes, ttl_s: float) -> bool:
        size = len(value)
        if size > self.max_bytes:
            return False
        with self._using() as conn, self._write(conn):
            now = self._clock()
            self._remove(conn, key)
            conn.execute(
                "INSERT INTO costcap_cache (key, value, size, expires_at, used_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, sqlite3.Binary(value), size, now + ttl_s, now),
            )
            conn.execute("UPDATE costcap_cache_size SET bytes = bytes + ?", (size,))
            self._evict(conn, now)
        return True

    def delete(self, key: str) -> None:
        with self._using() as conn, self._write(conn):
            self._remove(conn, key)

    def lease(self, key: str, owner: str, ttl_s: float) -> bool:
        with self._using() as conn, self._write(conn):
            now = self._clock()
            cursor = conn.execute(
                "INSERT INTO costcap_cache_leases (key, owner, until) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until"
                " WHERE owner = excluded.owner OR until <= ?",
                (key, owner, now + ttl_s, now),
            )
            return cursor.rowcount == 1

    def release(self, key: str, owner: str) -> None:
        with self._using() as conn, self._write(conn):
            conn.execute(
                "DELETE FROM costcap_cache_leases WHERE key = ? AND owner = ?", (key, owner)
            )

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._pid == os.getpid():
                    self._conn.close()

    @property
    def size_bytes(self) -> int:
        with self._using() as conn:
            return int(conn.execute("SELECT bytes FROM costcap_cache_size").fetchone()[0])

    # -- inside a transaction -------------------------------------------------------------------

    @staticmethod
    def _remove(conn: sqlite3.Connection, key: str) -> None:
        row = conn.execute("DELETE FROM costcap_cache WHERE key = ? RETURNING size", (key,))
        gone = row.fetchone()
        if gone is not None:
            conn.execute("UPDATE costcap_cache_size SET bytes = bytes - ?", (gone[0],))

    def _evict(self, conn: sqlite3.Connection, now: float) -> None:
        expired = conn.execute(
            "DELETE FROM costcap_cache WHERE key IN (SELECT key FROM costcap_cache"
            " WHERE expires_at <= ? LIMIT 256) RETURNING size",
            (now,),
        ).fetchall()
        freed = sum(size for (size,) in expired)
        total = int(conn.execute("SELECT bytes FROM costcap_cache_size").fetchone()[0]) - freed
        while total > self.max_bytes:
            oldest = conn.execute(
                "SELECT key, size FROM costcap_cache ORDER BY used_at LIMIT 64"
            ).fetchall()
            if not oldest:
                break
            doomed = []
            for key, size in oldest:  # the least recently used, just enough of them
                doomed.append((key,))
                freed += size
                total -= size
                if total <= self.max_bytes:
                    break
            conn.executemany("DELETE FROM costcap_cache WHERE key = ?", doomed)
        if freed:
            conn.execute("UPDATE costcap_cache_size SET bytes = bytes - ?", (freed,))
        conn.execute("DELETE FROM costcap_cache_leases WHERE until <= ?", (now - 3600,))

    # -- connection -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return conn

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        if self._pid != os.getpid():  # a forked child: the parent's connection is not ours
            with self._lock:
                self._pid = os.getpid()
                self._conn = self._connect()
        with self._lock:
            if self._closed:
                raise CacheUnavailable(f"the SQLite cache {self.path!r} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise CacheUnavailable(f"the SQLite cache {self.path!r}: {exc}") from None

    @staticmethod
    @contextmanager
    def _write(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
