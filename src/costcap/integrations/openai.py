"""``costcap.wrap(openai.OpenAI())``: the official OpenAI SDK, every call bounded and settled.

::

    client = costcap.wrap(OpenAI(), guard=guard, feature="chat")
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    for chunk in client.chat.completions.create(model=…, messages=…, stream=True): …

The guarded client is used exactly like the SDK's (``isinstance(client, openai.OpenAI)`` holds)
and returns the SDK's own objects. Every attribute is the real client's except
``chat.completions.create`` / ``.parse`` and ``responses.create`` / ``.parse`` (also through the
resource's ``with_raw_response`` and ``with_streaming_response``), which

1. resolve who the call is for (``costcap_user_id=`` / ``costcap_feature=`` keyword arguments,
   else a ``costcap.attribute()`` block, else the client's defaults; the user falls back to the
   request's own ``user`` / ``safety_identifier``);
2. admit it (``guard.admit``: policy, worst case, budgets and rate limits in one atomic step);
3. send it carrying the admitted ``max_tokens`` (``max_completion_tokens`` unless the caller used
   ``max_tokens``; ``max_output_tokens`` for Responses) and, streamed, ``include_usage`` — a field
   the caller did not pass goes in ``extra_body`` (the same JSON on the wire, without the SDK's
   per-keyword transform);
4. settle it with the provider's usage — or, for a stream, when it ends however it ends
   (see :mod:`costcap.integrations._openai_stream`). A raw response is settled before it is
   returned (streamed: its ``parse()`` is the metered stream); a streaming response's body is
   metered as it is read and settled when its block is left
   (see :mod:`costcap.integrations._metered_body`).

With ``wrap(..., cache=…)`` an identical request is answered from the response cache before
step 2, on every one of those paths (:mod:`costcap.integrations._openai_cache`): a hit is the
SDK's own object, stream or raw response built from the stored bytes, counted on request-count
rate limits and recorded at $0 with what it saved; a miss goes through steps 2-4 and its whole
answer is stored (endpoints ``chat.completions`` and ``responses`` of provider ``openai``; the
key holds the policy's cap as ``max_completion_tokens`` / ``max_output_tokens``). Identical
misses at once — threads, tasks, processes on a shared SQLite or Redis cache — make one call.
``costcap_cache=False`` or ``Cache-Control: no-store`` in ``extra_headers`` skip the cache;
``no-cache`` asks the provider and stores its answer.

A call whose ``model`` is a route name (``costcap:auto``, ``costcap:<tier>``) is routed by the
guard's router first (:mod:`costcap.integrations._routing`): each model tried — the one decided,
a fallback after the provider failed, a cascade's next tier — goes through the steps above.

The SDK's retries stay the SDK's: one admission per call, whatever the attempts. An SDK error
(``openai.APIError`` …) releases the reservation and is raised unchanged. ``with_options`` /
``copy`` return a guarded client. The ``.stream()`` helpers, and the client's own
``with_raw_response`` / ``with_streaming_response`` (the resources' are guarded), raise
``NotImplementedError`` rather than spend unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, NoReturn, cast, overload

from openai import AsyncOpenAI, OpenAI

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._attribution import Attribution
from costcap.integrations._cache_replay import directives, replaying
from costcap.integrations._client import (
    GuardedAsyncClient,
    GuardedResource,
    GuardedSyncClient,
    GuardedView,
    refuse_unguarded,
)
from costcap.integrations._meter import StreamCut
from costcap.integrations._metered_body import ask_plain_body
from costcap.integrations._openai_cache import (
    CacheSide,
    Keeper,
    answer_hit,
    answer_hit_async,
    ask,
    ask_async,
    replayed,
)
from costcap.integrations._openai_calls import (
    SDK,
    AsyncFinisher,
    Finisher,
    aentered,
    afinish_parsed,
    afinish_plain,
    afinish_raw,
    akept_body,
    akept_object,
    akept_plain,
    akept_raw,
    aopen_body,
    asend,
    entered,
    finish_parsed,
    finish_plain,
    finish_raw,
    kept_body,
    kept_object,
    kept_plain,
    kept_raw,
    open_body,
    send,
)
from costcap.integrations._openai_client import HINT, Client
from costcap.integrations._openai_request import (
    Call,
    apply_chat,
    apply_responses,
    chat_call,
    responses_call,
)
from costcap.integrations._openai_stream import GuardedAsyncStream, GuardedStream
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.integrations._routing import asks_route, route_call, route_call_async
from costcap.ticket import Ticket

__all__ = ["GuardedAsyncStream", "GuardedStream", "StreamCut", "guarded_openai"]

log = logging.getLogger("costcap.integrations.openai")

Reader = Callable[[dict[str, Any], Attribution], Call]
Shaper = Callable[[dict[str, Any], Call, Ticket], None]


@overload
def guarded_openai(
    client: OpenAI, guard: Guard, default: Attribution, cache: Any = None
) -> OpenAI: ...
@overload
def guarded_openai(
    client: AsyncOpenAI, guard: AsyncGuard, default: Attribution, cache: Any = None
) -> AsyncOpenAI: ...
@overload
def guarded_openai(
    client: object, guard: Guard | AsyncGuard, default: Attribution, cache: Any = None
) -> Any: ...
def guarded_openai(
    client: object, guard: Guard | AsyncGuard, default: Attribution, cache: Any = None
) -> Any:
    """``client`` guarded by ``guard`` (``costcap.wrap`` calls this); ``default`` attributes
    calls that say nothing else; ``cache`` (a ResponseCache / AsyncResponseCache) answers
    identical requests."""
    if isinstance(client, AsyncOpenAI):
        if not isinstance(guard, AsyncGuard):
            raise TypeError(f"{type(client).__name__} needs a costcap.AsyncGuard")
        return cast(AsyncOpenAI, _GuardedAsyncOpenAI(client, guard, default, cache))
    if isinstance(client, OpenAI):
        if not isinstance(guard, Guard):
            raise TypeError(f"{type(client).__name__} needs a costcap.Guard")
        return cast(OpenAI, _GuardedOpenAI(client, guard, default, cache))
    raise TypeError(f"not an openai.OpenAI / AsyncOpenAI client: {type(client).__qualname__}")


def _unguarded(what: str) -> NoReturn:
    refuse_unguarded(what, HINT)


# -- the resources -------------------------------------------------------------------------------
#
# Each path (``create`` / ``parse``, ``with_raw_response``, ``with_streaming_response``) goes
# through ``_call`` without a cache. With one, through ``_cached``: a hit is the same path of
# the replay client, a bypass goes as without a cache, a miss through its kept finisher.

Path = Literal["plain", "raw", "streaming"]


class _Resource(GuardedResource):
    """A guarded SDK resource: its guarded methods, every other attribute the real one's."""

    __slots__ = ("_side",)

    def __init__(
        self, real: Any, guard: Any, default: Attribution, side: CacheSide | None = None
    ) -> None:
        super().__init__(real, guard, default)
        self._side = side

    def stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        _unguarded(f"{type(self._real).__name__}.stream()")

    @property
    def with_raw_response(self) -> GuardedView:
        """The SDK's ``with_raw_response``: ``create``/``parse`` return its raw response
        (``.headers``, ``.parse()``), admitted and settled like the plain call."""
        return GuardedView(self._real.with_raw_response, self._raw)

    @property
    def with_streaming_response(self) -> GuardedView:
        """The SDK's ``with_streaming_response``: ``create``/``parse`` return a context manager
        giving its streaming response, the body metered as it is read."""
        return GuardedView(self._real.with_streaming_response, self._streaming)

    def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _routed(
        self, kwargs: dict[str, Any], again: Callable[[dict[str, Any]], Any], how: Any
    ) -> Any:
        """A call naming a route (:mod:`costcap.integrations._routing`): ``again`` runs this
        path with each model tried; cascaded when plain (``how``: its finisher or path)."""
        plain = how not in (open_body, aopen_body, "streaming") and kwargs.get("stream") is not True
        route = route_call_async if isinstance(self, _AsyncResource) else route_call
        return route(self._guard, self._default, kwargs, again, SDK, plain=plain)


