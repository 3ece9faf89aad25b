"""``postgresql://user@host:port/db?schema=costcap``: many replicas, one transaction per step.

Semantics are those of :class:`~costcap.stores.memory.MemoryStore`, step for step.

* **One round trip, one transaction per protocol call.** Each call is ``SELECT`` of one PL/pgSQL
  function (``costcap_admit``, ``costcap_settle``, …) on an autocommit connection, so the whole
  step (expiry first, the check, the reservation) commits or rolls back as one statement. The
  functions live in the store's schema and are created by the migrations
  (``postgres_v1.sql``, ``postgres_v2.sql``, …, shipped beside this module).
* **Row locks in a fixed order.** A step locks its counter rows one by one in key order
  (``COLLATE "C"``), creating a missing row with ``INSERT … ON CONFLICT DO NOTHING`` (which waits
  for a concurrent insert of the same key, then locks the committed row). Every counter of every
  window is locked, not only the charged ones, so no concurrent reservation can slip into a
  window between the check and the commit. Expired reservations are taken with
  ``SKIP LOCKED`` and their counters join the same ordered pass: steps never deadlock.
* **Server time.** Leases, expiry, counter and marker lifetimes use ``clock_timestamp()`` on the
  server, so replicas with skewed clocks agree.
* **Durability.** Commits follow the server's ``synchronous_commit`` (on by default): an
  admission a caller was told about survives a server crash. Row locks are held until the commit
  is flushed, so calls sharing one hot counter (a global budget) take turns at about one commit
  flush each; calls on different counters run in parallel.
* **Schema.** Created on first open under an advisory lock (concurrent first starts do not race),
  versioned in ``meta.schema_version``: a new schema gets every ``postgres_vN.sql`` in turn, an
  older one the versions it lacks, in one transaction; a schema written by a newer costcap is
  refused with :class:`~costcap.errors.ConfigError`. Version 2 records each charge's
  ``on_expiry`` (``reservations.spend_on_expiry``; NULL on rows from version 1: all "spend").
* **Fail closed.** An unreachable server, a lost connection or a pool with no free connection
  within ``pool_timeout`` raises :class:`~costcap.errors.StoreUnavailable` naming host:port/db.
  So does a call kept waiting for a row lock longer than the server's ``lock_timeout`` (5 s by
  default) or running longer than its ``statement_timeout`` (10 s), both set on costcap's
  connections through libpq's ``options`` unless the URL sets them.
* **Fork.** A ``fork``-ed child never uses its parent's pool: it opens its own on its first call
  (:mod:`costcap.stores._fork`).

URL query parameters: :mod:`costcap.stores._postgres_url`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, NoReturn

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from costcap.errors import ConfigError, StoreUnavailable, UsageError
from costcap.stores._base import Admission, Charge, CounterState, check_actuals, check_charges
from costcap.stores._fork import keep_inherited, track
from costcap.stores._postgres_url import CONNECT_TIMEOUT_S as _CONNECT_TIMEOUT_S
from costcap.stores._postgres_url import Settings as _Settings
from costcap.stores.memory import TOMBSTONE_S

__all__ = ["SCHEMA_VERSION", "AsyncPostgresStore", "PostgresStore"]

SCHEMA_VERSION = 2
_SWEEP_EVERY = 4096  # on average, admits between sweeps of stale counters and markers

_Conn = psycopg.Connection[TupleRow]
_AsyncConn = psycopg.AsyncConnection[TupleRow]


# -- SQL text, parameters, errors: shared by the sync and async stores ----------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Sql:
    """The statements of one schema."""

    def __init__(self, schema: str) -> None:
        self.s = s = _ident(schema)
        self.admit = (
            f"SELECT admitted, refused, spent, reserved FROM {s}.costcap_admit(%s, %s::text[],"
            " %s::text[], %s::int[], %s::bigint[], %s::bigint[], %s::bool[], %s::int[], %s,"
            " %s::bool[])"
        )
        self.settle = f"SELECT {s}.costcap_settle(%s, %s::bigint[])"  # NULL actuals: release
        self.extend = f"SELECT {s}.costcap_extend(%s, %s)"
        self.expire = f"SELECT {s}.costcap_expire()"
        self.read = f"SELECT spent, reserved FROM {s}.costcap_read(%s::text[], %s::int[], %s)"
        self.mark_once = f"SELECT {s}.costcap_mark_once(%s, %s)"
        # migration
        self.lock = "SELECT pg_advisory_xact_lock(hashtext(%s))"
        self.has_meta = "SELECT to_regclass(%s) IS NOT NULL"
        self.version = f"SELECT max(schema_version) FROM {s}.meta"
        self.create_meta = (
            f"CREATE SCHEMA IF NOT EXISTS {s};"
            f" CREATE TABLE IF NOT EXISTS {s}.meta (one boolean PRIMARY KEY DEFAULT true"
            " CHECK (one), schema_version integer NOT NULL,"
            " migrated_at timestamptz NOT NULL DEFAULT now())"
        )
        self.record = (
            f"INSERT INTO {s}.meta (schema_version) VALUES (%s) ON CONFLICT (one)"
            " DO UPDATE SET schema_version = excluded.schema_version, migrated_at = now()"
        )

    def upgrade(self, version: int) -> str:
        """The DDL that brings the schema from ``version - 1`` to ``version``."""
        text = (files("costcap.stores") / f"postgres_v{version}.sql").read_text("utf-8")
        return (
            text.replace("@S@", self.s)
            .replace("@TOMBSTONE_S@", str(TOMBSTONE_S))
            .replace("@SWEEP_EVERY@", str(_SWEEP_EVERY))
        )


def _upgrades_from(found: int | None, schema: str) -> range:
    """The versions to apply to a schema at ``found`` (None: new). Refuses a newer schema."""
    current = found or 0
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"PostgreSQL schema {schema!r} is at costcap schema version {current}, newer than "
            f"this costcap supports ({SCHEMA_VERSION}); upgrade costcap or use another schema="
        )
    return range(current + 1, SCHEMA_VERSION + 1)


def _admit_params(
    reservation_id: str, charges: Sequence[Charge], lease_s: float
) -> tuple[Any, ...]:
    wkeys, wcharge = _flatten([c.window for c in charges])
    return (
        reservation_id,
        [c.key for c in charges],
        wkeys,
        wcharge,
        [c.limit for c in charges],
        [c.amount for c in charges],
        [c.hard for c in charges],
        [c.ttl_s for c in charges],
        float(lease_s),
        [c.on_expiry == "spend" for c in charges],
    )


def _flatten(windows: Sequence[tuple[str, ...]]) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    owners: list[int] = []
    for index, window in enumerate(windows, 1):
        keys.extend(window)
        owners.extend([index] * len(window))
    return keys, owners


def _admission(row: tuple[Any, ...] | None, charges: Sequence[Charge]) -> Admission:
    admitted, refused, spent, reserved = _row(row)
    if not admitted:
        return Admission(False, _states(spent, reserved), refused)
    after = [r + c.amount for r, c in zip(reserved, charges, strict=True)]
    return Admission(True, _states(spent, after))


def _states(spent: Sequence[int], reserved: Sequence[int]) -> tuple[CounterState, ...]:
    return tuple(CounterState(s, r) for s, r in zip(spent, reserved, strict=True))


def _row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:  # a function call always returns one row
        raise RuntimeError("PostgreSQL returned no row for a costcap function call")
    return row


def _translate_connect(exc: psycopg.Error, settings: _Settings) -> NoReturn:
    """As :func:`_translate`, for opening: a connection setting psycopg itself refuses
    (``connect_timeout=abc``) is a ConfigError."""
    if type(exc) is psycopg.ProgrammingError:  # psycopg's own, before any server answered
        raise ConfigError(f"PostgreSQL store at {settings.where}: {exc}") from None
    _translate(exc, settings)


def _translate(exc: psycopg.Error, settings: _Settings, reservation_id: str = "") -> NoReturn:
    """Raise the costcap error for ``exc``: ValueError for misuse, StoreUnavailable for I/O."""
    if isinstance(exc, pg_errors.UniqueViolation):
        raise ValueError(f"reservation id {reservation_id!r} is already in use") from None
    if isinstance(exc, pg_errors.InvalidParameterValue):
        raise ValueError(exc.diag.message_primary or str(exc)) from None
    if isinstance(exc, pg_errors.NumericValueOutOfRange):  # the step was rolled back
        raise UsageError(
            f"PostgreSQL store at {settings.where}: {exc.diag.message_primary or exc}"
        ) from None
    if isinstance(exc, pg_errors.LockNotAvailable):  # lock_timeout; the step was rolled back
        raise StoreUnavailable(
            f"PostgreSQL store at {settings.where}: gave up waiting for a lock after "
            f"{settings.lock_timeout} (another session holds a row this call needs; the wait is "
            "the server's lock_timeout, set with ?options=-c%20lock_timeout%3D<ms>)"
        ) from None
    if isinstance(exc, pg_errors.QueryCanceled) and "statement timeout" in str(exc):
        raise StoreUnavailable(
            f"PostgreSQL store at {settings.where}: gave up on a call after "
            f"{settings.statement_timeout} (the server's statement_timeout, set with "
            "?options=-c%20statement_timeout%3D<ms>)"
        ) from None
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not isinstance(
        exc, pg_errors.TransactionRollback
    ):
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(
            f"PostgreSQL store at {settings.where} is unavailable: {detail}"
        ) from None
    raise exc


# -- the stores ----------------------------------------------------------------------------------


class PostgresStore:
    """The store protocol over a PostgreSQL schema, through a pool of autocommit connections."""

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._sql = _Sql(settings.schema)
        try:
            with psycopg.connect(settings.conninfo, autocommit=True) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            _translate_connect(exc, settings)
        self._closed = False
        self._opening = threading.Lock()
        # None in a forked child until its first call: the parent's pool is never used there
        self._pool: ConnectionPool[_Conn] | None = self._open_pool()
        track(self)

    def _open_pool(self) -> ConnectionPool[_Conn]:
        settings = self._settings
        pool: ConnectionPool[_Conn] = ConnectionPool(
            settings.conninfo,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout,
            kwargs={"autocommit": True},
            open=False,
            name=f"costcap-{settings.schema}",
        )
        try:
            pool.open(wait=settings.pool_min > 0, timeout=_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            pool.close()
            _translate(exc, settings)
        return pool

    def _ready(self) -> ConnectionPool[_Conn]:
        """The pool; in a forked child, a new one of the child's own, opened on first use."""
        pool = self._pool
        if pool is not None:
            return pool
        with self._opening:
            if self._closed:
                raise StoreUnavailable(f"PostgreSQL store at {self._settings.where} is closed")
            if self._pool is None:
                self._pool = self._open_pool()
            return self._pool

    def _forget_inherited(self) -> None:
        if self._pool is not None:
            keep_inherited(self._pool)
        self._pool = None
        self._opening = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        return cls(_Settings.from_url(url))

    @staticmethod
    def holds_store(url: str) -> bool:
        """Whether the schema ``url`` names already holds a costcap store, asked in a read-only
        session that creates nothing: what read-only commands ask before opening a store."""
        settings = _Settings.from_url(url)
        sql = _Sql(settings.schema)
        try:
            with psycopg.connect(settings.conninfo, autocommit=True) as conn:
                conn.execute("SET default_transaction_read_only = on")
                return bool(_row(conn.execute(sql.has_meta, [f"{sql.s}.meta"]).fetchone())[0])
        except psycopg.Error as exc:
            _translate_connect(exc, settings)

    def _migrate(self, conn: _Conn) -> None:
        sql, schema = self._sql, self._settings.schema
        exists = _row(conn.execute(sql.has_meta, [f"{sql.s}.meta"]).fetchone())[0]
        if exists and not _upgrades_from(_row(conn.execute(sql.version).fetchone())[0], schema):
            return
        with conn.transaction():
            conn.execute(sql.lock, [f"costcap.migrate:{schema}"])
            conn.execute(sql.create_meta)
            for version in _upgrades_from(_row(conn.execute(sql.version).fetchone())[0], schema):
                conn.execute(sql.upgrade(version))
                conn.execute(sql.record, [version])

    def _one(self, query: str, params: Sequence[Any], reservation_id: str = "") -> tuple[Any, ...]:
        pool = self._ready()
        try:
            with pool.connection() as conn:
                return _row(conn.execute(query, params).fetchone())
        except psycopg.Error as exc:
            _translate(exc, self._settings, reservation_id)

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        check_charges(charges)
        params = _admit_params(reservation_id, charges, lease_s)
        return _admission(self._one(self._sql.admit, params, reservation_id), charges)

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        return bool(self._one(self._sql.settle, (reservation_id, list(actuals)))[0])

    def release(self, reservation_id: str) -> bool:
        return bool(self._one(self._sql.settle, (reservation_id, None))[0])

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        return bool(self._one(self._sql.extend, (reservation_id, float(lease_s)))[0])

    def expire(self) -> int:
        return int(self._one(self._sql.expire, ())[0])

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        keys, owners = _flatten(windows)
        spent, reserved = self._one(self._sql.read, (keys, owners, len(windows)))
        return list(_states(spent, reserved))

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        return bool(self._one(self._sql.mark_once, (marker, int(ttl_s)))[0])

    def close(self) -> None:
        with self._opening:
            self._closed = True
            if self._pool is not None:
                self._pool.close()


