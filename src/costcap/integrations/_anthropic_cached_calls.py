"""The guarded ``messages`` resources' calls on a client with a response cache (sync and async).

Each path the caller can take — ``create`` / ``parse`` (plain or ``stream=True``),
``stream(...)``, ``with_raw_response``, ``with_streaming_response`` — goes (see
:mod:`costcap.integrations._cache_replay`):

* a hit: counted on the request-count rate limits and recorded at $0, then the SDK's own method
  of the same path run on the replay client, which answers with the stored bytes: the caller
  gets the SDK's own ``Message``, ``Stream``, ``MessageStream``, raw or streaming response;
* a miss (or a ``no-cache`` call): admitted, sent and settled as without a cache, its answer
  kept (:class:`~costcap.integrations._anthropic_cache.Keeper`) and stored once whole;
* a bypass (not cacheable, ``no-store``, ``costcap_cache=False``): as without a cache.

Nothing is asked of the cache before a manager or streaming response is entered, as nothing is
admitted before then without a cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from anthropic import AnthropicError, AsyncStream, Stream, omit

from costcap.integrations._anthropic_body import Shapes, account, body_usage
from costcap.integrations._anthropic_cache import (
    Asked,
    AsyncKeptOpening,
    AsyncKeptRun,
    CacheSide,
    Keeper,
    KeptOpening,
    KeptRun,
    answer_hit,
    answer_hit_async,
    ask,
    ask_async,
    tee_body,
)
from costcap.integrations._anthropic_request import Call, read_call
from costcap.integrations._anthropic_streams import AsyncMeteredStream, MeteredStream
from costcap.integrations._cache_replay import directives, replaying
from costcap.integrations._client import keep_parsed
from costcap.integrations._metered_body import ask_plain_body, meter_body

if TYPE_CHECKING:
    from costcap.guard import AsyncGuard, Guard
    from costcap.integrations._attribution import Attribution
    from costcap.ticket import Ticket

__all__ = ["AsyncCachedCalls", "SyncCachedCalls"]


def _read(kwargs: dict[str, Any], default: Attribution, *, stream: bool = False) -> tuple[
    Call, bool, bool
]:  # fmt: skip
    """The call, and whether the cache may answer it and keep its answer."""
    read, write = directives(kwargs)
    return read_call(kwargs, default, stream=stream), read, write


def _on(side: CacheSide | None) -> CacheSide:
    """The resource's cache (its cached calls run only on a client with one)."""
    assert side is not None
    return side


def _keeper(side: CacheSide, asked: Asked) -> Keeper | None:
    """A keeper for an answer that may be stored (a miss, a ``no-cache`` call); None for a
    bypass, which goes as without a cache."""
    return Keeper(side.cache, asked) if asked.lookup.write else None


