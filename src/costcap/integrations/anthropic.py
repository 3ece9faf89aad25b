"""``costcap.wrap(anthropic.Anthropic())``: the Anthropic SDK, every call bounded and settled.

::

    client = costcap.wrap(anthropic.AsyncAnthropic(), guard=guard, feature="chat")
    message = await client.messages.create(model="claude-haiku-4-5", messages=messages)
    async with client.messages.stream(model=…, messages=…, max_tokens=512) as stream:
        async for text in stream.text_stream: …

The guarded client is used exactly like the SDK's (``isinstance(client, anthropic.Anthropic)``
holds) and returns the SDK's own objects. Every attribute is the real client's except
``messages.create`` (streamed or not), ``messages.stream`` and ``messages.parse``, the same
through ``messages.with_raw_response`` / ``with_streaming_response``, and all of these on
``beta.messages`` (the SDK's Beta* objects), which

1. resolve who the call is for (``costcap_user_id=`` / ``costcap_feature=`` /
   ``costcap_api_key=`` / ``costcap_endpoint=`` keyword arguments, removed before the SDK sees
   them; else a ``costcap.attribute()`` block; else the client's defaults; the user falls back
   to the request's own ``metadata.user_id``);
2. admit it (``guard.admit`` with messages, system, tools and ``max_tokens``: policy, worst
   case, budgets and rate limits in one atomic step; no ``max_tokens`` → the policy's default);
3. send it carrying ``ticket.max_tokens`` (also when ``extra_body`` named one);
4. settle it with the provider's usage (``input_tokens`` excludes the prompt cache on Anthropic;
   cache reads and writes are priced at their own rates) — or, for a stream, once, however it
   ends (see :mod:`costcap.integrations._anthropic_runs`). A raw response is settled before it
   is returned (streamed: its ``parse()`` is the metered stream); a streaming response's body
   is metered as it is read and settled when its block is left
   (see :mod:`costcap.integrations._metered_body`).

With ``wrap(…, cache=…)`` each of these asks the response cache first (keyed with the
``max_tokens`` the policy gives; ``costcap_cache=False`` or ``Cache-Control: no-store`` in
``extra_headers`` bypass it, ``no-cache`` refreshes it): a hit is replayed by the SDK's own method
of the same path over the stored answer — the same ``Message``, ``Stream``, ``MessageStream``,
raw or streaming response, at $0 — and a miss stores the provider's answer once it is whole (see
:mod:`costcap.integrations._anthropic_cached_calls`).

A call whose ``model`` is a route name (``costcap:auto``, ``costcap:<tier>``) is routed by the
guard's router first (:mod:`costcap.integrations._routing`); each model tried — the one decided,
a fallback after the provider failed, a cascade's next tier — goes through the steps above.

The SDK's retries stay the SDK's: one admission per call, whatever the attempts. An SDK error
(``anthropic.APIError`` …) releases the reservation (an ``error`` event at $0) and is raised
unchanged. A call interrupted in flight (cancellation, ``KeyboardInterrupt``) may still be
billed, so it is settled ``cut``: its prompt, plus ``max_tokens`` when not streamed (a provider
finishes a non-streamed generation whose client went away). ``with_options`` / ``copy`` return
a guarded client. Paths that would spend without a reservation raise ``NotImplementedError``:
the client's own ``with_raw_response`` / ``with_streaming_response`` (the resources' are
guarded), ``batches.create`` (of ``messages`` and ``beta.messages``, also through their raw and
streaming views: batches spend unseen) and ``beta.messages.tool_runner``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar, cast

import anyio
from anthropic import AnthropicError, AsyncStream, Stream, omit
from anthropic.resources.messages import AsyncMessages, Messages

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._anthropic_body import BETA, MESSAGES, Shapes, account, body_usage
from costcap.integrations._anthropic_cache import CacheSide
from costcap.integrations._anthropic_cached_calls import AsyncCachedCalls, SyncCachedCalls
from costcap.integrations._anthropic_client import (
    BATCH_SPENDING,
    BETA_REFUSED,
    Client,
    Refusing,
    View,
    unguarded,
)
from costcap.integrations._anthropic_request import SDK, Call, interrupted, read_call
from costcap.integrations._anthropic_streams import (
    AsyncGuardedBetaMessageStreamManager,
    AsyncGuardedMessageStreamManager,
    AsyncMeteredBetaMessageStream,
    AsyncMeteredMessageStream,
    AsyncMeteredStream,
    GuardedBetaMessageStreamManager,
    GuardedMessageStreamManager,
    MeteredBetaMessageStream,
    MeteredMessageStream,
    MeteredStream,
)
from costcap.integrations._attribution import Attribution
from costcap.integrations._client import (
    GuardedAsyncClient,
    GuardedResource,
    GuardedSyncClient,
    keep_parsed,
)
from costcap.integrations._meter import StreamCut
from costcap.integrations._metered_body import ask_plain_body, meter_body
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.integrations._routing import (
    AsyncRoutedOpening,
    RoutedOpening,
    asks_route,
    route_call,
    route_call_async,
)
from costcap.service_tiers import anthropic_served_tier
from costcap.ticket import Ticket

__all__ = [
    "AsyncMeteredMessageStream",
    "AsyncMeteredStream",
    "MeteredMessageStream",
    "MeteredStream",
    "StreamCut",
    "guarded_anthropic",
]

log = logging.getLogger("costcap.integrations.anthropic")

R = TypeVar("R")
# -- messages -------------------------------------------------------------------------------------


class _Messages(GuardedResource):
    """``client.messages`` / ``client.beta.messages``: ``create``/``stream``/``parse`` and their
    ``with_raw_response`` / ``with_streaming_response`` guarded, the rest the real one's; on a
    client with a response cache (``_side``) they go through it."""

    __slots__ = ("_side",)
    _path: ClassVar[str] = "messages"
    _shapes: ClassVar[Shapes] = MESSAGES
    _refused: ClassVar[frozenset[str]] = frozenset()  # spending methods costcap does not guard

    def __init__(
        self, real: Any, guard: Any, default: Attribution, side: CacheSide | None = None
    ) -> None:
        super().__init__(real, guard, default)
        self._side = side

    def __getattr__(self, name: str) -> Any:
        if name in self._refused:
            unguarded(f"{self._path}.{name}")
        return getattr(self._real, name)

    @property
    def batches(self) -> Refusing:
        return Refusing(self._real.batches, f"{self._path}.batches", BATCH_SPENDING)

    @property
    def with_raw_response(self) -> View:
        """The SDK's ``with_raw_response``: ``create``/``parse`` return its raw response
        (``.headers``, ``.parse()``), admitted and settled like the plain call."""
        return View(self._real.with_raw_response, self._raw, f"{self._path}.with_raw_response")

    @property
    def with_streaming_response(self) -> View:
        """The SDK's ``with_streaming_response``: ``create`` returns a context manager giving its
        streaming response, the body metered as it is read."""
        return View(self._real.with_streaming_response, self._streaming,
                     f"{self._path}.with_streaming_response")  # fmt: skip

    def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _routed(self, kwargs: dict[str, Any], again: Callable[..., Any], plain: bool) -> Any:
        """A call naming a route (:mod:`costcap.integrations._routing`): ``again`` runs this
        path with each model tried; a ``plain`` one (not streamed) may be cascaded."""
        route = route_call_async if isinstance(self._guard, AsyncGuard) else route_call
        return route(self._guard, self._default, kwargs, again, SDK, plain=plain)


class _SyncMessages(SyncCachedCalls, _Messages):
    __slots__ = ()
    _guard: Guard
    _message_stream: ClassVar[type[Any]] = MeteredMessageStream
    _manager: ClassVar[type[Any]] = GuardedMessageStreamManager

    def _send(self, call: Call, send: Callable[..., R]) -> tuple[Ticket, R]:
        guard = self._guard
        ticket = guard.admit(**call.admission)
        try:
            return ticket, send(**call.bound(ticket))
        except Exception:  # the SDK's own error (after its retries): nothing billed
            guard.release(ticket)
            raise
        except BaseException:  # interrupted in flight: the provider may bill it
            try:
                guard.settle(ticket, interrupted(ticket, call), stream=call.stream, status="cut")
            except Exception:  # the interruption propagates; the failed settle is logged
                log.exception("could not settle interrupted call %s", ticket.id)
            raise

    def _finish(self, ticket: Ticket, result: Any) -> Any:
        """A stream metered, an answer settled."""
        if isinstance(result, Stream):
            return MeteredStream(result, self._guard, ticket)
        usage = result.usage
        self._guard.settle(ticket, usage, service_tier=anthropic_served_tier(usage))
        return result

    def create(self, **kwargs: Any) -> Any:
        """``messages.create(...)``: a ``Message``, or with ``stream=True`` an
        ``anthropic.Stream`` of raw events, metered and settled by costcap."""
        if asks_route(kwargs):  # each model tried comes back here
            return self._routed(kwargs, lambda kw: self.create(**kw), not kwargs.get("stream"))
        if self._side is not None:
            return self._cached_call("create", self._real.create, kwargs)
        return self._finish(*self._send(read_call(kwargs, self._default), self._real.create))

    def parse(self, **kwargs: Any) -> Any:
        """``messages.parse(...)`` (structured output): a ``ParsedMessage``, settled."""
        if asks_route(kwargs):
            return self._routed(kwargs, lambda kw: self.parse(**kw), True)
        if self._side is not None:
            return self._cached_call("parse", self._real.parse, kwargs)
        return self._finish(*self._send(read_call(kwargs, self._default), self._real.parse))

    def stream(self, **kwargs: Any) -> Any:
        """``messages.stream(...)``: entering the manager admits the call and opens a metered
        ``MessageStream``; leaving it closes the stream and settles what was used."""
        if asks_route(kwargs):  # routed when entered; leaving closes the stream it opened
            return self._manager(lambda: self._routed(kwargs, self._entered_stream, False))
        if self._side is not None:
            return self._cached_stream(kwargs)
        call = read_call(kwargs, self._default, stream=True)

        def enter(**sdk_kwargs: Any) -> Any:
            return self._real.stream(**sdk_kwargs).__enter__()

        def open_stream() -> Any:
            ticket, sdk_stream = self._send(call, enter)
            raw = MeteredStream(sdk_stream._raw_stream, self._guard, ticket)
            return self._message_stream(raw, call.kwargs.get("output_format", omit))

        return self._manager(open_stream)

    def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if asks_route(kwargs):
            plain = not kwargs.get("stream")
            return self._routed(kwargs, lambda kw: self._raw(method, kw), plain)
        if self._side is not None:
            return self._cached_raw(method, kwargs)
        ticket, raw = self._send(read_call(kwargs, self._default), method)
        try:
            parsed = raw.parse()  # built once: the caller's parse() gives the same object
        except (AnthropicError, ValueError):  # the caller's own parse() raises it again; the
            # call was answered, and its usage is in the body
            usage, served = body_usage(raw.http_response.content, self._shapes)
            self._guard.settle(ticket, usage, service_tier=served)
            return raw
        keep_parsed(raw, self._finish(ticket, parsed))
        return raw

    def _entered_stream(self, kwargs: dict[str, Any]) -> Any:
        return self.stream(**kwargs).__enter__()

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Opening[Any]:
        if asks_route(kwargs):
            return RoutedOpening(lambda attempt: self._routed(kwargs, attempt, False),
                                 lambda kw: self._streaming(method, kw))  # fmt: skip
        if self._side is not None:
            return self._cached_streaming(method, kwargs)  # type: ignore[no-any-return]

        def enter(**sdk_kwargs: Any) -> Any:
            return method(**sdk_kwargs).__enter__()

        def open_response() -> Any:
            ask_plain_body(kwargs)
            ticket, response = self._send(read_call(kwargs, self._default), enter)
            return meter_body(response, self._guard,
                              account(ticket, self._guard.lease_s, self._shapes))  # fmt: skip

        return Opening(open_response)


class _AsyncMessages(AsyncCachedCalls, _Messages):
    __slots__ = ()
    _guard: AsyncGuard
    _message_stream: ClassVar[type[Any]] = AsyncMeteredMessageStream
    _manager: ClassVar[type[Any]] = AsyncGuardedMessageStreamManager

    async def _send(self, call: Call, send: Callable[..., Awaitable[R]]) -> tuple[Ticket, R]:
        guard = self._guard
        ticket = await guard.admit(**call.admission)
        try:
            return ticket, await send(**call.bound(ticket))
        except Exception:  # the SDK's own error (after its retries): nothing billed
            with anyio.CancelScope(shield=True):
                await guard.release(ticket)
            raise
        except BaseException:  # cancelled in flight: the provider may bill it
            with anyio.CancelScope(shield=True):
                try:
                    usage = interrupted(ticket, call)
                    await guard.settle(ticket, usage, stream=call.stream, status="cut")
                except Exception:  # the cancellation propagates; the failed settle is logged
                    log.exception("could not settle interrupted call %s", ticket.id)
            raise

    async def _finish(self, ticket: Ticket, result: Any) -> Any:
        if isinstance(result, AsyncStream):
            return AsyncMeteredStream(result, self._guard, ticket)
        usage = result.usage
        await self._guard.settle(ticket, usage, service_tier=anthropic_served_tier(usage))
        return result

    async def create(self, **kwargs: Any) -> Any:
        """``messages.create(...)``: a ``Message``, or with ``stream=True`` an
        ``anthropic.AsyncStream`` of raw events, metered and settled by costcap."""
        if asks_route(kwargs):
            plain = not kwargs.get("stream")
            return await self._routed(kwargs, lambda kw: self.create(**kw), plain)
        if self._side is not None:
            return await self._cached_call("create", self._real.create, kwargs)
        call = read_call(kwargs, self._default)
        return await self._finish(*await self._send(call, self._real.create))

    async def parse(self, **kwargs: Any) -> Any:
        """``messages.parse(...)`` (structured output): a ``ParsedMessage``, settled."""
        if asks_route(kwargs):
            return await self._routed(kwargs, lambda kw: self.parse(**kw), True)
        if self._side is not None:
            return await self._cached_call("parse", self._real.parse, kwargs)
        call = read_call(kwargs, self._default)
        return await self._finish(*await self._send(call, self._real.parse))

    def stream(self, **kwargs: Any) -> Any:
        """``messages.stream(...)``: ``async with`` admits the call and opens a metered
        ``AsyncMessageStream``; leaving it closes the stream and settles what was used."""
        if asks_route(kwargs):  # as _SyncMessages.stream
            opened = lambda: self._routed(kwargs, self._entered_stream, False)  # noqa: E731
            return self._manager(opened, self._guard)
        if self._side is not None:
            return self._cached_stream(kwargs)
        call = read_call(kwargs, self._default, stream=True)

        async def enter(**sdk_kwargs: Any) -> Any:
            return await self._real.stream(**sdk_kwargs).__aenter__()

        async def open_stream() -> Any:
            ticket, sdk_stream = await self._send(call, enter)
            raw = AsyncMeteredStream(sdk_stream._raw_stream, self._guard, ticket)
            return self._message_stream(raw, call.kwargs.get("output_format", omit))

        return self._manager(open_stream, self._guard)

    async def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if asks_route(kwargs):
            plain = not kwargs.get("stream")
            return await self._routed(kwargs, lambda kw: self._raw(method, kw), plain)
        if self._side is not None:
            return await self._cached_raw(method, kwargs)
        ticket, raw = await self._send(read_call(kwargs, self._default), method)
        try:
            parsed = await raw.parse()  # built once: the caller's parse() gives the same object
        except (AnthropicError, ValueError):  # as _SyncMessages._raw
            usage, served = body_usage(raw.http_response.content, self._shapes)
            await self._guard.settle(ticket, usage, service_tier=served)
            return raw
        keep_parsed(raw, await self._finish(ticket, parsed))
        return raw

    async def _entered_stream(self, kwargs: dict[str, Any]) -> Any:
        return await self.stream(**kwargs).__aenter__()

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncOpening[Any]:
        if asks_route(kwargs):
            return AsyncRoutedOpening(lambda attempt: self._routed(kwargs, attempt, False),
                                      lambda kw: self._streaming(method, kw))  # fmt: skip
        if self._side is not None:
            return self._cached_streaming(method, kwargs)  # type: ignore[no-any-return]

        async def enter(**sdk_kwargs: Any) -> Any:
            return await method(**sdk_kwargs).__aenter__()

        async def open_response() -> Any:
            ask_plain_body(kwargs)
            ticket, response = await self._send(read_call(kwargs, self._default), enter)
            return meter_body(response, self._guard,
                              account(ticket, self._guard.lease_s, self._shapes))  # fmt: skip

        return AsyncOpening(open_response)


class _SyncBetaMessages(_SyncMessages):
    """``client.beta.messages``: guarded as ``messages``, with the SDK's Beta* objects."""

    __slots__ = ()
    _path = "beta.messages"
    _shapes = BETA
    _refused = BETA_REFUSED
    _message_stream = MeteredBetaMessageStream
    _manager = GuardedBetaMessageStreamManager


