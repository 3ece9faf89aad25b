"""The SDK's own stream types, metered: what the guarded client returns for streamed calls.

* :class:`MeteredStream` / :class:`AsyncMeteredStream` ARE ``anthropic.Stream`` /
  ``AsyncStream`` (``messages.create(stream=True)``): they read through the SDK's stream, which
  keeps its HTTP response, decoding, errors and tracing.
* :class:`MeteredMessageStream` / :class:`AsyncMeteredMessageStream` ARE the SDK's
  ``MessageStream`` / ``AsyncMessageStream`` over a metered raw stream: events, ``text_stream``,
  ``get_final_message()``, ``until_done()``, ``close()`` behave as the SDK's;
  :class:`MeteredBetaMessageStream` / :class:`AsyncMeteredBetaMessageStream` the same for
  ``beta.messages.stream(...)`` (the SDK's ``BetaMessageStream``, Beta* messages).
* :class:`GuardedMessageStreamManager` / :class:`AsyncGuardedMessageStreamManager` (and their
  Beta twins) ARE the SDK's managers (``messages.stream(...)``): entering one admits the call,
  then opens the stream.

Where they differ from the SDK, on purpose: leaving a loop early (``break``, an exception in its
body, cancellation) closes the stream at once — the SDK keeps the connection open, and the
provider generating, until ``close()`` or the end of the ``with`` block. And a manager can be
iterated directly (``for event in client.messages.stream(...)``, ``async for …``), a costcap
addition: the SDK's managers are only context managers.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from anthropic import AsyncStream, Stream
from anthropic.lib.streaming import (
    AsyncMessageStream,
    AsyncMessageStreamManager,
    BetaAsyncMessageStream,
    BetaAsyncMessageStreamManager,
    BetaMessageStream,
    BetaMessageStreamManager,
    MessageStream,
    MessageStreamManager,
)
from anthropic.types import RawMessageStreamEvent

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._anthropic_runs import AsyncRun, SyncRun
from costcap.integrations._closing import Closing
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.ticket import Ticket

__all__ = [
    "AsyncGuardedBetaMessageStreamManager",
    "AsyncGuardedMessageStreamManager",
    "AsyncMeteredBetaMessageStream",
    "AsyncMeteredMessageStream",
    "AsyncMeteredStream",
    "GuardedBetaMessageStreamManager",
    "GuardedMessageStreamManager",
    "MeteredBetaMessageStream",
    "MeteredMessageStream",
    "MeteredStream",
]

T = TypeVar("T")
S = TypeVar("S")


def _text_of(event: Any) -> str | None:
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        text: str = event.delta.text
        return text
    return None


# -- raw streams: messages.create(stream=True) ------------------------------------------------


class MeteredStream(Stream[RawMessageStreamEvent]):
    """An ``anthropic.Stream`` of raw events, metered and settled by costcap."""

    def __init__(
        self,
        inner: Stream[RawMessageStreamEvent],
        guard: Guard,
        ticket: Ticket,
        run: SyncRun | None = None,
    ) -> None:
        # Stream.__init__ is not called: this stream reads through ``inner``, which owns the
        # HTTP response (kept here too, for ``.response`` and the SDK's tracing hooks). ``run``:
        # a run of ``inner`` built by the caller (one that records it for the response cache).
        self.response = inner.response
        self._options = inner._options
        self._run = SyncRun(guard, ticket, inner) if run is None else run
        # The last resort: a stream dropped unclosed is closed and settled when collected.
        weakref.finalize(self, self._run.abandon)

    @property
    def ticket(self) -> Ticket:
        """costcap's ticket for this call (``ticket.cost`` once settled)."""
        return self._run.ticket

    def __next__(self) -> RawMessageStreamEvent:
        return next(self._run.events)

    def __iter__(self) -> Iterator[RawMessageStreamEvent]:
        run = self._run
        finished = False
        try:
            yield from _unclosed(run.events)
            finished = True
        finally:
            if not finished:  # the consumer left the loop early: stop paying now
                run.stop()

    def close(self) -> None:
        """Close the response at once and settle what was streamed."""
        self._run.stop()


