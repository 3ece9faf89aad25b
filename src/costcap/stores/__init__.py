"""Stores: one protocol (:mod:`costcap.stores._base`), four backends, selected by URL.

=========================  ==================================================================
``memory://``              one process; a lock (:class:`MemoryStore`)
``sqlite:///path.db``      the embedded default; durable, safe across processes (WAL +
                           ``BEGIN IMMEDIATE``); ``sqlite://`` alone is an in-memory database
``redis://host:port/db``   many replicas; one Lua script per step, Redis server time
``postgresql://…``         many replicas; one transaction per step, row locks in key order
=========================  ==================================================================
"""

from __future__ import annotations

import importlib

from costcap._extras import missing_extra
from costcap.errors import ConfigError
from costcap.stores._adapter import AsyncAdapter
from costcap.stores._base import (
    MAX_AMOUNT,
    Admission,
    AsyncStore,
    Charge,
    CounterState,
    Store,
)
from costcap.stores._urls import redact, split
from costcap.stores.memory import MemoryStore

__all__ = [
    "MAX_AMOUNT",
    "Admission",
    "AsyncAdapter",
    "AsyncStore",
    "Charge",
    "CounterState",
    "MemoryStore",
    "Store",
    "open_async_store",
    "open_store",
    "store_exists",
]

SCHEMES = ("memory", "sqlite", "redis", "rediss", "postgresql", "postgres")
# the packages each backend imports, and the extra that installs them
_EXTRAS = {
    "redis": ("redis", ("redis",)),
    "rediss": ("redis", ("redis",)),
    "postgresql": ("postgres", ("psycopg", "psycopg_pool")),
    "postgres": ("postgres", ("psycopg", "psycopg_pool")),
}


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise ConfigError(f"a store URL must be a string like 'sqlite:///costcap.db', not {url!r}")
    scheme = split(url, "store URL").scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"store URL {redact(url)!r}: unknown scheme {scheme!r} "
            "(use memory://, sqlite:///path.db, redis://host:port/db or postgresql://…)"
        )
    if scheme == "memory" and url.lower() not in ("memory://", "memory:"):
        raise ConfigError(f"store URL {url!r}: the memory store takes no host, path or options")
    if scheme in _EXTRAS:
        extra, modules = _EXTRAS[scheme]
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                raise missing_extra(extra=extra, what=f"the {extra} store") from None
    return scheme


def open_store(url: str) -> Store:
    """A synchronous store for ``url``. Backends are imported only when asked for; a bad URL,
    or a backend whose extra is not installed, is a ConfigError."""
    scheme = _scheme(url)
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from costcap.stores.sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in ("redis", "rediss"):
        from costcap.stores.redis import RedisStore

        return RedisStore.from_url(url)
    from costcap.stores.postgres import PostgresStore

    return PostgresStore.from_url(url)


def store_exists(url: str) -> bool:
    """Whether ``url`` already holds a costcap store, found without creating or changing
    anything. Redis keeps no schema (a store is there as soon as it answers) and ``memory://``
    is always new: both are True and False without asking."""
    scheme = _scheme(url)
    if scheme == "memory":
        return False
    if scheme == "sqlite":
        from costcap.stores.sqlite import SQLiteStore

        return SQLiteStore.holds_store(url)
    if scheme in ("redis", "rediss"):
        return True
    from costcap.stores.postgres import PostgresStore

    return PostgresStore.holds_store(url)


def open_async_store(url: str) -> AsyncStore:
    """An asyncio store for ``url``: native clients for Redis and Postgres, an adapter otherwise."""
    scheme = _scheme(url)
    if scheme == "memory":
        return AsyncAdapter(MemoryStore(), offload=False)
    if scheme == "sqlite":
        from costcap.stores.sqlite import SQLiteStore

        return AsyncAdapter(SQLiteStore.from_url(url), offload=True)
    if scheme in ("redis", "rediss"):
        from costcap.stores.redis import AsyncRedisStore

        return AsyncRedisStore.from_url(url)
    from costcap.stores.postgres import AsyncPostgresStore

    return AsyncPostgresStore.from_url(url)