class _AsyncBetaMessages(_AsyncMessages):
    __slots__ = ()
    _path = "beta.messages"
    _shapes = BETA
    _refused = BETA_REFUSED
    _message_stream = AsyncMeteredBetaMessageStream
    _manager = AsyncGuardedBetaMessageStreamManager


# -- the clients ----------------------------------------------------------------------------------


class _GuardedAnthropic(Client, GuardedSyncClient):
    __slots__ = ()
    _messages_cls = _SyncMessages
    _beta_messages_cls = _SyncBetaMessages


class _GuardedAsyncAnthropic(Client, GuardedAsyncClient):
    __slots__ = ()
    _messages_cls = _AsyncMessages
    _beta_messages_cls = _AsyncBetaMessages


# -- entry point ----------------------------------------------------------------------------------

C = TypeVar("C")


def guarded_anthropic(
    client: C, guard: Guard | AsyncGuard, default: Attribution, cache: Any = None
) -> C:
    """``client`` guarded by ``guard`` (``costcap.wrap`` calls this); ``default`` attributes
    calls that say nothing else; ``cache`` (a ResponseCache / AsyncResponseCache) answers
    identical requests.

    Takes ``anthropic.Anthropic`` / ``AsyncAnthropic`` and the clients with the same
    ``messages`` resource (Bedrock, Vertex); a sync client needs a ``Guard``, an async one an
    ``AsyncGuard``.
    """
    messages = getattr(client, "messages", None)
    if isinstance(messages, AsyncMessages):
        if not isinstance(guard, AsyncGuard):
            raise TypeError(f"{type(client).__name__} needs a costcap.AsyncGuard")
        return cast(C, _GuardedAsyncAnthropic(client, guard, default, cache))
    if isinstance(messages, Messages):
        if not isinstance(guard, Guard):
            raise TypeError(f"{type(client).__name__} needs a costcap.Guard")
        return cast(C, _GuardedAnthropic(client, guard, default, cache))
    raise TypeError(
        f"not an anthropic.Anthropic / AsyncAnthropic client: {type(client).__qualname__}"
    )
