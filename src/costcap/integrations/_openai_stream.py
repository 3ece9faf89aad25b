"""Guarded OpenAI streams: ``openai.Stream`` / ``AsyncStream`` subclasses that meter what flows.

A guarded stream IS an SDK stream (``isinstance`` holds; ``with`` / ``async with``, iteration,
``next``, ``close()`` and ``.response`` behave as the SDK's), built around the SDK's own stream.
Each item passes a :class:`Tap` on its way to the consumer: the text it carries is counted
(:class:`~costcap.integrations._meter.Meter`), the provider's usage is kept when it shows it,
and the reservation's lease is renewed on a long stream. The call is settled exactly once:

========================================== ==================================================
how the stream ends                        settled as
========================================== ==================================================
the provider finished it                   ``ok``: the provider's usage (else costcap's count)
its output would pass the reservation      ``cut``: upstream closed, partial cost, StreamCut
the consumer stopped (``break``,           ``cut`` (``ok`` if the provider's final usage had
``close()``, leaving ``with``,             already arrived): upstream closed at once,
cancellation, garbage collection)          partial cost
the provider or the network failed         ``error``: partial cost (what was streamed is billed)
========================================== ==================================================

The partial cost is the provider's usage when its final figure arrived, else the input counted
at admission plus costcap's count of the output text that reached costcap: never $0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio
from openai import AsyncStream, Stream

from costcap.integrations._closing import Closing
from costcap.integrations._meter import NAMED_CALLS, Meter, StreamCut
from costcap.integrations._openai_request import served_tier
from costcap.ledger import Status
from costcap.ticket import Ticket

if TYPE_CHECKING:
    from costcap.guard import AsyncGuard, Guard
    from costcap.integrations._openai_request import Call

__all__ = ["GuardedAsyncStream", "GuardedStream", "Kept", "Tap"]

log = logging.getLogger("costcap.integrations.openai")

_T = TypeVar("_T")
Ending = Literal["completed", "stopped", "cut", "failed"]
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Kept(Protocol):
    """What a stream whose answer goes to the response cache does once it is settled:
    ``completed`` says it was read to its natural end (see
    :class:`costcap.integrations._openai_cache.Keeper`)."""

    def end(self, completed: bool) -> None: ...

    async def end_async(self, completed: bool) -> None: ...


class Tap:
    """What a guarded stream does with each item it passes on; sync and async share it.

    ``see(item)`` meters one item and says whether to pass it on (False: the usage chunk only
    costcap asked for); it raises :class:`StreamCut` when the output would pass the reservation.
    """

    __slots__ = (
        "chat", "done", "finished", "injected", "kept", "meter", "see", "served", "settler",
        "started",
    )  # fmt: skip

    def __init__(self, ticket: Ticket, lease_s: float, call: Call) -> None:
        self.meter = Meter(ticket, lease_s)
        self.chat = call.kind == "chat"
        self.injected = call.usage_injected
        self.done = False  # settled (or being settled): never twice
        self.started = False  # the metering generator has run (its finalizer will settle)
        self.finished: anyio.Event | None = None  # async: set once the settle has ended
        self.settler: int | None = None  # async: the task settling it
        self.see: Callable[[Any], bool] = self._chunk if self.chat else self._event
        self.served: str | None = None  # the service tier the stream says it is served at
        self.kept: Kept | None = call.kept  # a cache miss: its answer stored once settled

    @property
    def ticket(self) -> Ticket:
        return self.meter.ticket

    def _chunk(self, chunk: Any) -> bool:
        add, add_name = self.meter.add_text, self.meter.add_name
        tier = chunk.service_tier
        if tier is not None:
            self.served = tier
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                add(delta.content)
            if delta.refusal:
                add(delta.refusal)
            if delta.tool_calls:
                for tool_call in delta.tool_calls:
                    function = tool_call.function
                    if function is not None:
                        add_name(function.name or "")  # in the first delta of a call
                        add(function.arguments or "")
            if delta.function_call is not None:
                add(delta.function_call.arguments or "")
            extra = delta.model_extra  # OpenAI-compatible servers stream reasoning_content
            if extra:
                reasoning = extra.get("reasoning_content")
                if isinstance(reasoning, str):
                    add(reasoning)
        if chunk.usage is None:
            return True
        # The usage-only chunk (no choices) closes an include_usage stream: the final figure.
        self.meter.set_usage(chunk.usage, final=not chunk.choices)
        return bool(chunk.choices) or not self.injected

    def _event(self, event: Any) -> bool:
        kind = event.type
        if kind.endswith(".delta"):
            delta = getattr(event, "delta", None)
            if isinstance(delta, str) and "audio" not in kind:
                self.meter.add_text(delta)
        elif kind == "response.output_item.added":  # a call's item opens with the tool's name
            item = event.item
            if item.type in NAMED_CALLS:
                self.meter.add_name(getattr(item, "name", None) or "")
        elif kind in _FINAL_EVENTS:
            self.served = served_tier(event.response)
            usage = event.response.usage
            if usage is not None:
                self.meter.set_usage(usage, final=True)
        return True

    def settlement(self, ending: Ending) -> Status | None:
        """The status to settle with, once; None when already settled."""
        if self.done:
            return None
        self.done = True
        if ending == "completed":
            return "ok"
        if ending == "failed":
            return "error"
        if ending == "cut":
            return "cut"
        return "ok" if self.meter.final else "cut"  # stopped after the final usage: complete


# -- sync -------------------------------------------------------------------------------------


def _settle(guard: Guard, tap: Tap, ending: Ending, *, quiet: bool) -> None:
    status = tap.settlement(ending)
    if status is None:
        return
    settled = False
    try:
        guard.settle(
            tap.ticket, tap.meter.final_usage(), stream=True, status=status, service_tier=tap.served
        )
        settled = True
    except Exception:
        if not quiet:
            raise
        # Another exception is in flight, or no caller is left to tell: the reservation stays
        # and its lease expiry charges it in full (never lost).
        log.exception("could not settle streamed call %s; its lease will charge it in full",
                      tap.ticket.id)  # fmt: skip
    finally:
        if tap.kept is not None:
            tap.kept.end(settled and ending == "completed")


def _stop(inner: Stream[Any], guard: Guard, tap: Tap, ending: Ending, *, quiet: bool) -> None:
    """Close the upstream connection now, then settle what was streamed."""
    try:
        inner.close()
    finally:
        _settle(guard, tap, ending, quiet=quiet)


def _renew(guard: Guard, ticket: Ticket) -> None:
    try:
        guard.extend(ticket)
    except Exception:  # the stream goes on; at worst its lease expires and charges it in full
        log.warning("could not renew the lease of streamed call %s", ticket.id, exc_info=True)


def _metered(inner: Stream[_T], guard: Guard, tap: Tap) -> Iterator[_T]:
    tap.started = True
    ticket = tap.ticket
    see, lease_due = tap.see, tap.meter.lease_due
    try:
        for item in inner:
            keep = see(item)
            if lease_due():
                _renew(guard, ticket)
            if keep:
                yield item
                if tap.done:  # closed while the consumer held the item: read no further
                    return
    except GeneratorExit:  # the consumer went away: break, close(), garbage collection
        _stop(inner, guard, tap, "stopped", quiet=True)
        raise
    except StreamCut:
        _stop(inner, guard, tap, "cut", quiet=True)
        raise
    except Exception:  # the provider or the network failed mid-stream
        _stop(inner, guard, tap, "failed", quiet=True)
        raise
    except BaseException:  # KeyboardInterrupt and the like: the consumer stopped
        _stop(inner, guard, tap, "stopped", quiet=True)
        raise
    _settle(guard, tap, "completed", quiet=False)


class GuardedStream(Stream[_T]):
    """An ``openai.Stream`` whose items are metered and whose end settles the call."""

    def __init__(self, inner: Stream[_T], guard: Guard, tap: Tap) -> None:
        # Not Stream.__init__: the SDK's stream already owns the response and its decoder;
        # take its state as it is (whatever this SDK version keeps there).
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self._guard = guard
        self._tap = tap
        # A free generator (not a method): dropping the stream frees it at once, no cycle.
        self._iterator = _metered(inner, guard, tap)

    @property
    def costcap_ticket(self) -> Ticket:
        """The admission this stream is metered against."""
        return self._tap.ticket

    def __iter__(self) -> Iterator[_T]:
        # ``yield from``: when a ``for`` loop breaks, closing this generator closes the metered
        # one, which closes the upstream and settles.
        yield from self._iterator

    def close(self) -> None:
        """Close the response (the HTTP connection) and settle what was streamed."""
        _stop(self._inner, self._guard, self._tap, "stopped", quiet=False)

    def __del__(self) -> None:
        tap = getattr(self, "_tap", None)
        if tap is not None and not tap.done:  # last resort: never iterated to its end or closed
            _stop(self._inner, self._guard, tap, "stopped", quiet=True)


# -- async ------------------------------------------------------------------------------------


async def _asettle(guard: AsyncGuard, tap: Tap, ending: Ending, *, quiet: bool) -> None:
    status = tap.settlement(ending)
    if status is None:  # settled, or being settled by another task: wait for it to end, so
        # that a close() (``async with`` exit) returns with the call settled and recorded
        if tap.finished is not None and tap.settler != anyio.get_current_task().id:
            await tap.finished.wait()
        return
    tap.finished, tap.settler = anyio.Event(), anyio.get_current_task().id
    settled = False
    try:
        await guard.settle(
            tap.ticket, tap.meter.final_usage(), stream=True, status=status, service_tier=tap.served
        )
        settled = True
    except Exception:
        if not quiet:
            raise
        log.exception("could not settle streamed call %s; its lease will charge it in full",
                      tap.ticket.id)  # fmt: skip
    finally:
        try:
            if tap.kept is not None:
                await tap.kept.end_async(settled and ending == "completed")
        finally:
            tap.finished.set()


async def _astop(
    inner: AsyncStream[Any], guard: AsyncGuard, tap: Tap, ending: Ending, *, quiet: bool
) -> None:
    # Shielded: a cancelled task (or anyio/trio scope) still closes the upstream and settles.
    with anyio.CancelScope(shield=True):
        try:
            await inner.close()
        finally:
            await _asettle(guard, tap, ending, quiet=quiet)


async def _arenew(guard: AsyncGuard, ticket: Ticket) -> None:
    try:
        await guard.extend(ticket)
    except Exception:  # as _renew
        log.warning("could not renew the lease of streamed call %s", ticket.id, exc_info=True)


async def _ametered(
    inner: AsyncStream[_T], guard: AsyncGuard, tap: Tap
) -> AsyncGenerator[_T, None]:
    tap.started = True
    ticket = tap.ticket
    see, lease_due = tap.see, tap.meter.lease_due
    try:
        async for item in inner:
            keep = see(item)
            if lease_due():
                await _arenew(guard, ticket)
            if keep:
                yield item
                if tap.done:
                    return
    except GeneratorExit:  # aclose(): break (via Closing), close, garbage collection
        await _astop(inner, guard, tap, "stopped", quiet=True)
        raise
    except StreamCut:
        await _astop(inner, guard, tap, "cut", quiet=True)
        raise
    except Exception:  # the provider or the network failed mid-stream
        await _astop(inner, guard, tap, "failed", quiet=True)
        raise
    except BaseException:  # the consuming task was cancelled
        await _astop(inner, guard, tap, "stopped", quiet=True)
        raise
    await _asettle(guard, tap, "completed", quiet=False)


class GuardedAsyncStream(AsyncStream[_T]):
    """An ``openai.AsyncStream`` whose items are metered and whose end settles the call."""

    def __init__(self, inner: AsyncStream[_T], guard: AsyncGuard, tap: Tap) -> None:
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self._guard = guard
        self._tap = tap
        self._metered = _ametered(inner, guard, tap)
        self._iterator = self._metered

    @property
    def costcap_ticket(self) -> Ticket:
        """The admission this stream is metered against."""
        return self._tap.ticket

    def __aiter__(self) -> AsyncIterator[_T]:
        # Left early (``break``), the loop's iterator closes the metered generator at once, in a
        # task the guard holds: the upstream stops and the call settles before guard.close().
        return Closing(self._metered, self._guard)

    async def close(self) -> None:
        """Close the response (the HTTP connection) and settle what was streamed."""
        await _astop(self._inner, self._guard, self._tap, "stopped", quiet=False)

    def __del__(self) -> None:
        tap = getattr(self, "_tap", None)
        if tap is None or tap.done or tap.started:
            return  # settled, or the metering generator's own finalizer settles it
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.warning("stream of call %s dropped unclosed outside its event loop; its lease "
                        "will charge it in full", tap.ticket.id)  # fmt: skip
            return
        self._guard._in_background(_astop(self._inner, self._guard, tap, "stopped", quiet=True))
