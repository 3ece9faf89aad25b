"""``sqlite:///path.db``: the embedded default store, durable and safe across threads and processes.

Semantics are those of :class:`~costcap.stores.memory.MemoryStore`, step for step.

* **One transaction per call.** Every protocol call is ONE ``BEGIN IMMEDIATE`` transaction: the
  write lock is taken before anything is read, so no check-then-reserve can race another thread
  or process. A call kept waiting for the lock longer than ``busy_timeout_s`` raises
  :class:`~costcap.errors.StoreUnavailable` (fail closed).
* **One connection per store, under a lock.** Threads take turns on a ``threading.Lock``;
  processes on SQLite's lock. Measured against one connection per thread: similar throughput
  and a bounded worst case (per-thread connections wait in SQLite's busy handler, which sleeps
  in growing steps: single calls stalled ~1 s under load). A ``fork``-ed child opens its own.
* **Durability.** WAL with ``synchronous=NORMAL``: a committed call survives its process being
  killed at any instant. A power cut or OS crash may roll back the calls committed since the
  WAL was last synced (at the last checkpoint), forgetting their spend and reservations;
  ``sqlite:///path.db?synchronous=FULL`` syncs every commit and closes that gap (~4x slower).
* **At once when free** (:meth:`SQLiteStore.at_once`). An asyncio caller first tries a call on
  its own thread without waiting: the lock free, ``BEGIN IMMEDIATE`` granted at once. Only when
  another thread or process holds either does it go to a worker thread, which waits as above.
  The same transaction either way; measured on the gateway, a thread hop per step cost more
  than the step.
* **Schema.** Created on first open, versioned in ``costcap_meta`` (``schema_version``); a file
  written by a newer costcap is refused with :class:`~costcap.errors.ConfigError`; an older one
  is upgraded in the same transaction (1 → 2: ``reservations.on_expiry``, NULL in old rows, which
  means "spend" for every charge, as version 1 did). A reservation's keys, amounts and
  ``on_expiry`` are JSON arrays in its row (measured ~15% faster than a child table). Times are
  the process clock, ``time.time()`` (``clock=`` for tests).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from costcap.errors import ConfigError, StoreUnavailable
from costcap.stores._base import Admission, Charge, CounterState, check_actuals, check_charges

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 2
TOMBSTONE_S = 86400  # how long an expired (charged) reservation can still be settled/corrected
_SWEEP_EVERY = 4096  # admits (per store instance) between sweeps of stale counters and markers
_MEMORY = ":memory:"
_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
T = TypeVar("T")

_OPTIONS = ("synchronous", "timeout")  # sqlite:///path.db?synchronous=FULL&timeout=5
_CHUNK = 500  # host parameters per ``IN (...)`` list, well under SQLite's limit

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS costcap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, spent INTEGER NOT NULL,"
    " reserved INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID",
    # keys, amounts, on_expiry: JSON arrays, one entry per charge, in order; on_expiry is NULL
    # when every charge is "spend" (the common case, and every row written by version 1)
    "CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, lease_until REAL NOT NULL,"
    " charged INTEGER NOT NULL, keys TEXT NOT NULL, amounts TEXT NOT NULL, on_expiry TEXT)",
    "CREATE INDEX IF NOT EXISTS reservations_by_lease ON reservations (lease_until)",
    "CREATE TABLE IF NOT EXISTS markers (marker TEXT PRIMARY KEY, until REAL NOT NULL)"
    " WITHOUT ROWID",
)
# version -> the statements that bring a file at ``version - 1`` to ``version``
_UPGRADES = {2: ("ALTER TABLE reservations ADD COLUMN on_expiry TEXT",)}
# (key, spent delta, reserved delta): a counter swept meanwhile comes back with no expiry
_ADJUST = (
    "INSERT INTO counters (key, spent, reserved, expires_at) VALUES (?, ?, ?, 0.0)"
    " ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent,"
    " reserved = reserved + excluded.reserved"
)
# (key, amount, expires_at)
_RESERVE = (
    "INSERT INTO counters (key, spent, reserved, expires_at) VALUES (?, 0, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET reserved = reserved + excluded.reserved,"
    " expires_at = max(expires_at, excluded.expires_at)"
)

_INSERT_RESERVATION = (
    "INSERT INTO reservations (id, lease_until, charged, keys, amounts, on_expiry)"
    " VALUES (?, ?, 0, ?, ?, ?)"
)


class SQLiteStore:
    """The store protocol over one SQLite database file (or a private in-memory database)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 10.0,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = os.fspath(path)
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ConfigError(f"SQLite store: synchronous={synchronous!r}; use {_SYNCHRONOUS}")
        if not 0 < busy_timeout_s < math.inf:
            raise ConfigError(
                f"SQLite store: busy timeout must be a number of seconds above 0, "
                f"not {busy_timeout_s}"
            )
        if sqlite3.sqlite_version_info < (3, 24, 0):  # UPSERT
            raise StoreUnavailable(f"SQLite {sqlite3.sqlite_version} is too old; 3.24+ is needed")
        self._clock = clock
        self._timeout = busy_timeout_s
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._local = threading.local()  # .at_once: this thread's call must not wait
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # a forked parent's, never used nor closed
        self._admits = 0
        self._closed = False
        self._conn = self._connect()

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite://`` (in memory).

        Options: ``?synchronous=NORMAL|FULL|EXTRA`` and ``?timeout=<seconds>`` (busy timeout).
        """
        path, timeout, synchronous = _read_url(url)
        return cls(path, clock=clock, busy_timeout_s=timeout, synchronous=synchronous)

    @staticmethod
    def holds_store(url: str) -> bool:
        """Whether ``url`` names a database that already holds a costcap store, found without
        writing anything (no file, no schema, no WAL switch): what read-only commands ask before
        they open a store, which would create it."""
        path = _read_url(url)[0]
        if path == _MEMORY:
            return False
        if not Path(path).is_file():
            return False
        try:
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot read the SQLite store {path!r}: {exc}") from None
        try:
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'costcap_meta'"
            return conn.execute(query).fetchone() is not None
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"cannot read the SQLite store {path!r}: {exc}") from None
        finally:
            conn.close()

    # -- the protocol ---------------------------------------------------------------------------

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        check_charges(charges)
        with self._transaction() as conn:
            now = self._clock()
            self._expire_in(conn, now)
            self._admits += 1
            if self._admits % _SWEEP_EVERY == 0:
                self._sweep_in(conn, now)
            taken = conn.execute("SELECT 1 FROM reservations WHERE id = ?", (reservation_id,))
            if taken.fetchone() is None:
                return self._admit_in(conn, now, reservation_id, charges, lease_s)
        # raised after the commit: the expiry above stands, as in the memory store
        raise ValueError(f"reservation id {reservation_id!r} is already in use")

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        with self._transaction() as conn:
            found = self._take(conn, reservation_id)
            if found is None:
                return False
            charged, keys, amounts, spent = found
            if len(actuals) != len(keys):
                raise ValueError(f"{len(actuals)} actuals for {len(keys)} charges")  # rolled back
            rows = zip(keys, amounts, spent, actuals, strict=True)
            if charged:  # expiry spent ``s`` (0 for a freed slot): correct it to the actual
                moves = [(k, actual - s, 0) for k, _, s, actual in rows]
            else:
                moves = [(k, actual, -a) for k, a, _, actual in rows]
            conn.executemany(_ADJUST, moves)
            return True

    def release(self, reservation_id: str) -> bool:
        with self._transaction() as conn:
            found = self._take(conn, reservation_id)
            if found is None:
                return False
            charged, keys, amounts, spent = found  # charged: undo what expiry spent
            rows = zip(keys, amounts, spent, strict=True)
            conn.executemany(_ADJUST, [(k, -s, 0) if charged else (k, 0, -a) for k, a, s in rows])
            return True

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        with self._transaction() as conn:
            now = self._clock()
            cursor = conn.execute(
                "UPDATE reservations SET lease_until = ?"
                " WHERE id = ? AND charged = 0 AND lease_until > ?",
                (now + lease_s, reservation_id, now),
            )
            return cursor.rowcount == 1

    def expire(self) -> int:
        with self._transaction() as conn:
            return self._expire_in(conn, self._clock())

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        with self._transaction() as conn:
            self._expire_in(conn, self._clock())
            values = _load(conn, {key for window in windows for key in window})
            return [_sum(values, window) for window in windows]

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        with self._transaction() as conn:
            now = self._clock()
            cursor = conn.execute(
                "INSERT INTO markers (marker, until) VALUES (?, ?)"
                " ON CONFLICT (marker) DO UPDATE SET until = excluded.until WHERE until <= ?",
                (marker, now + ttl_s, now),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._pid == os.getpid():
                    self._conn.close()

    # -- one protocol step ----------------------------------------------------------------------

    @staticmethod
    def _admit_in(
        conn: sqlite3.Connection, now: float, rid: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        values = _load(conn, {key for charge in charges for key in charge.window})
        sums = [_sum(values, charge.window) for charge in charges]
        for index, (charge, state) in enumerate(zip(charges, sums, strict=True)):
            if charge.hard and state.spent + state.reserved + charge.amount > charge.limit:
                return Admission(False, tuple(sums), index)
        conn.executemany(_RESERVE, [(c.key, c.amount, now + c.ttl_s) for c in charges])
        keys, amounts = (
            json.dumps([c.key for c in charges]),
            json.dumps([c.amount for c in charges]),
        )
        how = [c.on_expiry for c in charges]
        on_expiry = None if all(h == "spend" for h in how) else json.dumps(how)
        conn.execute(_INSERT_RESERVATION, (rid, now + lease_s, keys, amounts, on_expiry))
        after = zip(sums, charges, strict=True)
        return Admission(
            True, tuple(CounterState(s.spent, s.reserved + c.amount) for s, c in after)
        )

    @staticmethod
    def _take(
        conn: sqlite3.Connection, reservation_id: str
    ) -> tuple[bool, list[str], list[int], list[int]] | None:
        """Delete a reservation; return ``(charged, keys, amounts, spent at expiry)`` or None."""
        row = conn.execute(
            "SELECT charged, keys, amounts, on_expiry FROM reservations WHERE id = ?",
            (reservation_id,),
        ).fetchone()
        if row is None:
            return None
        conn.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
        amounts = json.loads(row[2])
        return bool(row[0]), json.loads(row[1]), amounts, _spent_at_expiry(amounts, row[3])

    @staticmethod
    def _expire_in(conn: sqlite3.Connection, now: float) -> int:
        due = conn.execute(
            "SELECT id, charged, keys, amounts, on_expiry FROM reservations WHERE lease_until <= ?",
            (now,),
        ).fetchall()
        if not due:
            return 0
        gone: list[tuple[str]] = []  # tombstones whose correction window has passed
        tombs: list[tuple[float, str]] = []  # charged now, kept to be corrected later
        moves: list[tuple[str, int, int]] = []
        for reservation_id, was_charged, keys, amounts, on_expiry in due:
            if was_charged:
                gone.append((reservation_id,))
                continue
            tombs.append((now + TOMBSTONE_S, reservation_id))
            held = json.loads(amounts)
            rows = zip(json.loads(keys), held, _spent_at_expiry(held, on_expiry), strict=True)
            moves.extend((k, s, -a) for k, a, s in rows)  # "release" charges: s = 0, just freed
        conn.executemany("DELETE FROM reservations WHERE id = ?", gone)
        conn.executemany("UPDATE reservations SET charged = 1, lease_until = ? WHERE id = ?", tombs)
        conn.executemany(_ADJUST, moves)
        return len(tombs)

    @staticmethod
    def _sweep_in(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM counters WHERE expires_at <= ? AND reserved = 0", (now,))
        conn.execute("DELETE FROM markers WHERE until <= ?", (now,))

    # -- connection and transactions ------------------------------------------------------------

    def at_once(self, call: Callable[[], T]) -> tuple[bool, T | None]:
        """``(True, call())`` when ``call`` (one protocol call on this store) could run without
        waiting — the lock free and the database's write lock granted at once —, else
        ``(False, None)`` with nothing done: ask again where waiting is fine."""
        if self._pid != os.getpid() or not self._lock.acquire(blocking=False):
            return False, None
        local = self._local
        local.at_once = True
        try:
            return True, call()
        except _Busy:
            return False, None
        finally:
            local.at_once = False
            self._lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The lock, then ``BEGIN IMMEDIATE``; COMMIT on success, ROLLBACK on any exception."""
        if getattr(self._local, "at_once", False):  # in at_once(), which holds the lock
            with self._unlocked_transaction(at_once=True) as conn:
                yield conn
            return
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock, self._unlocked_transaction(at_once=False) as conn:
            yield conn

    @contextmanager
    def _unlocked_transaction(self, *, at_once: bool) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (at once, or waiting up to the timeout); COMMIT on success,
        ROLLBACK on any exception. The caller holds the lock."""
        if self._closed:
            raise StoreUnavailable(f"the SQLite store {self._name} is closed")
        conn = self._conn
        try:
            if at_once:
                self._begin_at_once(conn)
            else:
                self._begin(conn)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # the original error is what matters
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _begin_at_once(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE`` without waiting: :class:`_Busy` when the write lock is taken."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise _Busy from None
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``: SQLite's busy handler waits up to the timeout for the write lock."""
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))

    def _retry_busy(self, step: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
        """Run ``step``, retrying the rare busy errors that skip SQLite's busy handler (WAL
        recovery, a journal-mode change) until the timeout. Only for steps that start a
        transaction: nothing has been done when they fail, so a retry is safe."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.005)

    def _connect(self) -> sqlite3.Connection:
        directory = Path(self.path).parent
        if self.path != _MEMORY and not directory.is_dir():
            raise StoreUnavailable(
                f"cannot open the SQLite store {self._name}: "
                f"directory {str(directory)!r} does not exist"
            )
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL, the sync level, and the schema: checked, upgraded if older, created if missing, in
        one write transaction (so processes opening a file at once create or upgrade it once)."""
        mode = self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL")).fetchone()[0]
        if self.path != _MEMORY and str(mode).lower() != "wal":
            raise StoreUnavailable(
                f"the SQLite store {self._name} cannot use WAL journaling (journal_mode={mode}); "
                "is it on a network file system?"
            )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._begin(conn)
        try:
            version = self._schema_version(conn)
            if version is not None and version > SCHEMA_VERSION:
                raise ConfigError(
                    f"the SQLite store {self._name} has schema version {version}, written by a "
                    f"newer costcap; this costcap reads up to version {SCHEMA_VERSION}: "
                    "upgrade costcap (or point it at another file)"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1) if version else ():
                for statement in _UPGRADES[step]:  # an older file, one version at a time
                    conn.execute(statement)
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO costcap_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _schema_version(self, conn: sqlite3.Connection) -> int | None:
        meta = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'costcap_meta'"
        if conn.execute(meta).fetchone() is None:
            return None
        row = conn.execute("SELECT value FROM costcap_meta WHERE key = 'schema_version'").fetchone()
        try:
            version = None if row is None else int(row[0])
        except ValueError:
            version = 0
        if version is not None and version < 1:  # no costcap wrote this
            raise ConfigError(
                f"the SQLite store {self._name}: unreadable schema_version {row[0]!r}"
            )
        return version

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock, and a fresh connection to the file (SQLite forbids
        using a connection across ``fork``). An in-memory database stays the child's own copy."""
        self._lock = threading.Lock()
        if self.path != _MEMORY and not self._closed:
            self._inherited.append(self._conn)
            self._conn = self._connect()
        self._pid = os.getpid()

    @property
    def _name(self) -> str:
        return "sqlite:// (in memory)" if self.path == _MEMORY else repr(self.path)

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        hint = ""
        if _busy(exc):
            hint = f" (locked by another connection for more than {self._timeout:g} s)"
        elif "unable to open" in str(exc):
            hint = " (check that the path is a file you may read and write)"
        return StoreUnavailable(f"the SQLite store {self._name} is unavailable: {exc}{hint}")


def _read_url(url: str) -> tuple[str, float, str]:
    """The path (or ``:memory:``), busy timeout and sync level a ``sqlite://`` URL names."""
    parts = urlsplit(url)
    usage = "use sqlite:///relative.db, sqlite:////absolute/path.db or sqlite:// (in memory)"
    if url[:9].lower() != "sqlite://" or parts.netloc or parts.fragment:
        raise ConfigError(f"store URL {url!r}: {usage}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"store URL {url!r}: unknown options {unknown} (synchronous, timeout)")
    try:
        timeout = float(options.get("timeout", 10.0))
    except ValueError:
        raise ConfigError(f"store URL {url!r}: timeout must be a number of seconds") from None
    path = unquote(parts.path)[1:]  # drop the "/" that separates the empty host from the path
    return (
        path if path not in ("", _MEMORY) else _MEMORY,
        timeout,
        options.get("synchronous", "NORMAL"),
    )


class _Busy(Exception):
    """``BEGIN IMMEDIATE`` at once found the write lock taken."""


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _spent_at_expiry(amounts: list[int], on_expiry: str | None) -> list[int]:
    """What a lease running out moves to spent, per charge: the amount of a "spend" charge, 0 for
    a "release" one. ``on_expiry`` NULL: every charge is "spend"."""
    if on_expiry is None:
        return amounts
    flags = json.loads(on_expiry)
    return [a if how == "spend" else 0 for a, how in zip(amounts, flags, strict=True)]


def _load(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``key -> (spent, reserved)`` for the keys that have a counter."""
    wanted = list(keys)
    values: dict[str, tuple[int, int]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            "SELECT key, spent, reserved FROM counters"
            f" WHERE key IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        values.update((key, (spent, reserved)) for key, spent, reserved in rows)
    return values


def _sum(values: dict[str, tuple[int, int]], window: tuple[str, ...]) -> CounterState:
    spent = reserved = 0
    for key in window:  # a key listed twice counts twice, as in the memory store
        s, r = values.get(key, (0, 0))
        spent += s
        reserved += r
    return CounterState(spent, reserved)
