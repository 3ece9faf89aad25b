"""``postgresql://user@host:port/db?schema=costcap``: virtual keys in PostgreSQL (psycopg 3).

The table ``costcap_virtual_keys`` lives in the URL's schema (``costcap`` by default, as for the
store; the URL takes the store's parameters: :mod:`costcap.stores._postgres_url`). It is created
on first open under a transaction-scoped advisory lock, so processes starting at once create it
once; opening a schema that has it already takes no lock and needs no CREATE privilege. Every
method is one statement on an autocommit connection of a small pool. An unreachable server or a
lost connection raises :class:`~costcap.errors.StoreUnavailable`; a ``fork``-ed child opens a
pool of its own.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from costcap.errors import ConfigError, StoreUnavailable
from costcap.gateway.keys._store import TABLE, Clock, Duplicate, SqlKeyStore, utc_now
from costcap.stores._fork import keep_inherited, track
from costcap.stores._postgres_url import CONNECT_TIMEOUT_S, Settings

__all__ = ["PostgresKeyStore"]

_Conn = psycopg.Connection[TupleRow]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresKeyStore(SqlKeyStore):
    """Virtual keys in one schema of a PostgreSQL database."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now) -> None:
        super().__init__(clock=clock, where=f"the PostgreSQL key store at {settings.where}")
        self._settings = settings
        self._table = f"{_ident(settings.schema)}.{TABLE}"
        try:
            with psycopg.connect(settings.conninfo, autocommit=True) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            self._raise(exc)
        self._closed = False
        self._opening = threading.Lock()
        # None in a forked child until its first call: the parent's pool is never used there
        self._pool: ConnectionPool[_Conn] | None = self._open_pool()
        track(self)

    @classmethod
    def from_url(cls, url: str, *, clock: Clock = utc_now) -> PostgresKeyStore:
        return cls(Settings.from_url(url), clock=clock)

    def _migrate(self, conn: _Conn) -> None:
        exists = "SELECT to_regclass(%s) IS NOT NULL"
        row = conn.execute(exists, [self._table]).fetchone()
        if row is not None and row[0]:
            return
        with conn.transaction():
            schema = self._settings.schema
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"costcap.keys:{schema}"])
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (id text PRIMARY KEY,"
                " secret_hash text NOT NULL UNIQUE, name text, user_id text, feature text,"
                " models text, budgets text NOT NULL, limits text NOT NULL,"
                " created_at timestamptz NOT NULL, expires_at timestamptz,"
                " revoked_at timestamptz)"
            )

    def _open_pool(self) -> ConnectionPool[_Conn]:
        settings = self._settings
        pool: ConnectionPool[_Conn] = ConnectionPool(
            settings.conninfo,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout,
            kwargs={"autocommit": True},
            open=False,
            name=f"costcap-keys-{settings.schema}",
        )
        try:
            pool.open(wait=settings.pool_min > 0, timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            pool.close()
            self._raise(exc)
        return pool

    def _ready(self) -> ConnectionPool[_Conn]:
        """The pool; in a forked child, a new one of the child's own, opened on first use."""
        pool = self._pool
        if pool is not None:
            return pool
        with self._opening:
            if self._closed:
                raise StoreUnavailable(f"{self._where} is closed")
            if self._pool is None:
                self._pool = self._open_pool()
            return self._pool

    def _forget_inherited(self) -> None:
        if self._pool is not None:
            keep_inherited(self._pool)
        self._pool = None
        self._opening = threading.Lock()

    def _run(self, statement: str, params: Sequence[Any]) -> builtins.list[tuple[Any, ...]]:
        query = statement.replace(TABLE, self._table, 1).replace("?", "%s")
        pool = self._ready()
        try:
            with pool.connection() as conn:
                return conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            self._raise(exc)

    def _raise(self, exc: psycopg.Error) -> NoReturn:
        """Raise the costcap error for ``exc``: Duplicate, ConfigError (a setting psycopg
        refuses before any server answered) or StoreUnavailable (I/O)."""
        if isinstance(exc, pg_errors.UniqueViolation):
            raise Duplicate(str(exc)) from None
        if type(exc) is psycopg.ProgrammingError:
            raise ConfigError(f"{self._where}: {exc}") from None
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"{self._where} is unavailable: {detail}") from None
        raise exc

    def _time_in(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def _time_out(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    def close(self) -> None:
        with self._opening:
            self._closed = True
            if self._pool is not None:
                self._pool.close()