class AsyncMeteredStream(AsyncStream[RawMessageStreamEvent]):
    """An ``anthropic.AsyncStream`` of raw events, metered and settled by costcap."""

    def __init__(
        self,
        inner: AsyncStream[RawMessageStreamEvent],
        guard: AsyncGuard,
        ticket: Ticket,
        run: AsyncRun | None = None,
    ) -> None:
        # AsyncStream.__init__ is not called: see MeteredStream.
        self.response = inner.response
        self._options = inner._options
        self._run = AsyncRun(guard, ticket, inner) if run is None else run
        weakref.finalize(self, self._run.abandon)

    @property
    def ticket(self) -> Ticket:
        """costcap's ticket for this call (``ticket.cost`` once settled)."""
        return self._run.ticket

    async def __anext__(self) -> RawMessageStreamEvent:
        return await self._run.events.__anext__()

    def __aiter__(self) -> AsyncIterator[RawMessageStreamEvent]:
        # Left early, the loop's iterator stops the run at once, in a task the guard holds.
        return Closing(self._events(), self._run.guard)

    async def _events(self) -> AsyncGenerator[RawMessageStreamEvent, None]:
        run = self._run
        finished = False
        try:
            while True:
                try:
                    event = await run.events.__anext__()
                except StopAsyncIteration:
                    break
                yield event
            finished = True
        finally:
            if not finished:  # the consumer left the loop early: stop paying now
                await run.stop()

    async def close(self) -> None:
        """Close the response at once and settle what was streamed."""
        await self._run.stop()


def _unclosed(events: Iterator[T]) -> Iterator[T]:
    """``events`` one by one; closing this does not close ``events`` (the run decides)."""
    for event in events:  # noqa: UP028 - ``yield from`` would pass close() on
        yield event


# -- message streams: messages.stream(...) -----------------------------------------------------
#
# The SDK's MessageStream and BetaMessageStream accumulate different message types; what costcap
# changes in them (leaving a loop early closes the stream) is the same, in these mixins.


class _Metering:
    """``text_stream`` and iteration over the SDK's (Beta)MessageStream that close the stream
    when the consumer leaves early."""

    _metered: MeteredStream

    if TYPE_CHECKING:

        def __next__(self) -> Any: ...

        def close(self) -> None: ...

    @property
    def ticket(self) -> Ticket:
        """costcap's ticket for this call (``ticket.cost`` once settled)."""
        return self._metered.ticket

    @property
    def text_stream(self) -> Iterator[str]:
        """The text deltas, as the SDK's ``text_stream``; a loop that stops early closes the
        stream (a fresh iterator per access, so nothing holds an abandoned one open)."""
        return self._text()

    @text_stream.setter
    def text_stream(self, value: Iterator[str]) -> None:
        """An SDK whose ``__init__`` sets its own generator: this class makes its own."""

    def _text(self) -> Iterator[str]:
        finished = False
        try:
            while True:
                try:
                    event = self.__next__()
                except StopIteration:
                    break
                text = _text_of(event)
                if text is not None:
                    yield text
            finished = True
        finally:
            if not finished:
                self.close()

    def __iter__(self) -> Iterator[Any]:
        finished = False
        try:
            while True:
                try:
                    event = self.__next__()
                except StopIteration:
                    break
                yield event
            finished = True
        finally:
            if not finished:  # the consumer left the loop early: stop paying now
                self.close()


