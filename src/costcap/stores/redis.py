"""``redis://host:port/db?prefix=…``: counters shared by many replicas, one Lua script per step.

Every protocol step is ONE round trip: a script (``EVALSHA``; redis-py reloads it on ``NOSCRIPT``)
that reads the clock with ``TIME``, so lease expiry is the server's time and replicas with skewed
clocks agree. Amounts and sums are integers, exact up to 2**53 (Lua numbers are doubles).

Key layout (``prefix`` defaults to ``costcap``)::

    {prefix}:c:<counter>   hash    s = spent, r = reserved; TTL ≥ the longest ttl_s of the charges
                                   that wrote it, set on every write and never shortened, and
                                   past the lease end of a reservation extended on it
    {prefix}:r:<id>        hash    d = JSON [[counter key, amount, ttl ms, spend], …] (spend: 1 =
                                   on_expiry "spend", 0 = "release"; an entry without it, written
                                   by an older costcap, is "spend"), u = lease end (ms), c = 1 once
                                   expired; no TTL while live, TOMBSTONE_S once expired
    {prefix}:leases        zset    live reservation ids scored by lease end (ms)
    {prefix}:m:<marker>    string  ``SET NX EX`` for :meth:`RedisStore.mark_once`

The ``{prefix}`` hash tag puts every key in one cluster slot, so the scripts are valid on a Redis
Cluster node too; the supported deployments are one server or a primary behind Sentinel/a proxy.
Commands are never retried by the client (a retried admit could reserve twice): a lost connection
or timeout raises :class:`~costcap.errors.StoreUnavailable`, and a reservation the server did make
is charged in full when its lease ends (its ``on_expiry="release"`` charges are only freed).

Run Redis with ``maxmemory-policy noeviction`` and AOF (``appendonly yes``): an evicted or lost
counter or reservation is spend forgotten. Each store checks both at its first call and logs a
warning, or refuses the server with ``?require_durable=1``
(:mod:`costcap.stores._redis_durability`).
A ``fork``-ed child opens connections of its own (redis-py's threaded pool does so by itself; the
asyncio store replaces its pool, :mod:`costcap.stores._fork`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from costcap.errors import ConfigError, StoreUnavailable, UsageError
from costcap.stores._base import (
    MAX_AMOUNT,
    Admission,
    Charge,
    CounterState,
    check_actuals,
    check_charges,
)
from costcap.stores._fork import keep_inherited, track
from costcap.stores._redis_durability import SETTINGS, judge, read_config
from costcap.stores._redis_url import parse_redis_url
from costcap.stores._urls import redact
from costcap.stores.memory import TOMBSTONE_S

__all__ = ["AsyncRedisStore", "RedisStore"]

EXPIRE_BATCH = 100  # expired reservations handled per script call (admit, read, expire's loop)
_SCRIPTS = ("admit", "settle", "release", "extend", "expire", "read")
_OPTIONS: dict[str, Any] = {  # URL query parameters override these
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,  # PING a connection idle this long before reusing it
    "max_connections": 64,
    "timeout": 5.0,  # wait this long for a free pooled connection
}
# Server states that mean "cannot serve now" rather than a bug in the request.
_UNAVAILABLE_REPLIES = ("OOM", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS")
_RANGE_REPLY = "COSTCAP_RANGE "  # what the scripts answer for an argument out of range

Args = list[str | int]


@cache
def _source(name: str) -> str:
    """The script ``lua/<name>.lua`` with the shared helpers of ``lua/_lib.lua`` in front."""
    lua = files("costcap.stores").joinpath("lua")
    lib = lua.joinpath("_lib.lua").read_text("utf-8").replace("@MAX_AMOUNT@", str(MAX_AMOUNT))
    return lib + lua.joinpath(f"{name}.lua").read_text("utf-8")


def _pool_options(url: str) -> dict[str, Any]:
    query = dict(parse_qsl(urlsplit(url).query))
    return {name: value for name, value in _OPTIONS.items() if name not in query}


@contextmanager
def _translated(address: str) -> Iterator[None]:
    """Turn "Redis cannot serve" into :class:`StoreUnavailable`; other Redis errors pass through."""
    try:
        yield
    except (
        redis.ConnectionError,  # refused, reset, no free pooled connection, still loading
        redis.TimeoutError,
        redis.ReadOnlyError,  # a replica after failover
        redis.exceptions.InvalidResponse,  # something that is not Redis answers there
    ) as exc:
        raise StoreUnavailable(f"Redis at {address} is unavailable: {exc}") from None
    except redis.ResponseError as exc:
        if str(exc).startswith(_RANGE_REPLY):  # a script's own argument check; nothing written
            raise UsageError(f"Redis at {address}: {str(exc).removeprefix(_RANGE_REPLY)}") from None
        if str(exc).startswith(_UNAVAILABLE_REPLIES):
            raise StoreUnavailable(f"Redis at {address} cannot serve: {exc}") from None
        if str(exc).startswith("DB index is out of range"):
            raise ConfigError(
                f"Redis at {address}: no such database (the server answers {str(exc)!r}; "
                "its 'databases' setting, 16 by default, is how many there are, from 0)"
            ) from None
        raise


class _Codec:
    """Keys and arguments for each script, and replies back into protocol values. No I/O."""

    def __init__(self, prefix: str) -> None:
        tag = f"{{{prefix}}}:"
        self.leases = f"{tag}leases"
        self.counter_prefix = f"{tag}c:"
        self.reservation_prefix = f"{tag}r:"
        self.marker_prefix = f"{tag}m:"
        self._expiring: Args = [self.reservation_prefix, EXPIRE_BATCH, TOMBSTONE_S * 1000]

    def _counters(self, names: Sequence[str], keys: list[str], index: dict[str, int]) -> list[int]:
        """The position in ``keys`` (KEYS, 1-based in Lua) of each counter, adding new ones."""
        positions = []
        for name in names:
            key = self.counter_prefix + name
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            positions.append(index[key])
        return positions

    def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> tuple[list[str], Args]:
        keys, index = [self.leases, self.reservation_prefix + reservation_id], dict[str, int]()
        entries = [
            [
                self.counter_prefix + c.key,
                str(int(c.amount)),
                str(_ms(c.ttl_s)),
                1 if c.on_expiry == "spend" else 0,
            ]
            for c in charges
        ]
        data = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
        args: Args = [*self._expiring, reservation_id, _ms(lease_s), data, len(charges)]
        for c in charges:
            window = self._counters(c.window, keys, index)
            (key,) = self._counters([c.key], keys, index)
            args += [key, int(c.limit), int(c.amount), int(c.hard), _ms(c.ttl_s), len(window)]
            args += window
        return keys, args

    def admission(self, reservation_id: str, reply: Sequence[int]) -> Admission:
        if reply[0] == -1:
            raise ValueError(f"reservation id {reservation_id!r} is already in use")
        states = tuple(
            CounterState(int(s), int(r)) for s, r in zip(reply[2::2], reply[3::2], strict=True)
        )
        refused = None if reply[1] < 0 else int(reply[1])
        return Admission(bool(reply[0]), states, refused)

    def reservation(self, reservation_id: str) -> list[str]:
        return [self.leases, self.reservation_prefix + reservation_id]

    def read(self, windows: Sequence[tuple[str, ...]]) -> tuple[list[str], Args]:
        keys, index = [self.leases], dict[str, int]()
        args: Args = [*self._expiring, len(windows)]
        for window in windows:
            indices = self._counters(window, keys, index)
            args += [len(indices), *indices]
        return keys, args

    def expiring(self) -> tuple[list[str], Args]:
        return [self.leases], list(self._expiring)


def _fresh_pool(old: redis.asyncio.ConnectionPool) -> redis.asyncio.ConnectionPool:
    """A pool with ``old``'s settings and none of its connections (nor its asyncio locks)."""
    kwargs = dict(old.connection_kwargs)
    if isinstance(old, redis.asyncio.BlockingConnectionPool):
        kwargs["timeout"] = old.timeout
    return type(old)(
        connection_class=old.connection_class, max_connections=old.max_connections, **kwargs
    )


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _settled(reply: int, actuals: Sequence[int]) -> bool:
    if reply < 0:
        raise ValueError(f"{len(actuals)} actuals for {-reply - 1} charges")
    return reply == 1


