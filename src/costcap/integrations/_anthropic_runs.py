"""One admitted Anthropic stream from first event to settlement (sync and async).

A run reads the SDK's own raw stream, shows every event to a :class:`Meter` (``message_start``:
input and cache usage; a tool call's ``content_block_start``: the tool's name; each
``content_block_delta``: text, thinking or tool JSON, counted as it flows; ``message_delta``:
the cumulative, final output count), renews the reservation's lease while it streams, and
settles exactly once, however the stream ends:

* read to the end — the provider's final usage, status ``ok``;
* the meter's count passed the reservation — :class:`StreamCut`: upstream closed, status ``cut``;
* the consumer stopped (``close()``, a loop left early, cancellation, garbage collection), or the
  stream failed mid-way — upstream closed at once, status ``cut``, priced with the provider's
  usage when it arrived, else ``message_start``'s input plus costcap's count of the text seen.

The upstream is always closed BEFORE the settle: paying stops first, bookkeeping follows.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any

import anyio
from anthropic import AsyncStream, Stream
from anthropic.types import RawMessageStreamEvent

from costcap.errors import StoreUnavailable
from costcap.guard import AsyncGuard, Guard
from costcap.integrations._meter import NAMED_CALLS, Meter
from costcap.service_tiers import anthropic_served_tier
from costcap.ticket import Ticket

__all__ = ["AsyncRun", "EventMeter", "SyncRun"]

log = logging.getLogger("costcap.integrations.anthropic")


def _delta_text(delta: Any) -> str:
    """The generated text a ``content_block_delta`` carries: text, thinking or tool-call JSON
    (all three are billed as output tokens)."""
    kind = getattr(delta, "type", None)
    if kind == "text_delta":
        return str(delta.text)
    if kind == "thinking_delta":
        return str(delta.thinking)
    if kind == "input_json_delta":
        return str(delta.partial_json)
    return ""


def _usage(start: Any, delta: Any = None) -> dict[str, Any]:
    """The usage to settle with: ``message_start``'s, updated by a ``message_delta``'s.

    Before ``message_delta`` the output is left at 0 (``message_start``'s output count is a
    placeholder, not text streamed): the meter adds its own count of the text seen. A
    ``message_delta`` carries the final, cumulative ``output_tokens`` and, optionally,
    cumulative input and cache counts; an omitted one (``None``) keeps ``message_start``'s
    value, as the SDK's own accumulator does.
    """

    def pick(name: str) -> Any:
        value = getattr(delta, name, None)
        return value if value is not None else getattr(start, name, None)

    return {
        "input_tokens": pick("input_tokens") or 0,
        "cache_read_input_tokens": pick("cache_read_input_tokens"),
        "cache_creation_input_tokens": pick("cache_creation_input_tokens"),
        "cache_creation": getattr(start, "cache_creation", None),
        "output_tokens": delta.output_tokens if delta is not None else 0,
    }


class EventMeter:
    """What the events of one stream say about its cost (pure: no I/O)."""

    def __init__(self, ticket: Ticket, lease_s: float) -> None:
        self.meter = Meter(ticket, lease_s)
        self._start: Any = None

    @property
    def served(self) -> str | None:
        """The tier ``message_start``'s usage says the stream is served at."""
        return anthropic_served_tier(self._start)

    def see(self, event: RawMessageStreamEvent) -> None:
        """Take one raw event into account; raises StreamCut past the reservation."""
        if event.type == "message_start":
            self._start = event.message.usage
            self.meter.set_usage(_usage(self._start), final=False)
        elif event.type == "content_block_delta":
            self.meter.add_text(_delta_text(event.delta))
        elif event.type == "content_block_start":  # a tool_use block opens with the tool's name
            block = event.content_block
            if block.type in NAMED_CALLS:
                self.meter.add_name(getattr(block, "name", None) or "")
        elif event.type == "message_delta":
            self.meter.set_usage(_usage(self._start, event.usage), final=True)