class _AsyncMetering:
    """The async twin of :class:`_Metering`."""

    _metered: AsyncMeteredStream

    if TYPE_CHECKING:

        async def __anext__(self) -> Any: ...

        async def close(self) -> None: ...

    @property
    def ticket(self) -> Ticket:
        """costcap's ticket for this call (``ticket.cost`` once settled)."""
        return self._metered.ticket

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas, as the SDK's ``text_stream``; a loop that stops early closes the
        stream (a fresh iterator per access, so nothing holds an abandoned one open)."""
        return Closing(self._text(), self._metered._run.guard)

    @text_stream.setter
    def text_stream(self, value: AsyncIterator[str]) -> None:
        """An SDK whose ``__init__`` sets its own generator: this class makes its own."""

    async def _text(self) -> AsyncGenerator[str, None]:
        finished = False
        try:
            while True:
                try:
                    event = await self.__anext__()
                except StopAsyncIteration:
                    break
                text = _text_of(event)
                if text is not None:
                    yield text
            finished = True
        finally:
            if not finished:
                await self.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return Closing(self._events(), self._metered._run.guard)

    async def _events(self) -> AsyncGenerator[Any, None]:
        finished = False
        try:
            while True:
                try:
                    event = await self.__anext__()
                except StopAsyncIteration:
                    break
                yield event
            finished = True
        finally:
            if not finished:  # the consumer left the loop early: stop paying now
                await self.close()


class MeteredMessageStream(_Metering, MessageStream[T]):
    """The SDK's ``MessageStream`` over a :class:`MeteredStream`."""

    def __init__(self, raw: MeteredStream, output_format: Any) -> None:
        super().__init__(raw, output_format)
        self._metered = raw


class MeteredBetaMessageStream(_Metering, BetaMessageStream[T]):
    """The SDK's ``BetaMessageStream`` over a :class:`MeteredStream` (of Beta events)."""

    def __init__(self, raw: MeteredStream, output_format: Any) -> None:
        super().__init__(cast(Any, raw), output_format)
        self._metered = raw


class AsyncMeteredMessageStream(_AsyncMetering, AsyncMessageStream[T]):
    """The SDK's ``AsyncMessageStream`` over an :class:`AsyncMeteredStream`."""

    def __init__(self, raw: AsyncMeteredStream, output_format: Any) -> None:
        super().__init__(raw, output_format)
        self._metered = raw


class AsyncMeteredBetaMessageStream(_AsyncMetering, BetaAsyncMessageStream[T]):
    """The SDK's ``BetaAsyncMessageStream`` over an :class:`AsyncMeteredStream` (of Beta
    events)."""

    def __init__(self, raw: AsyncMeteredStream, output_format: Any) -> None:
        super().__init__(cast(Any, raw), output_format)
        self._metered = raw


# -- managers: what messages.stream(...) returns -----------------------------------------------


class _Opening(Opening[S]):
    """A message stream manager whose ``with`` admits the call and opens a metered stream.

    Iterating it directly (``for event in client.messages.stream(...)``) is a costcap addition:
    it enters, yields every event and closes.
    """

    def __iter__(self) -> Iterator[Any]:
        with self as stream:
            yield from stream  # type: ignore[misc]


class _AsyncOpening(AsyncOpening[S]):
    """A message stream manager whose ``async with`` admits the call and opens a metered
    stream. ``async for event in client.messages.stream(...)`` is a costcap addition."""

    def __init__(self, open_stream: Callable[[], Awaitable[S]], guard: AsyncGuard) -> None:
        super().__init__(open_stream)
        self._guard = guard

    def __aiter__(self) -> AsyncIterator[Any]:
        return Closing(self._events(), self._guard)

    async def _events(self) -> AsyncGenerator[Any, None]:
        async with self as stream:
            async for event in stream:  # type: ignore[attr-defined]
                yield event


class GuardedMessageStreamManager(_Opening[MeteredMessageStream[T]], MessageStreamManager[T]):
    """The SDK's ``MessageStreamManager``, opened by costcap."""


class GuardedBetaMessageStreamManager(
    _Opening[MeteredBetaMessageStream[T]], BetaMessageStreamManager[T]
):
    """The SDK's ``BetaMessageStreamManager``, opened by costcap."""


class AsyncGuardedMessageStreamManager(
    _AsyncOpening[AsyncMeteredMessageStream[T]], AsyncMessageStreamManager[T]
):
    """The SDK's ``AsyncMessageStreamManager``, opened by costcap."""


class AsyncGuardedBetaMessageStreamManager(
    _AsyncOpening[AsyncMeteredBetaMessageStream[T]], BetaAsyncMessageStreamManager[T]
):
    """The SDK's ``BetaAsyncMessageStreamManager``, opened by costcap."""