def _states(reply: Sequence[int]) -> list[CounterState]:
    return [CounterState(int(s), int(r)) for s, r in zip(reply[1::2], reply[2::2], strict=True)]


class RedisStore:
    """A :class:`~costcap.stores.Store` over a ``redis.Redis`` client (thread-safe pool)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "costcap",
        address: str = "",
        require_durable: bool = False,
    ) -> None:
        self.client = client
        self._codec = _Codec(prefix)
        kwargs = client.connection_pool.connection_kwargs
        self._address = address or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._scripts: dict[str, Script] = {
            name: client.register_script(_source(name)) for name in _SCRIPTS
        }
        self._require_durable = require_durable
        self._server_checked = False  # eviction policy and persistence, at the first call
        self._checking = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """``redis://host:port/db?prefix=…``; the other query parameters costcap accepts go to
        redis-py's pool (:mod:`costcap.stores._redis_url`). A bad URL is a ConfigError."""
        parsed = parse_redis_url(url)
        plain = parsed.plain
        try:
            pool = redis.BlockingConnectionPool.from_url(plain, **_pool_options(plain))
        except ValueError as exc:  # what redis-py itself refuses in the URL
            raise ConfigError(f"store URL {redact(url)!r}: {exc}") from None
        client = redis.Redis.from_pool(pool)
        return cls(
            client,
            prefix=parsed.prefix,
            address=parsed.address,
            require_durable=parsed.require_durable,
        )

    def _check_server(self) -> None:
        """Once: does the server keep costcap's keys? (:mod:`costcap.stores._redis_durability`)"""
        with self._checking:
            if self._server_checked:
                return
            with _translated(self._address):
                pipe = self.client.pipeline(transaction=False)
                for name in SETTINGS:
                    pipe.config_get(name)
                replies = pipe.execute(raise_on_error=False)
            config = read_config(replies, self._address)
            judge(config, address=self._address, require=self._require_durable)
            self._server_checked = True

    def _run(self, name: str, keys: list[str], args: Args) -> Any:
        if not self._server_checked:
            self._check_server()
        with _translated(self._address):
            return self._scripts[name](keys=keys, args=args)

    def admit(self, reservation_id: str, charges: Sequence[Charge], lease_s: float) -> Admission:
        check_charges(charges)
        keys, args = self._codec.admit(reservation_id, charges, lease_s)
        return self._codec.admission(reservation_id, self._run("admit", keys, args))

    def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        args: Args = [reservation_id, *(int(a) for a in actuals)]
        return _settled(self._run("settle", self._codec.reservation(reservation_id), args), actuals)

    def release(self, reservation_id: str) -> bool:
        keys = self._codec.reservation(reservation_id)
        return bool(self._run("release", keys, [reservation_id]))

    def extend(self, reservation_id: str, lease_s: float) -> bool:
        keys = self._codec.reservation(reservation_id)
        return bool(self._run("extend", keys, [reservation_id, _ms(lease_s)]))

    def expire(self) -> int:
        total, more = 0, 1
        while more:
            charged, more = self._run("expire", *self._codec.expiring())
            total += int(charged)
        return total

    def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        reply = self._run("read", *self._codec.read(windows))
        if reply[0]:  # a backlog longer than one batch: charge it all, then read again
            self.expire()
            reply = self._run("read", *self._codec.read(windows))
        return _states(reply)

    def mark_once(self, marker: str, ttl_s: int) -> bool:
        if ttl_s <= 0:  # gone as soon as it is set
            return True
        if not self._server_checked:
            self._check_server()
        with _translated(self._address):
            return bool(self.client.set(self._codec.marker_prefix + marker, 1, nx=True, ex=ttl_s))

    def close(self) -> None:
        self.client.close()


