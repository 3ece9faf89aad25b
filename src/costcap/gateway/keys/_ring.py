"""KeyRing: the gateway's per-request key lookup, cached for ``ttl_s`` in the process.

A request's secret is hashed and looked up in a small cache: hash → (key or None, fetched at).
A miss asks the KeyStore in a worker thread (``anyio.to_thread``), so the event loop never waits
on the database; concurrent misses for the same hash share one lookup. Unknown secrets are cached
too (a client retrying a wrong key costs one lookup per ``ttl_s``); the cache holds at most
``max_entries`` hashes, the least recently used going first.

Revocation, rotation and expiry changes reach every gateway process within ``ttl_s`` (1 s by
default): until then a process may still serve a key it has cached. Expiry itself is exact:
``usable(now)`` is checked on every call, cached or not. A store that cannot be reached raises
:class:`~costcap.errors.StoreUnavailable` (nothing is cached): the gateway refuses the request.

A KeyRing belongs to one event loop (asyncio or trio, through anyio).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from costcap._extras import missing_extra
from costcap.errors import ConfigError
from costcap.gateway.keys._key import VirtualKey
from costcap.gateway.keys._secret import hash_secret, looks_like_secret
from costcap.gateway.keys._store import Clock, KeyStore, utc_now

if TYPE_CHECKING:
    import anyio

__all__ = ["KeyRing"]


@dataclass
class _Lookup:
    """One store lookup in flight, which other requests for the same hash wait on."""

    done: anyio.Event
    key: VirtualKey | None = None
    finished: bool = False
    error: Exception | None = field(default=None)


class KeyRing:
    """``await ring.find(secret)``: the usable key for a request's secret, or None.

    ``clock`` gives the current time (aware); it dates both the cache entries and ``usable``.
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        ttl_s: float = 1.0,
        max_entries: int = 10_000,
        clock: Clock = utc_now,
    ) -> None:
        try:
            import anyio
            import anyio.to_thread
        except ImportError:
            raise missing_extra(extra="server", what="the gateway's key ring") from None
        number = isinstance(ttl_s, int | float) and not isinstance(ttl_s, bool)
        if not number or not 0 <= ttl_s < math.inf:
            raise ConfigError(f"key ring: ttl_s must be a number of seconds >= 0, not {ttl_s!r}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigError(f"key ring: max_entries must be 1 or more, not {max_entries!r}")
        self._anyio = anyio
        self.store = store
        self.ttl_s = float(ttl_s)
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[VirtualKey | None, datetime]] = OrderedDict()
        self._pending: dict[str, _Lookup] = {}
        self.lookups = 0  # lookups asked of the store (for tests and metrics)

    def __len__(self) -> int:
        return len(self._cache)

    async def find(self, secret: str) -> VirtualKey | None:
        """The key ``secret`` belongs to if it is usable now (not revoked, not expired), else
        None. Text that cannot be one of costcap's secrets is None without a lookup."""
        key = await self.lookup(secret)
        return key if key is not None and key.usable(self._clock()) else None

    async def lookup(self, secret: str) -> VirtualKey | None:
        """The key ``secret`` belongs to, usable or not (revoked, expired): None when it is
        nobody's. For saying why a key is refused; :meth:`find` is the check."""
        if not looks_like_secret(secret):
            return None
        return await self._lookup(hash_secret(secret))

    def forget(self, secret: str | None = None) -> None:
        """Drop the cached answer for ``secret`` (None: every answer), so the next request asks
        the store: what this process does after it revoked or rotated a key itself."""
        if secret is None:
            self._cache.clear()
        else:
            self._cache.pop(hash_secret(secret), None)

    async def _lookup(self, digest: str) -> VirtualKey | None:
        while True:
            entry = self._cache.get(digest)
            if entry is not None:
                key, fetched_at = entry
                if 0 <= (self._clock() - fetched_at).total_seconds() < self.ttl_s:
                    self._cache.move_to_end(digest)
                    return key
                del self._cache[digest]
            pending = self._pending.get(digest)
            if pending is None:
                return await self._fetch(digest)
            await pending.done.wait()
            if pending.error is not None:
                raise pending.error
            if pending.finished:
                return pending.key
            # the lookup's own request was cancelled before it finished: look again

    async def _fetch(self, digest: str) -> VirtualKey | None:
        pending = _Lookup(self._anyio.Event())
        self._pending[digest] = pending
        started = self._clock()  # the entry's age counts from before the read
        try:
            self.lookups += 1
            key = await self._anyio.to_thread.run_sync(self.store.find_by_hash, digest)
            pending.key, pending.finished = key, True
        except Exception as exc:  # raised to every request waiting on this lookup too
            pending.error = exc
            raise
        finally:
            del self._pending[digest]
            pending.done.set()
        self._cache[digest] = (key, started)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return key