def _sdk_method(resource: Any, path: Path, name: str) -> Callable[..., Any]:
    """The SDK's method ``name`` on ``resource`` for ``path``."""
    if path == "plain":
        return getattr(resource, name)  # type: ignore[no-any-return]
    view = resource.with_raw_response if path == "raw" else resource.with_streaming_response
    return getattr(view, name)  # type: ignore[no-any-return]


class _SyncResource(_Resource):
    _read: Reader
    _shape: Shaper

    def _call(
        self, method: Callable[..., Any], kwargs: dict[str, Any], finish: Finisher = finish_plain
    ) -> Any:
        if asks_route(kwargs):  # each model tried comes back here
            return self._routed(kwargs, lambda kw: self._call(method, kw, finish), finish)
        kwargs.pop("costcap_cache", None)  # no cache on this client: nothing to bypass
        return self._admit_send(type(self)._read(kwargs, self._default), method, kwargs, finish)

    def _admit_send(
        self,
        call: Call,
        method: Callable[..., Any],
        kwargs: dict[str, Any],
        finish: Finisher,
        *,
        miss: bool = False,
    ) -> Any:
        guard: Guard = self._guard
        ticket = guard.admit(**call.admission)
        if miss:
            ticket.cache_miss = True
        type(self)._shape(kwargs, call, ticket)
        return finish(guard, ticket, call, send(guard, ticket, call, method, kwargs))

    def _cached(self, side: CacheSide, path: Path, name: str, kwargs: dict[str, Any]) -> Any:
        if asks_route(kwargs):  # each model tried comes back here, to its own key
            return self._routed(kwargs, lambda kw: self._cached(side, path, name, kw), path)
        read, write = directives(kwargs)
        call = type(self)._read(kwargs, self._default)
        guard: Guard = self._guard
        asked = ask(side.cache, guard, kwargs, call, read=read, write=write)
        lookup = asked.lookup
        if lookup.hit:
            answer = replayed(answer_hit(guard, asked), call, kwargs)
            with replaying(answer):
                sent = _sdk_method(side.replayed(call.kind), path, name)(**kwargs)
                return sent.__enter__() if path == "streaming" else sent
        if path == "plain" and name == "create" and not call.stream:  # the SDK's object
            if lookup.key is None or not lookup.write:  # a bypass: as without a cache
                return self._admit_send(call, self._real.create, kwargs, finish_plain)
            keeper = Keeper(side.cache, asked)
            try:
                return self._admit_send(call, self._real.create, kwargs, kept_object(keeper),
                                        miss=lookup.status == "miss")  # fmt: skip
            except BaseException:
                keeper.end(False)
                raise
        sdk = _sdk_method(self._real, "streaming" if path == "streaming" else "raw", name)
        method = entered(sdk) if path == "streaming" else sdk
        if lookup.key is None or not lookup.write:  # a bypass: as without a cache
            finish = {"plain": finish_parsed, "raw": finish_raw, "streaming": open_body}[path]
            return self._admit_send(call, method, kwargs, finish)
        keeper = Keeper(side.cache, asked)
        if call.stream and path != "streaming":
            ask_plain_body(kwargs)  # the stream's bytes are kept as they come
        kept = {"plain": kept_plain, "raw": kept_raw, "streaming": kept_body}[path](keeper)
        try:
            return self._admit_send(call, method, kwargs, kept, miss=lookup.status == "miss")
        except BaseException:
            keeper.end(False)
            raise

    def create(self, **kwargs: Any) -> Any:
        if self._side is not None:
            return self._cached(self._side, "plain", "create", kwargs)
        return self._call(self._real.create, kwargs)

    def parse(self, **kwargs: Any) -> Any:
        if self._side is not None:
            return self._cached(self._side, "plain", "parse", kwargs)
        # through the raw response: an answer that does not parse is still charged
        return self._call(self._real.with_raw_response.parse, kwargs, finish_parsed)

    def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if self._side is not None:
            return self._cached(self._side, "raw", method.__name__, kwargs)
        return self._call(method, kwargs, finish_raw)

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Opening[Any]:
        def open_response() -> Any:
            ask_plain_body(kwargs)
            if self._side is not None:
                return self._cached(self._side, "streaming", method.__name__, kwargs)
            return self._call(entered(method), kwargs, open_body)

        return Opening(open_response)


