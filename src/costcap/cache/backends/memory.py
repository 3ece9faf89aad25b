"""``memory://``: the cache in this process, least recently used first out, within a byte budget.

``memory://?max_bytes=67108864`` (the default, 64 MiB): the values' sizes add up to at most
that; storing past it drops the least recently used values. Each ``memory://`` backend is its
own; threads share one through the :class:`~costcap.cache.ResponseCache` that holds it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_BYTES", "MemoryCacheBackend"]

DEFAULT_MAX_BYTES = 64 << 20


class MemoryCacheBackend:
    """A least-recently-used map of values with expiry times, under one lock."""

    def __init__(
        self, *, max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._values: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._leases: dict[str, tuple[str, float]] = {}

    @property
    def size_bytes(self) -> int:
        """What the values kept add up to."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            if found[1] <= self._clock():
                self._drop(key)
                return None
            self._values.move_to_end(key)
            return found[0]

    def put(self, key: str, value: bytes, ttl_s: float) -> bool:
        if len(value) > self.max_bytes:
            return False
        with self._lock:
            if key in self._values:
                self._drop(key)
            self._values[key] = (value, self._clock() + ttl_s)
            self._bytes += len(value)
            now = self._clock()
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._values))
                self._drop(oldest)
            # expired values met at the old end go too (cheap: at most what is already past)
            while self._values:
                oldest = next(iter(self._values))
                if self._values[oldest][1] > now:
                    break
                self._drop(oldest)
            return key in self._values

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._values:
                self._drop(key)

    def lease(self, key: str, owner: str, ttl_s: float) -> bool:
        with self._lock:
            now = self._clock()
            held = self._leases.get(key)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            self._leases[key] = (owner, now + ttl_s)
            if len(self._leases) > 4096:  # leases whose owners died: forget the lapsed ones
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
            return True

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[0] == owner:
                del self._leases[key]

    def close(self) -> None:
        with self._lock:
            self._values.clear()
            self._leases.clear()
            self._bytes = 0

    def _drop(self, key: str) -> None:
        value, _ = self._values.pop(key)
        self._bytes -= len(value)