class SyncCachedCalls:
    """The cached calls of a sync ``messages`` resource (a mixin of it)."""

    __slots__ = ()
    _path: ClassVar[str]
    _shapes: ClassVar[Shapes]
    _message_stream: ClassVar[type[Any]]
    _manager: ClassVar[type[Any]]

    if TYPE_CHECKING:
        _guard: Guard
        _default: Attribution
        _real: Any
        _side: CacheSide | None

        def _send(self, call: Call, send: Callable[..., Any]) -> tuple[Ticket, Any]: ...

        def _finish(self, ticket: Ticket, result: Any) -> Any: ...

    def _kept_send(
        self, keeper: Keeper | None, call: Call, send: Callable[..., Any]
    ) -> tuple[Ticket, Any]:
        """``_send``; a call that fails (refused, an SDK error, interrupted) gives its lead up."""
        try:
            ticket, result = self._send(call, send)
        except BaseException:
            if keeper is not None:
                keeper.end(None)
            raise
        if keeper is not None:
            ticket.cache_miss = keeper.asked.lookup.status == "miss"
        return ticket, result

    def _kept_stream(
        self, keeper: Keeper | None, ticket: Ticket, inner: Stream[Any]
    ) -> MeteredStream:
        run = None if keeper is None else KeptRun(self._guard, ticket, inner, keeper)
        return MeteredStream(inner, self._guard, ticket, run)

    def _cached_call(self, name: str, send: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """``create`` / ``parse`` (``name``), plain or ``stream=True``."""
        side = _on(self._side)
        call, read, write = _read(kwargs, self._default)
        asked = ask(side, self._guard, call, read, write)
        if asked.lookup.hit:
            with replaying(answer_hit(self._guard, asked)):
                return getattr(side.replayed(self._path), name)(**call.kwargs)
        keeper = _keeper(side, asked)
        ticket, result = self._kept_send(keeper, call, send)
        if isinstance(result, Stream):
            return self._kept_stream(keeper, ticket, result)
        if keeper is None:
            return self._finish(ticket, result)
        answer = None
        try:
            settled = self._finish(ticket, result)
            answer = keeper.message_answer(ticket, result, parsed=name == "parse")
        finally:
            keeper.end(answer)
        return settled

    def _cached_stream(self, kwargs: dict[str, Any]) -> Any:
        """``stream(...)``: entering the manager asks the cache, then replays or opens."""
        call, read, write = _read(kwargs, self._default, stream=True)
        side, real = _on(self._side), self._real

        def enter(**sdk_kwargs: Any) -> Any:
            return real.stream(**sdk_kwargs).__enter__()

        def open_stream() -> Any:
            asked = ask(side, self._guard, call, read, write)
            if asked.lookup.hit:
                with replaying(answer_hit(self._guard, asked)):
                    return side.replayed(self._path).stream(**call.kwargs).__enter__()
            keeper = _keeper(side, asked)
            ticket, sdk_stream = self._kept_send(keeper, call, enter)
            raw = self._kept_stream(keeper, ticket, sdk_stream._raw_stream)
            return self._message_stream(raw, call.kwargs.get("output_format", omit))

        return self._manager(open_stream)

    def _cached_raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """``with_raw_response.create`` / ``parse``: the SDK's raw response, its ``parse()``
        the settled answer (or the metered stream)."""
        name, side = method.__name__, _on(self._side)
        call, read, write = _read(kwargs, self._default)
        asked = ask(side, self._guard, call, read, write)
        if asked.lookup.hit:
            with replaying(answer_hit(self._guard, asked)):
                return getattr(side.replayed(self._path).with_raw_response, name)(**call.kwargs)
        keeper = _keeper(side, asked)
        ticket, raw = self._kept_send(keeper, call, method)
        answer = None
        try:
            try:
                parsed = raw.parse()
            except (AnthropicError, ValueError):  # as the guarded resource's _raw
                usage, served = body_usage(raw.http_response.content, self._shapes)
                self._guard.settle(ticket, usage, service_tier=served)
                return raw
            if isinstance(parsed, Stream):
                keep_parsed(raw, self._kept_stream(keeper, ticket, parsed))
                keeper = None  # the stream's run ends the lookup
                return raw
            keep_parsed(raw, self._finish(ticket, parsed))
            if keeper is not None:
                answer = keeper.answer(ticket, raw.http_response.content, parsed.usage)
            return raw
        finally:
            if keeper is not None:
                keeper.end(answer)

    def _cached_streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """``with_streaming_response.create`` / ``parse``: entering asks the cache, then
        replays or opens the metered response; leaving stores a body read to its end."""
        name = method.__name__
        side, guard = _on(self._side), self._guard

        def enter(**sdk_kwargs: Any) -> Any:
            return method(**sdk_kwargs).__enter__()

        def open_response() -> Any:
            ask_plain_body(kwargs)
            call, read, write = _read(kwargs, self._default)
            asked = ask(side, guard, call, read, write)
            if asked.lookup.hit:
                with replaying(answer_hit(guard, asked)):
                    view = side.replayed(self._path).with_streaming_response
                    return getattr(view, name)(**call.kwargs).__enter__()
            keeper = _keeper(side, asked)
            ticket, response = self._kept_send(keeper, call, enter)
            if keeper is not None:
                kept = keeper
                tee = tee_body(response, kept)
                opening.after = lambda: kept.end(
                    kept.body_answer(ticket, tee, response.http_response, self._shapes)
                )
            return meter_body(response, guard, account(ticket, guard.lease_s, self._shapes))

        opening: KeptOpening[Any] = KeptOpening(open_response)
        return opening


class AsyncCachedCalls:
    """The cached calls of an async ``messages`` resource (a mixin of it)."""

    __slots__ = ()
    _path: ClassVar[str]
    _shapes: ClassVar[Shapes]
    _message_stream: ClassVar[type[Any]]
    _manager: ClassVar[type[Any]]

    if TYPE_CHECKING:
        _guard: AsyncGuard
        _default: Attribution
        _real: Any
        _side: CacheSide | None

        async def _send(
            self, call: Call, send: Callable[..., Awaitable[Any]]
        ) -> tuple[Ticket, Any]: ...

        async def _finish(self, ticket: Ticket, result: Any) -> Any: ...

    async def _kept_send(
        self, keeper: Keeper | None, call: Call, send: Callable[..., Awaitable[Any]]
    ) -> tuple[Ticket, Any]:
        try:
            ticket, result = await self._send(call, send)
        except BaseException:
            if keeper is not None:
                await keeper.end_async(None)
            raise
        if keeper is not None:
            ticket.cache_miss = keeper.asked.lookup.status == "miss"
        return ticket, result

    def _kept_stream(
        self, keeper: Keeper | None, ticket: Ticket, inner: AsyncStream[Any]
    ) -> AsyncMeteredStream:
        run = None if keeper is None else AsyncKeptRun(self._guard, ticket, inner, keeper)
        return AsyncMeteredStream(inner, self._guard, ticket, run)

    async def _cached_call(
        self, name: str, send: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]
    ) -> Any:
        side = _on(self._side)
        call, read, write = _read(kwargs, self._default)
        asked = await ask_async(side, self._guard, call, read, write)
        if asked.lookup.hit:
            with replaying(await answer_hit_async(self._guard, asked)):
                return await getattr(side.replayed(self._path), name)(**call.kwargs)
        keeper = _keeper(side, asked)
        ticket, result = await self._kept_send(keeper, call, send)
        if isinstance(result, AsyncStream):
            return self._kept_stream(keeper, ticket, result)
        if keeper is None:
            return await self._finish(ticket, result)
        answer = None
        try:
            settled = await self._finish(ticket, result)
            answer = keeper.message_answer(ticket, result, parsed=name == "parse")
        finally:
            await keeper.end_async(answer)
        return settled

    def _cached_stream(self, kwargs: dict[str, Any]) -> Any:
        call, read, write = _read(kwargs, self._default, stream=True)
        side, real = _on(self._side), self._real

        async def enter(**sdk_kwargs: Any) -> Any:
            return await real.stream(**sdk_kwargs).__aenter__()

        async def open_stream() -> Any:
            asked = await ask_async(side, self._guard, call, read, write)
            if asked.lookup.hit:
                with replaying(await answer_hit_async(self._guard, asked)):
                    return await side.replayed(self._path).stream(**call.kwargs).__aenter__()
            keeper = _keeper(side, asked)
            ticket, sdk_stream = await self._kept_send(keeper, call, enter)
            raw = self._kept_stream(keeper, ticket, sdk_stream._raw_stream)
            return self._message_stream(raw, call.kwargs.get("output_format", omit))

        return self._manager(open_stream, self._guard)

    async def _cached_raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        name, side = method.__name__, _on(self._side)
        call, read, write = _read(kwargs, self._default)
        asked = await ask_async(side, self._guard, call, read, write)
        if asked.lookup.hit:
            with replaying(await answer_hit_async(self._guard, asked)):
                view = side.replayed(self._path).with_raw_response
                return await getattr(view, name)(**call.kwargs)
        keeper = _keeper(side, asked)
        ticket, raw = await self._kept_send(keeper, call, method)
        answer = None
        try:
            try:
                parsed = await raw.parse()
            except (AnthropicError, ValueError):
                usage, served = body_usage(raw.http_response.content, self._shapes)
                await self._guard.settle(ticket, usage, service_tier=served)
                return raw
            if isinstance(parsed, AsyncStream):
                keep_parsed(raw, self._kept_stream(keeper, ticket, parsed))
                keeper = None  # the stream's run ends the lookup
                return raw
            keep_parsed(raw, await self._finish(ticket, parsed))
            if keeper is not None:
                answer = keeper.answer(ticket, raw.http_response.content, parsed.usage)
            return raw
        finally:
            if keeper is not None:
                await keeper.end_async(answer)

    def _cached_streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        name = method.__name__
        side, guard = _on(self._side), self._guard

        async def enter(**sdk_kwargs: Any) -> Any:
            return await method(**sdk_kwargs).__aenter__()

        async def open_response() -> Any:
            ask_plain_body(kwargs)
            call, read, write = _read(kwargs, self._default)
            asked = await ask_async(side, guard, call, read, write)
            if asked.lookup.hit:
                with replaying(await answer_hit_async(guard, asked)):
                    view = side.replayed(self._path).with_streaming_response
                    return await getattr(view, name)(**call.kwargs).__aenter__()
            keeper = _keeper(side, asked)
            ticket, response = await self._kept_send(keeper, call, enter)
            if keeper is not None:
                kept = keeper
                tee = tee_body(response, kept)

                async def after() -> None:
                    await kept.end_async(
                        kept.body_answer(ticket, tee, response.http_response, self._shapes)
                    )

                opening.after = after
            return meter_body(response, guard, account(ticket, guard.lease_s, self._shapes))

        opening: AsyncKeptOpening[Any] = AsyncKeptOpening(open_response)
        return opening