class _AsyncResource(_Resource):
    _read: Reader
    _shape: Shaper

    async def _call(
        self,
        method: Callable[..., Any],
        kwargs: dict[str, Any],
        finish: AsyncFinisher = afinish_plain,
    ) -> Any:
        if asks_route(kwargs):  # as _SyncResource._call
            return await self._routed(kwargs, lambda kw: self._call(method, kw, finish), finish)
        kwargs.pop("costcap_cache", None)  # as _SyncResource._call
        call = type(self)._read(kwargs, self._default)
        return await self._admit_send(call, method, kwargs, finish)

    async def _admit_send(
        self,
        call: Call,
        method: Callable[..., Any],
        kwargs: dict[str, Any],
        finish: AsyncFinisher,
        *,
        miss: bool = False,
    ) -> Any:
        guard: AsyncGuard = self._guard
        ticket = await guard.admit(**call.admission)
        if miss:
            ticket.cache_miss = True
        type(self)._shape(kwargs, call, ticket)
        return await finish(guard, ticket, call, await asend(guard, ticket, call, method, kwargs))

    async def _cached(self, side: CacheSide, path: Path, name: str, kwargs: dict[str, Any]) -> Any:
        """As :meth:`_SyncResource._cached`."""
        if asks_route(kwargs):
            return await self._routed(kwargs, lambda kw: self._cached(side, path, name, kw), path)
        read, write = directives(kwargs)
        call = type(self)._read(kwargs, self._default)
        guard: AsyncGuard = self._guard
        asked = await ask_async(side.cache, guard, kwargs, call, read=read, write=write)
        lookup = asked.lookup
        if lookup.hit:
            answer = replayed(await answer_hit_async(guard, asked), call, kwargs)
            with replaying(answer):
                sent = _sdk_method(side.replayed(call.kind), path, name)(**kwargs)
                return await (sent.__aenter__() if path == "streaming" else sent)
        if path == "plain" and name == "create" and not call.stream:  # as in the sync client
            if lookup.key is None or not lookup.write:
                return await self._admit_send(call, self._real.create, kwargs, afinish_plain)
            keeper = Keeper(side.cache, asked)
            try:
                return await self._admit_send(call, self._real.create, kwargs,
                                              akept_object(keeper),
                                              miss=lookup.status == "miss")  # fmt: skip
            except BaseException:
                await keeper.end_async(False)
                raise
        sdk = _sdk_method(self._real, "streaming" if path == "streaming" else "raw", name)
        method = aentered(sdk) if path == "streaming" else sdk
        if lookup.key is None or not lookup.write:
            finish = {"plain": afinish_parsed, "raw": afinish_raw, "streaming": aopen_body}[path]
            return await self._admit_send(call, method, kwargs, finish)
        keeper = Keeper(side.cache, asked)
        if call.stream and path != "streaming":
            ask_plain_body(kwargs)
        kept = {"plain": akept_plain, "raw": akept_raw, "streaming": akept_body}[path](keeper)
        try:
            return await self._admit_send(call, method, kwargs, kept, miss=lookup.status == "miss")
        except BaseException:
            await keeper.end_async(False)
            raise

    async def create(self, **kwargs: Any) -> Any:
        if self._side is not None:
            return await self._cached(self._side, "plain", "create", kwargs)
        return await self._call(self._real.create, kwargs)

    async def parse(self, **kwargs: Any) -> Any:
        if self._side is not None:
            return await self._cached(self._side, "plain", "parse", kwargs)
        return await self._call(self._real.with_raw_response.parse, kwargs, afinish_parsed)

    async def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if self._side is not None:
            return await self._cached(self._side, "raw", method.__name__, kwargs)
        return await self._call(method, kwargs, afinish_raw)

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncOpening[Any]:
        async def open_response() -> Any:
            ask_plain_body(kwargs)
            if self._side is not None:
                return await self._cached(self._side, "streaming", method.__name__, kwargs)
            return await self._call(aentered(method), kwargs, aopen_body)

        return AsyncOpening(open_response)


class _Completions(_SyncResource):
    _read = staticmethod(chat_call)
    _shape = staticmethod(apply_chat)


class _AsyncCompletions(_AsyncResource):
    _read = staticmethod(chat_call)
    _shape = staticmethod(apply_chat)


class _Responses(_SyncResource):
    _read = staticmethod(responses_call)
    _shape = staticmethod(apply_responses)


class _AsyncResponses(_AsyncResource):
    _read = staticmethod(responses_call)
    _shape = staticmethod(apply_responses)


# -- the clients ------------------------------------------------------------------------------


class _GuardedOpenAI(Client, GuardedSyncClient):
    __slots__ = ()
    _completions_cls = _Completions
    _responses_cls = _Responses


class _GuardedAsyncOpenAI(Client, GuardedAsyncClient):
    __slots__ = ()
    _completions_cls = _AsyncCompletions
    _responses_cls = _AsyncResponses
