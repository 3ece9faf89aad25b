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

The SDK's retries stay the SDK's: one admission per call, whatever the attempts. An SDK error
(``openai.APIError`` …) releases the reservation and is raised unchanged. ``with_options`` /
``copy`` return a guarded client. The ``.stream()`` helpers, and the client's own
``with_raw_response`` / ``with_streaming_response`` (the resources' are guarded), raise
``NotImplementedError`` rather than spend unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, cast, overload

import anyio
from openai import AsyncOpenAI, AsyncStream, OpenAI, OpenAIError, Stream

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._attribution import Attribution
from costcap.integrations._client import (
    Delegating,
    GuardedAsyncClient,
    GuardedClient,
    GuardedResource,
    GuardedSyncClient,
    GuardedView,
    keep_parsed,
    refuse_unguarded,
)
from costcap.integrations._meter import StreamCut
from costcap.integrations._metered_body import ask_plain_body, meter_body
from costcap.integrations._openai_body import account, body_usage
from costcap.integrations._openai_request import (
    Call,
    apply_chat,
    apply_responses,
    chat_call,
    interrupted_usage,
    responses_call,
    result_usage,
    served_tier,
)
from costcap.integrations._openai_stream import GuardedAsyncStream, GuardedStream, Tap
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.ticket import Ticket

__all__ = ["GuardedAsyncStream", "GuardedStream", "StreamCut", "guarded_openai"]

log = logging.getLogger("costcap.integrations.openai")

Reader = Callable[[dict[str, Any], Attribution], Call]
Shaper = Callable[[dict[str, Any], Call, Ticket], None]
Finisher = Callable[[Guard, Ticket, Call, Any], Any]
AsyncFinisher = Callable[[AsyncGuard, Ticket, Call, Any], Awaitable[Any]]


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


_HINT = (
    "Use create() (stream=True for streams) on the wrapped client, or the unwrapped client with "
    "guard.admit/settle."
)


def _unguarded(what: str) -> NoReturn:
    refuse_unguarded(what, _HINT)


# -- the calls --------------------------------------------------------------------------------
#
# A call is admitted, shaped, sent (``_send``: an SDK error releases it, an interruption settles
# it ``cut``) and finished by what the path returns: the plain answer or stream (``_finish``),
# the SDK's raw response (``_finish_raw``) or its streaming response (``_open_body``).


def _send(
    guard: Guard, ticket: Ticket, call: Call, method: Callable[..., Any], kwargs: dict[str, Any]
) -> Any:
    try:
        return method(**kwargs)
    except Exception:  # the SDK's own error (after its retries): nothing billed
        try:
            guard.release(ticket)
        except Exception:  # the caller gets the SDK's error; the lease charges it at expiry
            log.exception("could not release call %s", ticket.id)
        raise
    except BaseException:  # interrupted in flight: the provider may bill it
        try:
            guard.settle(ticket, interrupted_usage(ticket, stream=call.stream), status="cut")
        except Exception:
            log.exception("could not settle interrupted call %s", ticket.id)
        raise


def _finish(guard: Guard, ticket: Ticket, call: Call, result: Any) -> Any:
    if isinstance(result, Stream):
        return GuardedStream(result, guard, Tap(ticket, guard.lease_s, call))
    used = result_usage(result, ticket, call.kind)
    guard.settle(ticket, used, service_tier=served_tier(result))
    return result


def _finish_raw(guard: Guard, ticket: Ticket, call: Call, raw: Any) -> Any:
    """The SDK's raw response, settled now: its ``parse()`` is built once (the caller's gives
    the same object) and settled, or, streamed, gives a metered stream."""
    try:
        parsed = raw.parse()
    except (OpenAIError, ValueError):  # a structured output that does not validate, say: the
        # caller's own parse() raises it again; the call was answered, its usage is in the body
        usage, served = body_usage(raw.http_response.content, ticket, call.kind)
        guard.settle(ticket, usage, service_tier=served)
        return raw
    keep_parsed(raw, _finish(guard, ticket, call, parsed))
    return raw


def _open_body(guard: Guard | AsyncGuard, ticket: Ticket, call: Call, response: Any) -> Any:
    """The SDK's streaming response, its body metered as it is read."""
    return meter_body(response, guard, account(ticket, guard.lease_s, call))


async def _asend(
    guard: AsyncGuard,
    ticket: Ticket,
    call: Call,
    method: Callable[..., Any],
    kwargs: dict[str, Any],
) -> Any:
    try:
        return await method(**kwargs)
    except Exception:
        try:
            await guard.release(ticket)
        except Exception:
            log.exception("could not release call %s", ticket.id)
        raise
    except BaseException:  # cancelled in flight: the provider may bill it
        with anyio.CancelScope(shield=True):
            try:
                usage = interrupted_usage(ticket, stream=call.stream)
                await guard.settle(ticket, usage, status="cut")
            except Exception:
                log.exception("could not settle interrupted call %s", ticket.id)
        raise


async def _afinish(guard: AsyncGuard, ticket: Ticket, call: Call, result: Any) -> Any:
    if isinstance(result, AsyncStream):
        return GuardedAsyncStream(result, guard, Tap(ticket, guard.lease_s, call))
    used = result_usage(result, ticket, call.kind)
    await guard.settle(ticket, used, service_tier=served_tier(result))
    return result


async def _afinish_raw(guard: AsyncGuard, ticket: Ticket, call: Call, raw: Any) -> Any:
    try:
        parsed = raw.parse()  # the legacy raw response parses synchronously
    except (OpenAIError, ValueError):  # as _finish_raw
        usage, served = body_usage(raw.http_response.content, ticket, call.kind)
        await guard.settle(ticket, usage, service_tier=served)
        return raw
    keep_parsed(raw, await _afinish(guard, ticket, call, parsed))
    return raw


async def _aopen_body(guard: AsyncGuard, ticket: Ticket, call: Call, response: Any) -> Any:
    return _open_body(guard, ticket, call, response)


class _Resource(GuardedResource):
    """A guarded SDK resource: its guarded methods, every other attribute the real one's."""

    __slots__ = ()

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


class _SyncResource(_Resource):
    _read: Reader
    _shape: Shaper

    def _call(
        self, method: Callable[..., Any], kwargs: dict[str, Any], finish: Finisher = _finish
    ) -> Any:
        call = type(self)._read(kwargs, self._default)
        guard: Guard = self._guard
        ticket = guard.admit(**call.admission)
        type(self)._shape(kwargs, call, ticket)
        return finish(guard, ticket, call, _send(guard, ticket, call, method, kwargs))

    def create(self, **kwargs: Any) -> Any:
        return self._call(self._real.create, kwargs)

    def parse(self, **kwargs: Any) -> Any:
        return self._call(self._real.parse, kwargs)

    def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        return self._call(method, kwargs, _finish_raw)

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Opening[Any]:
        def enter(**sdk_kwargs: Any) -> Any:
            return method(**sdk_kwargs).__enter__()

        def open_response() -> Any:
            ask_plain_body(kwargs)
            return self._call(enter, kwargs, _open_body)

        return Opening(open_response)


class _AsyncResource(_Resource):
    _read: Reader
    _shape: Shaper

    async def _call(
        self, method: Callable[..., Any], kwargs: dict[str, Any], finish: AsyncFinisher = _afinish
    ) -> Any:
        call = type(self)._read(kwargs, self._default)
        guard: AsyncGuard = self._guard
        ticket = await guard.admit(**call.admission)
        type(self)._shape(kwargs, call, ticket)
        return await finish(guard, ticket, call, await _asend(guard, ticket, call, method, kwargs))

    async def create(self, **kwargs: Any) -> Any:
        return await self._call(self._real.create, kwargs)

    async def parse(self, **kwargs: Any) -> Any:
        return await self._call(self._real.parse, kwargs)

    async def _raw(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        return await self._call(method, kwargs, _afinish_raw)

    def _streaming(self, method: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncOpening[Any]:
        async def enter(**sdk_kwargs: Any) -> Any:
            return await method(**sdk_kwargs).__aenter__()

        async def open_response() -> Any:
            ask_plain_body(kwargs)
            return await self._call(enter, kwargs, _aopen_body)

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


class _Chat(Delegating):
    """``client.chat``: ``completions`` guarded, the rest the real resource's."""

    __slots__ = ("completions",)

    def __init__(self, real: Any, completions: _Resource) -> None:
        super().__init__(real)
        self.completions = completions


# -- the clients ------------------------------------------------------------------------------


class _Client(GuardedClient):
    """OpenAI's guarded resources, built lazily."""

    __slots__ = ("_costcap_chat", "_costcap_responses")
    _completions_cls: type[_Resource]
    _responses_cls: type[_Resource]
    _refusal_hint = _HINT

    def __init__(self, client: Any, guard: Any, default: Attribution, cache: Any = None) -> None:
        super().__init__(client, guard, default, cache)
        self._costcap_chat: _Chat | None = None
        self._costcap_responses: _Resource | None = None

    @property
    def chat(self) -> _Chat:
        if self._costcap_chat is None:
            real = self._costcap_client.chat
            completions = self._completions_cls(
                real.completions, self._costcap_guard, self._costcap_default
            )
            self._costcap_chat = _Chat(real, completions)
        return self._costcap_chat

    @property
    def responses(self) -> _Resource:
        if self._costcap_responses is None:
            self._costcap_responses = self._responses_cls(
                self._costcap_client.responses, self._costcap_guard, self._costcap_default
            )
        return self._costcap_responses


class _GuardedOpenAI(_Client, GuardedSyncClient):
    __slots__ = ()
    _completions_cls = _Completions
    _responses_cls = _Responses


class _GuardedAsyncOpenAI(_Client, GuardedAsyncClient):
    __slots__ = ()
    _completions_cls = _AsyncCompletions
    _responses_cls = _AsyncResponses
