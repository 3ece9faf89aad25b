"""Helpers the store tests share."""

from __future__ import annotations

import math
import sqlite3
import time
import uuid

from costcap.stores import MemoryStore, Store


def rid() -> str:
    """A fresh reservation id."""
    return uuid.uuid4().hex


def counter_lifetime_s(store: Store, key: str) -> float:
    """How much longer ``store`` keeps the counter ``key``, read the way the store itself
    decides to drop it: ``math.inf`` while the store never drops it (memory, SQLite and
    PostgreSQL keep a counter that holds a reservation, whatever its expiry), 0 if it is gone.

    memory: ``expires_at`` in its dict; SQLite and PostgreSQL: the ``expires_at`` column of
    ``counters``; Redis: the key's ``PTTL``."""
    if isinstance(store, MemoryStore):
        counter = store._counters.get(key)
        if counter is None:
            return 0.0
        return math.inf if counter.reserved else counter.expires_at - store._clock()
    from costcap.stores.redis import RedisStore
    from costcap.stores.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            row = conn.execute(
                "SELECT reserved, expires_at FROM counters WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return 0.0
        return math.inf if row[0] else float(row[1]) - time.time()
    if isinstance(store, RedisStore):
        pttl = int(store.client.pttl(store._codec.counter_prefix + key))
        return 0.0 if pttl == -2 else math.inf if pttl == -1 else pttl / 1000
    return _postgres_lifetime_s(store, key)


def _postgres_lifetime_s(store: Store, key: str) -> float:
    import psycopg

    from costcap.stores.postgres import PostgresStore

    assert isinstance(store, PostgresStore), f"no lifetime reader for {type(store).__name__}"
    settings = store._settings
    query = (
        "SELECT reserved, extract(epoch FROM expires_at - clock_timestamp())"
        f' FROM "{settings.schema}".counters WHERE key = %s'
    )
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        row = conn.execute(query, (key,)).fetchone()
    if row is None:
        return 0.0
    return math.inf if row[0] else float(row[1])