class AsyncRedisStore:
    """An :class:`~costcap.stores.AsyncStore` over a ``redis.asyncio.Redis`` client."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "costcap",
        address: str = "",
        require_durable: bool = False,
    ) -> None:
        self.client = client
        self._codec = _Codec(prefix)
        kwargs = client.connection_pool.connection_kwargs
        self._address = address or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(_source(name)) for name in _SCRIPTS
        }
        self._require_durable = require_durable
        self._server_checked = False  # eviction policy and persistence, at the first call
        self._checking = asyncio.Lock()
        track(self)  # redis-py's asyncio pool, unlike its threaded one, keeps sockets across fork

    def _forget_inherited(self) -> None:
        """In a forked child: the same client on a new, empty pool of the same settings."""
        old = self.client.connection_pool
        keep_inherited(old)
        self.client.connection_pool = _fresh_pool(old)
        self._checking = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> AsyncRedisStore:
        """``redis://host:port/db?prefix=…``; the other query parameters costcap accepts go to
        redis-py's pool (:mod:`costcap.stores._redis_url`). A bad URL is a ConfigError."""
        parsed = parse_redis_url(url)
        plain = parsed.plain
        try:
            pool = redis.asyncio.BlockingConnectionPool.from_url(plain, **_pool_options(plain))
        except ValueError as exc:  # what redis-py itself refuses in the URL
            raise ConfigError(f"store URL {redact(url)!r}: {exc}") from None
        client = redis.asyncio.Redis.from_pool(pool)
        return cls(
            client,
            prefix=parsed.prefix,
            address=parsed.address,
            require_durable=parsed.require_durable,
        )

    async def _check_server(self) -> None:
        """Once: does the server keep costcap's keys? (:mod:`costcap.stores._redis_durability`)"""
        async with self._checking:
            if self._server_checked:
                return
            with _translated(self._address):
                pipe = self.client.pipeline(transaction=False)
                for name in SETTINGS:
                    pipe.config_get(name)
                replies = await pipe.execute(raise_on_error=False)
            config = read_config(replies, self._address)
            judge(config, address=self._address, require=self._require_durable)
            self._server_checked = True

    async def _run(self, name: str, keys: list[str], args: Args) -> Any:
        if not self._server_checked:
            await self._check_server()
        with _translated(self._address):
            return await self._scripts[name](keys=keys, args=args)

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        check_charges(charges)
        keys, args = self._codec.admit(reservation_id, charges, lease_s)
        return self._codec.admission(reservation_id, await self._run("admit", keys, args))

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        check_actuals(reservation_id, actuals)
        args: Args = [reservation_id, *(int(a) for a in actuals)]
        keys = self._codec.reservation(reservation_id)
        return _settled(await self._run("settle", keys, args), actuals)

    async def release(self, reservation_id: str) -> bool:
        keys = self._codec.reservation(reservation_id)
        return bool(await self._run("release", keys, [reservation_id]))

    async def extend(self, reservation_id: str, lease_s: float) -> bool:
        keys = self._codec.reservation(reservation_id)
        return bool(await self._run("extend", keys, [reservation_id, _ms(lease_s)]))

    async def expire(self) -> int:
        total, more = 0, 1
        while more:
            charged, more = await self._run("expire", *self._codec.expiring())
            total += int(charged)
        return total

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        reply = await self._run("read", *self._codec.read(windows))
        if reply[0]:  # a backlog longer than one batch: charge it all, then read again
            await self.expire()
            reply = await self._run("read", *self._codec.read(windows))
        return _states(reply)

    async def mark_once(self, marker: str, ttl_s: int) -> bool:
        if ttl_s <= 0:  # gone as soon as it is set
            return True
        key = self._codec.marker_prefix + marker
        if not self._server_checked:
            await self._check_server()
        with _translated(self._address):
            return bool(await self.client.set(key, 1, nx=True, ex=ttl_s))

    async def close(self) -> None:
        await self.client.aclose()