class SyncRun:
    """A metered ``anthropic.Stream``: ``events`` is the metered sequence of raw events."""

    def __init__(self, guard: Guard, ticket: Ticket, inner: Stream[RawMessageStreamEvent]) -> None:
        self.guard, self.ticket, self.inner = guard, ticket, inner
        self.tally = EventMeter(ticket, guard.lease_s)
        self.stopped = False
        self.settled = False
        self.completed = False  # the provider's stream was read to its end
        self.events: Generator[RawMessageStreamEvent, None, None] = self._metered()

    def _metered(self) -> Generator[RawMessageStreamEvent, None, None]:
        try:
            for event in self.inner:
                self.tally.see(event)
                if self.tally.meter.lease_due():
                    self._renew()
                yield event
        except BaseException:  # StreamCut, a provider error, or the consumer went away
            self.stop()
            raise
        self.completed = True
        self.stop()

    def stop(self) -> None:
        """Close the upstream (idempotent), then settle what was used (once)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if inspect.getgeneratorstate(self.events) != inspect.GEN_RUNNING:
                self.events.close()  # a later next() ends the iteration: no read of a closed body
            self.inner.close()
        finally:
            self._settle()

    def _renew(self) -> None:
        try:
            self.guard.extend(self.ticket)
        except StoreUnavailable as exc:  # best effort: an expired lease over-charges, never under
            log.warning("could not renew the lease of stream %s: %s", self.ticket.id, exc)

    def _settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        meter, served = self.tally.meter, self.tally.served
        self.guard.settle(
            self.ticket, meter.final_usage(), stream=True, status=meter.status, service_tier=served
        )

    def abandon(self) -> None:
        """The stream object was garbage-collected unclosed: close and settle now."""
        if self.stopped:
            return
        log.warning("an Anthropic stream (ticket %s) was dropped unclosed; closing it and "
                    "settling its partial cost", self.ticket.id)  # fmt: skip
        try:
            self.stop()
        except Exception:  # a finalizer has no caller to raise to: say it loudly
            log.exception("settling the dropped stream of ticket %s failed; its reservation "
                          "is charged in full when its lease expires", self.ticket.id)  # fmt: skip


class AsyncRun:
    """A metered ``anthropic.AsyncStream``; the async twin of :class:`SyncRun`."""

    def __init__(
        self, guard: AsyncGuard, ticket: Ticket, inner: AsyncStream[RawMessageStreamEvent]
    ) -> None:
        self.guard, self.ticket, self.inner = guard, ticket, inner
        self.tally = EventMeter(ticket, guard.lease_s)
        self.stopped = False
        self.settled = False
        self.completed = False  # the provider's stream was read to its end
        self._stopped: anyio.Event | None = None  # set once stop() has ended
        self._stopper: int | None = None  # the task running stop()
        self._at_yield = False  # the metered generator is suspended at a yield: safe to aclose
        self.events: AsyncGenerator[RawMessageStreamEvent, None] = self._metered()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # trio (under anyio): no loop to settle a dropped stream on
            self.loop = None

    async def _metered(self) -> AsyncGenerator[RawMessageStreamEvent, None]:
        try:
            async for event in self.inner:
                self.tally.see(event)
                if self.tally.meter.lease_due():
                    await self._renew()
                self._at_yield = True
                try:
                    yield event
                finally:
                    self._at_yield = False
        except BaseException:  # StreamCut, a provider error, cancellation, the consumer left
            await self.stop()
            raise
        self.completed = True
        await self.stop()

    async def stop(self) -> None:
        """Close the upstream (idempotent), then settle what was used (once). Shielded from
        cancellation: a cancelled consumer is exactly when this must run to the end."""
        if self.stopped:  # stopping in another task: wait for it (a close() returns settled);
            # in this one (the generator's own stop, reached from aclose below): go on
            if self._stopped is not None and self._stopper != anyio.get_current_task().id:
                with anyio.CancelScope(shield=True):
                    await self._stopped.wait()
            return
        self.stopped = True
        self._stopped, self._stopper = anyio.Event(), anyio.get_current_task().id
        with anyio.CancelScope(shield=True):
            try:
                if self._at_yield:
                    await self.events.aclose()  # a later __anext__ ends the iteration
                await self.inner.close()
            finally:
                try:
                    await self._settle()
                finally:
                    self._stopped.set()

    async def _renew(self) -> None:
        try:
            await self.guard.extend(self.ticket)
        except StoreUnavailable as exc:  # best effort: an expired lease over-charges, never under
            log.warning("could not renew the lease of stream %s: %s", self.ticket.id, exc)

    async def _settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        meter = self.tally.meter
        await self.guard.settle(
            self.ticket, meter.final_usage(), stream=True, status=meter.status,
            service_tier=self.tally.served,
        )  # fmt: skip

    def abandon(self) -> None:
        """The stream object was garbage-collected unclosed: close and settle it on its loop."""
        if self.stopped:
            return
        loop = self.loop
        if loop is None or loop.is_closed():
            log.error("an Anthropic stream (ticket %s) was dropped unclosed with no event loop to "
                      "settle it on; its reservation is charged in full when its lease expires",
                      self.ticket.id)  # fmt: skip
            return
        log.warning("an Anthropic stream (ticket %s) was dropped unclosed; closing it and "
                    "settling its partial cost", self.ticket.id)  # fmt: skip
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # collected in another thread (or between two runs of the loop)
            running = None
        if running is loop:  # on the loop's own thread: under way before guard.close() can run
            self._spawn_stop()
        else:
            loop.call_soon_threadsafe(self._spawn_stop)

    def _spawn_stop(self) -> None:
        self.guard._in_background(self._stop_logged())

    async def _stop_logged(self) -> None:
        try:
            await self.stop()
        except Exception:  # no caller to raise to: say it loudly
            log.exception("settling the dropped stream of ticket %s failed; its reservation "
                          "is charged in full when its lease expires", self.ticket.id)  # fmt: skip
