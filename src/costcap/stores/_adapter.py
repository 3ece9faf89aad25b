"""Serve a synchronous store to asyncio callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from costcap.stores._base import Admission, Charge, CounterState, Store

__all__ = ["AsyncAdapter"]

T = TypeVar("T")


class AsyncAdapter:
    """An :class:`AsyncStore` over a :class:`Store`.

    ``offload=False`` calls straight through on the event loop, right for the memory store whose
    critical sections are short and never block on I/O; ``offload=True`` runs each call in a worker
    thread (SQLite, whose ``BEGIN IMMEDIATE`` may wait on another process's lock) — unless the
    store can run it at once without waiting (its ``at_once``: SQLite's lock free), which spares
    the thread hop; then the call runs to its end on the event loop.
    """

    def __init__(self, store: Store, *, offload: bool) -> None:
        self.sync = store
        self._offload = offload
        self._at_once: Callable[[Callable[[], Any]], tuple[bool, Any]] | None = getattr(
            store, "at_once", None
        )

    @property
    def inline(self) -> bool:
        """Whether each call runs to its end on the event loop, never suspending: nothing
        (a cancellation) can interrupt it half-way."""
        return not self._offload

    async def _call(self, fn: Callable[[], T]) -> T:
        if not self._offload:
            return fn()
        if self._at_once is not None:
            done, value = self._at_once(fn)
            if done:
                return cast(T, value)
        return await asyncio.to_thread(fn)

    async def admit(
        self, reservation_id: str, charges: Sequence[Charge], lease_s: float
    ) -> Admission:
        return await self._call(lambda: self.sync.admit(reservation_id, charges, lease_s))

    async def settle(self, reservation_id: str, actuals: Sequence[int]) -> bool:
        return await self._call(lambda: self.sync.settle(reservation_id, actuals))

    async def release(self, reservation_id: str) -> bool:
        return await self._call(lambda: self.sync.release(reservation_id))

    async def extend(self, reservation_id: str, lease_s: float) -> bool:
        return await self._call(lambda: self.sync.extend(reservation_id, lease_s))

    async def expire(self) -> int:
        return await self._call(self.sync.expire)

    async def read(self, windows: Sequence[tuple[str, ...]]) -> list[CounterState]:
        return await self._call(lambda: self.sync.read(windows))

    async def mark_once(self, marker: str, ttl_s: int) -> bool:
        return await self._call(lambda: self.sync.mark_once(marker, ttl_s))

    async def close(self) -> None:
        # not at once: close() takes the store's lock itself (at_once would hold it already)
        if self._offload:
            await asyncio.to_thread(self.sync.close)
        else:
            self.sync.close()
