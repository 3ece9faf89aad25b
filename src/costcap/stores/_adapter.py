"""Serve a synchronous store to asyncio callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from costcap.stores._base import Admission, Charge, CounterState, Store

__all__ = ["AsyncAdapter"]

T = TypeVar("T")


class AsyncAdapter:
    """An :class:`AsyncStore` over a :class:`Store`.

    ``offload=False`` calls straight through on the event loop, right for the memory store whose
    critical sections are short and never block on I/O; ``offload=True`` runs each call in a worker
    thread (SQLite, whose ``BEGIN IMMEDIATE`` may wait on another process's lock).
    """

    def __init__(self, store: Store, *, offload: bool) -> None:
        self.sync = store
        self._offload = offload

    @property
    def inline(self) -> bool:
        """Whether each call runs to its end on the event loop, never suspending: nothing
        (a cancellation) can interrupt it half-way."""
        return not self._offload

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn) if self._offload else fn()

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
        await self._call(self.sync.close)
