"""``AsyncResponseCache``: :class:`~costcap.cache.ResponseCache` for asyncio callers.

The same decisions and backends; identical misses in one event loop wait on the leading task,
across processes on the backend's lease. Backend operations on SQLite and Redis run in worker
threads (the memory backend's are short and run on the loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from costcap.cache._cache import POLL_S, load_cache
from costcap.cache._core import CacheCore
from costcap.cache._entry import CachedAnswer
from costcap.cache._lookup import CacheRequest, CacheStats, Lookup
from costcap.cache._policy import CachePolicy
from costcap.cache.backends import CacheBackend, CacheUnavailable
from costcap.cache.backends.memory import MemoryCacheBackend

__all__ = ["AsyncResponseCache"]

T = TypeVar("T")


class AsyncResponseCache:
    """The response cache, for an :class:`~costcap.AsyncGuard` and the clients it guards."""

    def __init__(
        self,
        backend: str | CacheBackend = "memory://",
        *,
        policy: CachePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = CacheCore(backend, policy, clock)
        self._inline = isinstance(self._core.backend, MemoryCacheBackend)
        self._flights: dict[str, asyncio.Event] = {}

    @classmethod
    def from_config(cls, path: str | Path) -> AsyncResponseCache:
        url, policy = load_cache(path)
        return cls(url, policy=policy)

    @property
    def policy(self) -> CachePolicy:
        return self._core.policy

    @property
    def backend(self) -> CacheBackend:
        return self._core.backend

    @property
    def stats(self) -> CacheStats:
        return self._core.stats

    async def lookup(self, request: CacheRequest) -> Lookup:
        """As :meth:`ResponseCache.lookup`."""
        core = self._core
        lookup = core.decide(request)
        if lookup.status == "bypass" or lookup.key is None:
            return lookup
        key = lookup.key
        deadline = core.clock() + core.policy.wait_s
        waited = False
        while True:
            if not core.up():
                return core.counted(lookup)
            answer = await self._get(key)
            if answer is not None:
                lookup.status, lookup.answer = "hit", answer
                return core.counted(lookup)
            flight = self._flights.get(key)
            if flight is None:
                self._flights[key] = asyncio.Event()
                if await self._lead(lookup, deadline):
                    return core.counted(lookup)
                continue
            if not waited:
                waited = True
                core._stats.waits += 1
            left = deadline - core.clock()
            try:
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait_for(flight.wait(), left)
            except TimeoutError:
                core._stats.wait_timeouts += 1
                return core.counted(lookup)

    async def store(self, lookup: Lookup, answer: CachedAnswer) -> bool:
        stored = False
        if lookup.ended:
            return False
        value = self._core.encoded(lookup, answer)
        key = lookup.key
        if value is not None and key is not None and self._core.up():
            try:
                stored = await self._run(lambda: self._core.backend.put(key, value, lookup.ttl_s))
            except CacheUnavailable as exc:
                self._core.failed("store", exc)
            else:
                if stored:
                    self._core._stats.stored += 1
                else:
                    self._core._stats.too_large += 1
        await self._end(lookup)
        return stored

    async def abandon(self, lookup: Lookup) -> None:
        await self._end(lookup)

    async def close(self) -> None:
        await self._run(self._core.backend.close)

    async def _run(self, fn: Callable[[], T]) -> T:
        return fn() if self._inline else await asyncio.to_thread(fn)

    async def _get(self, key: str) -> CachedAnswer | None:
        core = self._core
        try:
            value = await self._run(lambda: core.backend.get(key))
        except CacheUnavailable as exc:
            core.failed("lookup", exc)
            return None
        answer = core.read(key, value)
        if answer is None and value is not None:
            try:
                await self._run(lambda: core.backend.delete(key))
            except CacheUnavailable as exc:
                core.failed("delete", exc)
        return answer

    async def _lead(self, lookup: Lookup, deadline: float) -> bool:
        core = self._core
        key = lookup.key
        assert key is not None
        owner = core.new_owner()
        pause = POLL_S[0]
        try:
            while True:
                try:
                    taken = await self._run(
                        lambda: core.backend.lease(key, owner, core.policy.lease_s)
                    )
                except CacheUnavailable as exc:
                    core.failed("lease", exc)
                    self._land(key)
                    return True
                try:  # the answer may have landed since it was looked for
                    value = await self._run(lambda: core.backend.get(key))
                except CacheUnavailable as exc:
                    core.failed("lookup", exc)
                    if taken:
                        lookup.owner = owner
                    else:
                        self._land(key)
                    return True
                if value is not None:
                    if taken:
                        await self._release(key, owner)
                    self._land(key)
                    return False
                if taken:
                    lookup.owner = owner
                    return True
                if core.clock() >= deadline:
                    core._stats.wait_timeouts += 1
                    self._land(key)
                    return True
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_S[1])
        except BaseException:  # cancelled while leading: the waiters go on
            if lookup.owner is None:
                self._land(key)
            raise

    async def _release(self, key: str, owner: str) -> None:
        try:
            await self._run(lambda: self._core.backend.release(key, owner))
        except CacheUnavailable as exc:
            self._core.failed("release", exc)

    async def _end(self, lookup: Lookup) -> None:
        if lookup.ended or lookup.key is None:
            return
        lookup.ended = True
        if lookup.owner is not None:
            await self._release(lookup.key, lookup.owner)
            self._land(lookup.key)

    def _land(self, key: str) -> None:
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.set()
