"""Async iteration whose early end is settled in work the guard knows about.

``async for event in stream: … break`` drops the loop's iterator half-way. Were that iterator an
async generator, the event loop would close it "soon", in a task nobody holds: a guard (or its
store, or a ledger) closed meanwhile loses the settlement. :class:`Closing` wraps the generator
instead; dropped before its end, it closes the generator at once, in a task the guard holds
(``AsyncGuard.close`` waits for it), so the settle is under way before the next statement runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from costcap.guard import AsyncGuard

__all__ = ["Closing"]

log = logging.getLogger("costcap.integrations")

T = TypeVar("T")


class Closing(AsyncIterator[T]):
    """``source``'s items; dropped after it started and before its end, ``source`` is closed
    (its ``finally`` blocks settle the call) in a task ``guard`` holds."""

    __slots__ = ("_ended", "_guard", "_source", "_started")

    def __init__(self, source: AsyncGenerator[T, None], guard: AsyncGuard) -> None:
        self._source = source
        self._guard = guard
        self._started = False
        self._ended = False

    def __aiter__(self) -> Closing[T]:
        return self

    async def __anext__(self) -> T:
        self._started = True
        try:
            return await self._source.__anext__()
        except BaseException:  # whatever leaves the generator has ended it
            self._ended = True
            raise

    async def aclose(self) -> None:
        self._ended = True
        await self._source.aclose()

    def __del__(self) -> None:
        if not self._started or self._ended:
            return  # nothing to close: never started (no finally to run), or already over
        self._ended = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on a running loop: the loop's own finalizer closes source
            return
        self._guard._in_background(_close(self._source))


async def _close(source: AsyncGenerator[object, None]) -> None:
    try:
        await source.aclose()
    except Exception:  # a task of its own: nobody to raise to
        log.exception("closing an abandoned stream failed")