class AsyncPostgresStore:
    """The same over an asyncio pool. Opens (and migrates) on first use, inside the event loop."""

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._sql = _Sql(settings.schema)
        self._pool: AsyncConnectionPool[_AsyncConn] | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        track(self)

    @classmethod
    def from_url(cls, url: str) -> AsyncPostgresStore:
        return cls(_Settings.from_url(url))

    async def _ready(self) -> AsyncConnectionPool[_AsyncConn]:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._closed:
                raise StoreUnavailable(f"PostgreSQL store at {self._settings.where} is closed")
            if self._pool is None:
                self._pool = await self._open()
            return self._pool

    def _forget_inherited(self) -> None:
        if self._pool is not None:
            keep_inherited(self._pool)
        self._pool = None
        self._opening = asyncio.Lock()

    async def _open(self) -> AsyncConnectionPool[_AsyncConn]:
        settings = self._settings
        try:
            conn = await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True)
            async with conn:
                await self._migrate(conn)
        except psycopg.Error as exc:
            _translate_connect(exc, settings)
        pool: AsyncConnectionPool[_AsyncConn] = AsyncConnectionPool(
            settings.conninfo,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout,
            kwargs={"autocommit": True},
            open=False,
            name=f"costcap-{settings.schema}",
        )
        try:
            await pool.open(wait=settings.pool_min > 0, timeout=_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            await pool.close()
            _translate(exc, settings)
        except BaseException:
            # Cancelled while it filled: a pool left half-open would keep its connections and
            # worker tasks for good (the next call opens another).
            await asyncio.shield(pool.close())
            raise
        return pool

    async def _migrate(self, conn: _AsyncConn) -> None:
        sql, schema = self._sql, self._settings.schema
        if _row(await (await conn.execute(sql.has_meta, [f"{sql.s}.meta"])).fetchone())[0]:
            found = _row(await (await conn.execute(sql.version)).fetchone())[0]
            if not _upgrades_from(found, schema):
                return
        async with conn.transaction():
            await conn.execute(sql.lock, [f"costcap.migrate:{schema}"])
            await conn.execute(sql.create_meta)
            found = _row(await (await conn.execute(sql.version)).fetchone())[0]
            for version in _upgrades_from(found, schema):
                await conn.execute(sql.upgrade(version))
                await conn.execute(sql.record, [version])

    async def _one(
        self, query: str, params: Sequence[Any], reservation_id: str = ""
    ) -> tuple[Any, ...]:
        pool = await self._ready()
        try:
            async with pool.connection() as conn:
                return _row(await (await conn.execute(query, params)).fetchone())
        except psycopg.Error as exc:
            _translate(exc, self._settings, reservation_id)

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        check_charges(charges)
        params = _admit_params(reservation_id, charges, lease_s)
        return _admission(await self._one(self._sql.admit, params, reservation_id), charges)

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        return bool((await self._one(self._sql.settle, (reservation_id, list(actuals))))[0])

    async def release(self, reservation_id: str) -> bool:
        return bool((await self._one(self._sql.settle, (reservation_id, None)))[0])

    async def extend(self, reservation_id: str, lease_s: float) -> bool:
        return bool((await self._one(self._sql.extend, (reservation_id, float(lease_s))))[0])

    async def expire(self) -> int:
        return int((await self._one(self._sql.expire, ()))[0])

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        keys, owners = _flatten(windows)
        spent, reserved = await self._one(self._sql.read, (keys, owners, len(windows)))
        return list(_states(spent, reserved))

    async def mark_once(self, marker: str, ttl_s: int) -> bool:
        return bool((await self._one(self._sql.mark_once, (marker, int(ttl_s))))[0])

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
