"""``redis://host:port/db``: the cache shared by every process and replica on one Redis.

``redis://host:6379/0?prefix=costcap&socket_timeout=0.5``: values under
``<prefix>:cache:v:<key>`` with a Redis expiry (``SET … PX``), leases under
``<prefix>:cache:lease:<key>`` (``SET … NX PX``, released only by their owner, in one script).
The URL takes the store URL's options (:mod:`costcap.stores._redis_url`); the cache's defaults
are short timeouts (0.5 s to answer, 0.5 s to connect), so a Redis that is down costs a call
half a second at most before the cache steps aside.

Size: each value is at most the policy's ``max_entry_bytes``; the whole is bounded by Redis's
own ``maxmemory`` with an eviction policy (``allkeys-lru`` or ``volatile-lru`` suits a cache:
every value has an expiry). A Redis that also holds costcap's store should not evict: give the
cache a Redis (or database) of its own, or rely on expiry alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis

from costcap.cache.backends._base import CacheUnavailable
from costcap.errors import ConfigError
from costcap.stores._redis_url import parse_redis_url
from costcap.stores._urls import redact

__all__ = ["RedisCacheBackend"]

_DEFAULTS: dict[str, Any] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# SET NX, or renew when the caller already holds it
_LEASE = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisCacheBackend:
    """Cached values in Redis, with expiry; leases as keys with a short expiry."""

    def __init__(self, client: redis.Redis, *, prefix: str = "costcap", address: str = "") -> None:
        self.client = client
        self._values = f"{prefix}:cache:v:"
        self._leases = f"{prefix}:cache:lease:"
        self._address = address or "Redis"
        self._release = client.register_script(_RELEASE)
        self._lease = client.register_script(_LEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisCacheBackend:
        parsed = parse_redis_url(url, what="cache URL")
        given = dict(parse_qsl(urlsplit(parsed.plain).query))
        options = {name: value for name, value in _DEFAULTS.items() if name not in given}
        try:
            client = redis.Redis.from_url(parsed.plain, **options)
        except ValueError as exc:
            raise ConfigError(f"cache URL {redact(url)!r}: {exc}") from None
        return cls(client, prefix=parsed.prefix, address=parsed.address)

    def get(self, key: str) -> bytes | None:
        with self._translated():
            value = self.client.get(self._values + key)
        if value is None:
            return None
        return value if isinstance(value, bytes) else value.encode()

    def put(self, key: str, value: bytes, ttl_s: float) -> bool:
        with self._translated():
            self.client.set(self._values + key, value, px=max(1, round(ttl_s * 1000)))
        return True

    def delete(self, key: str) -> None:
        with self._translated():
            self.client.delete(self._values + key)

    def lease(self, key: str, owner: str, ttl_s: float) -> bool:
        with self._translated():
            taken = self._lease(
                keys=[self._leases + key], args=[owner, max(1, round(ttl_s * 1000))]
            )
        return bool(taken)

    def release(self, key: str, owner: str) -> None:
        with self._translated():
            self._release(keys=[self._leases + key], args=[owner])

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:  # down, slow, read-only, out of memory, not Redis
            raise CacheUnavailable(f"the Redis cache at {self._address}: {exc}") from None
