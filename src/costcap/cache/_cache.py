"""``ResponseCache``: identical requests answered once, for threads and processes alike.

::

    cache = ResponseCache("sqlite:///costcap-cache.db", policy=CachePolicy(ttl_s=3600))
    client = costcap.wrap(OpenAI(), guard=guard, cache=cache)

A lookup is a hit (the stored answer), a miss (to be answered by the provider and stored) or a
bypass (the cache was not asked). Identical misses at the same time make ONE provider call:
in a process the first leads and the others wait on it; across processes (SQLite, Redis) the
leader holds a lease in the backend and the others poll for the answer. A waiter that waits
longer than ``policy.wait_s``, or sees the leader give up (its call failed, its stream was
cut), calls the provider itself (the first to notice leads the next round): nobody hangs.
A backend that fails is logged and counted, and the cache steps aside for a few seconds; a
call never fails because of the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from costcap.cache._core import CacheCore, log
from costcap.cache._entry import CachedAnswer
from costcap.cache._lookup import CacheRequest, CacheStats, Lookup
from costcap.cache._policy import CachePolicy
from costcap.cache.backends import CacheBackend, CacheUnavailable

__all__ = ["ResponseCache", "cache_in_config", "load_cache"]

#: How long a waiter sleeps between two looks at another process's lease (growing to the max).
POLL_S = (0.005, 0.1)


class ResponseCache:
    """The response cache, for a :class:`~costcap.Guard` and the clients it guards."""

    def __init__(
        self,
        backend: str | CacheBackend = "memory://",
        *,
        policy: CachePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = CacheCore(backend, policy, clock)
        self._lock = threading.Lock()
        # key -> the event its waiters wait on (None until one waits: most misses have none,
        # and an Event costs ~5 µs to build)
        self._flights: dict[str, threading.Event | None] = {}

    @classmethod
    def from_config(cls, path: str | Path) -> ResponseCache:
        """The cache ``costcap.toml``'s ``[cache]`` table describes (``url`` default
        ``sqlite:///costcap-cache.db``)."""
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

    # -- a request's passage --------------------------------------------------------------------

    def lookup(self, request: CacheRequest) -> Lookup:
        """Hit, miss or bypass. A miss that leads must be ended with :meth:`store` or
        :meth:`abandon`; a hit or bypass needs nothing more."""
        core = self._core
        lookup = core.decide(request)
        if lookup.status == "bypass" or lookup.key is None:
            return lookup
        key = lookup.key
        deadline = core.clock() + core.policy.wait_s
        waited = False
        while True:
            if not core.up():
                return core.counted(lookup)  # the backend is down: to the provider, no lead
            answer = self._get(key)
            if answer is not None:
                lookup.status, lookup.answer = "hit", answer
                return core.counted(lookup)
            with self._lock:
                leading = key not in self._flights
                if leading:
                    self._flights[key] = None
                    flight = None
                else:
                    flight = self._flights[key]
                    if flight is None:
                        flight = self._flights[key] = threading.Event()
            if flight is None:
                if self._lead(lookup, deadline):
                    return core.counted(lookup)
                continue  # another process finished or gave up: look again
            if not waited:
                waited = True
                core._stats.waits += 1
            left = deadline - core.clock()
            if left <= 0 or not flight.wait(left):
                core._stats.wait_timeouts += 1
                return core.counted(lookup)  # waited long enough: to the provider, no lead

    def store(self, lookup: Lookup, answer: CachedAnswer) -> bool:
        """Keep ``answer`` for ``lookup``'s request (a miss's, or a no-cache bypass's) and end
        its lead. True when stored (never for a lookup already ended)."""
        stored = False
        if lookup.ended:
            return False
        value = self._core.encoded(lookup, answer)
        if value is not None and lookup.key is not None and self._core.up():
            try:
                stored = self._core.backend.put(lookup.key, value, lookup.ttl_s)
            except CacheUnavailable as exc:
                self._core.failed("store", exc)
            else:
                if stored:
                    self._core._stats.stored += 1
                else:
                    self._core._stats.too_large += 1
        self._end(lookup)
        return stored

    def abandon(self, lookup: Lookup) -> None:
        """End ``lookup``'s lead without an answer (its call failed, or its stream was cut):
        the requests waiting on it go on."""
        self._end(lookup)

    def close(self) -> None:
        self._core.backend.close()

    # -- steps ----------------------------------------------------------------------------------

    def _get(self, key: str) -> CachedAnswer | None:
        core = self._core
        try:
            value = core.backend.get(key)
        except CacheUnavailable as exc:
            core.failed("lookup", exc)
            return None
        answer = core.read(key, value)
        if answer is None and value is not None:
            try:
                core.backend.delete(key)
            except CacheUnavailable as exc:
                core.failed("delete", exc)
        return answer

    def _lead(self, lookup: Lookup, deadline: float) -> bool:
        """Lead in this process; take the backend's lease (other processes). True: this lookup
        calls the provider (leading, or not when the backend failed or the wait ran out);
        False: the answer may be there now — look again."""
        core = self._core
        key = lookup.key
        assert key is not None
        owner = core.new_owner()
        pause = POLL_S[0]
        while True:
            try:
                taken = core.backend.lease(key, owner, core.policy.lease_s)
            except CacheUnavailable as exc:
                core.failed("lease", exc)
                self._land(key)
                return True
            # the answer may have landed since it was looked for: look (again) either way
            try:
                value = core.backend.get(key)
            except CacheUnavailable as exc:
                core.failed("lookup", exc)
                if taken:
                    lookup.owner = owner
                else:
                    self._land(key)
                return True
            if value is not None:
                if taken:
                    self._release(key, owner)
                self._land(key)
                return False
            if taken:
                lookup.owner = owner
                return True
            # another process leads: wait for its answer, or for its lease to end
            if core.clock() >= deadline:
                core._stats.wait_timeouts += 1
                self._land(key)
                return True
            time.sleep(pause)
            pause = min(pause * 2, POLL_S[1])

    def _release(self, key: str, owner: str) -> None:
        try:
            self._core.backend.release(key, owner)
        except CacheUnavailable as exc:  # the lease runs out on its own
            self._core.failed("release", exc)

    def _end(self, lookup: Lookup) -> None:
        if lookup.ended or lookup.key is None:
            return
        lookup.ended = True
        if lookup.owner is not None:
            self._release(lookup.key, lookup.owner)
            self._land(lookup.key)

    def _land(self, key: str) -> None:
        """End this process's flight for ``key``: its waiters look again."""
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is not None:
            flight.set()


def load_cache(path: str | Path) -> tuple[str, CachePolicy]:
    """``costcap.toml``'s ``[cache]``: the backend URL and the policy."""
    from costcap._toml import read_toml
    from costcap.cache._policy import parse_cache_table

    data = read_toml(path)
    url, policy = parse_cache_table(data.get("cache", {}), str(path))
    if url is None:
        url = "sqlite:///costcap-cache.db"
    log.debug("cache from %s: %s", path, url)
    return url, policy


def cache_in_config(path: str | Path) -> tuple[str, CachePolicy] | None:
    """``costcap.toml``'s response cache when its ``[cache]`` names a ``url`` (what
    ``Guard.from_config`` builds); None without one."""
    from costcap._toml import read_toml
    from costcap.cache._policy import parse_cache_table

    table = read_toml(path).get("cache")
    if table is None:
        return None
    url, policy = parse_cache_table(table, str(path))
    return None if url is None else (url, policy)
