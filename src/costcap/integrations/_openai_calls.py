"""The steps of one guarded OpenAI call after its admission, shared by the sync and async
resources of :mod:`costcap.integrations.openai`: sending it (an SDK error releases it, an
interruption settles it ``cut``) and finishing what the path returns — the plain answer or
stream, the SDK's raw response, its streaming response — and, for a response-cache miss, the
same with the answer kept for the cache (:class:`~costcap.integrations._openai_cache.Keeper`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from openai import (
    APIConnectionError,
    APIStatusError,
    AsyncStream,
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    OpenAIError,
    Stream,
)

from costcap.guard import AsyncGuard, Guard
from costcap.integrations._client import keep_parsed
from costcap.integrations._metered_body import AsyncMeteredBytes, meter_body
from costcap.integrations._openai_body import account, body_usage
from costcap.integrations._openai_cache import AsyncBodyEnd, BodyEnd, Keeper, object_tokens
from costcap.integrations._openai_request import (
    Call,
    interrupted_usage,
    result_usage,
    served_tier,
)
from costcap.integrations._openai_stream import GuardedAsyncStream, GuardedStream, Tap
from costcap.integrations._routing import Sdk
from costcap.ticket import Ticket

__all__ = [
    "SDK",
    "AsyncFinisher",
    "Finisher",
    "aentered",
    "afinish_parsed",
    "afinish_plain",
    "afinish_raw",
    "akept_body",
    "akept_object",
    "akept_plain",
    "akept_raw",
    "aopen_body",
    "asend",
    "entered",
    "finish_parsed",
    "finish_plain",
    "finish_raw",
    "kept_body",
    "kept_object",
    "kept_plain",
    "kept_raw",
    "open_body",
    "send",
]

log = logging.getLogger("costcap.integrations.openai")

Finisher = Callable[[Guard, Ticket, Call, Any], Any]
AsyncFinisher = Callable[[AsyncGuard, Ticket, Call, Any], Awaitable[Any]]

#: What routing falls back from (a provider that failed) and escalates from (``parse``'s
#: errors for a truncated or filtered answer) on the OpenAI SDK.
SDK = Sdk("openai", (APIStatusError, APIConnectionError),
          (LengthFinishReasonError, ContentFilterFinishReasonError))  # fmt: skip


# -- the calls --------------------------------------------------------------------------------
#
# A call is admitted, shaped, sent (``send``: an SDK error releases it, an interruption settles
# it ``cut``) and finished by what the path returns: the plain answer or stream (``finish_plain``),
# the SDK's raw response (``finish_raw``) or its streaming response (``open_body``).


def send(
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


def finish_plain(guard: Guard, ticket: Ticket, call: Call, result: Any) -> Any:
    if isinstance(result, Stream):
        return GuardedStream(result, guard, Tap(ticket, guard.lease_s, call))
    used = result_usage(result, ticket, call.kind)
    guard.settle(ticket, used, service_tier=served_tier(result))
    return result


def finish_raw(guard: Guard, ticket: Ticket, call: Call, raw: Any) -> Any:
    """The SDK's raw response, settled now: its ``parse()`` is built once (the caller's gives
    the same object) and settled, or, streamed, gives a metered stream."""
    try:
        parsed = raw.parse()
    except (OpenAIError, ValueError):  # a structured output that does not validate, say: the
        # caller's own parse() raises it again; the call was answered, its usage is in the body
        usage, served = body_usage(raw.http_response.content, ticket, call.kind)
        guard.settle(ticket, usage, service_tier=served)
        return raw
    keep_parsed(raw, finish_plain(guard, ticket, call, parsed))
    return raw


def finish_parsed(guard: Guard, ticket: Ticket, call: Call, raw: Any) -> Any:
    """What ``create`` / ``parse`` return, sent through the SDK's raw response and settled by
    :func:`finish_raw`: an answer the SDK cannot parse (a structured output that does not
    validate, a ``LengthFinishReasonError``) is charged what the provider billed before the
    caller gets the SDK's error."""
    return finish_raw(guard, ticket, call, raw).parse()


def open_body(guard: Guard | AsyncGuard, ticket: Ticket, call: Call, response: Any) -> Any:
    """The SDK's streaming response, its body metered as it is read."""
    return meter_body(response, guard, account(Tap(ticket, guard.lease_s, call), call))


async def asend(
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


async def afinish_plain(guard: AsyncGuard, ticket: Ticket, call: Call, result: Any) -> Any:
    if isinstance(result, AsyncStream):
        return GuardedAsyncStream(result, guard, Tap(ticket, guard.lease_s, call))
    used = result_usage(result, ticket, call.kind)
    await guard.settle(ticket, used, service_tier=served_tier(result))
    return result


async def afinish_raw(guard: AsyncGuard, ticket: Ticket, call: Call, raw: Any) -> Any:
    try:
        parsed = raw.parse()  # the legacy raw response parses synchronously
    except (OpenAIError, ValueError):  # as finish_raw
        usage, served = body_usage(raw.http_response.content, ticket, call.kind)
        await guard.settle(ticket, usage, service_tier=served)
        return raw
    keep_parsed(raw, await afinish_plain(guard, ticket, call, parsed))
    return raw


async def afinish_parsed(guard: AsyncGuard, ticket: Ticket, call: Call, raw: Any) -> Any:
    return (await afinish_raw(guard, ticket, call, raw)).parse()


async def aopen_body(guard: AsyncGuard, ticket: Ticket, call: Call, response: Any) -> Any:
    return open_body(guard, ticket, call, response)


# -- a miss's answer, kept for the cache ---------------------------------------------------------
#
# A miss goes as without a cache, through the SDK's raw response (a plain call too: its
# ``parse()`` is what the plain call returns) or streaming response, whose bytes the keeper reads.


def kept_raw(keeper: Keeper) -> Finisher:
    def kept(guard: Guard, ticket: Ticket, call: Call, raw: Any) -> Any:
        keeper.ticket = ticket
        if call.stream:  # the metered stream ends the keeper once it has settled
            keeper.tee(raw.http_response)
            call.kept = keeper
            return finish_raw(guard, ticket, call, raw)
        finish_raw(guard, ticket, call, raw)
        keeper.add(raw.http_response.content)
        keeper.end(True)
        return raw

    return kept


def kept_plain(keeper: Keeper) -> Finisher:
    def kept(guard: Guard, ticket: Ticket, call: Call, raw: Any) -> Any:
        return kept_raw(keeper)(guard, ticket, call, raw).parse()

    return kept


def kept_object(keeper: Keeper) -> Finisher:
    """A plain ``create`` (not streamed): the SDK's own object, settled, and kept as the JSON it
    was read from (``to_json`` writes back exactly the fields the answer held) — cheaper than
    going through the raw response for its bytes."""

    def kept(guard: Guard, ticket: Ticket, call: Call, result: Any) -> Any:
        keeper.ticket = ticket
        answered = finish_plain(guard, ticket, call, result)
        keeper.add(result.to_json(indent=None).encode())
        keeper.tokens = object_tokens(call.kind, result)
        keeper.end(keeper.tokens is not None)
        return answered

    return kept


def akept_object(keeper: Keeper) -> AsyncFinisher:
    async def kept(guard: AsyncGuard, ticket: Ticket, call: Call, result: Any) -> Any:
        keeper.ticket = ticket
        answered = await afinish_plain(guard, ticket, call, result)
        keeper.add(result.to_json(indent=None).encode())
        keeper.tokens = object_tokens(call.kind, result)
        await keeper.end_async(keeper.tokens is not None)
        return answered

    return kept


def akept_raw(keeper: Keeper) -> AsyncFinisher:
    async def kept(guard: AsyncGuard, ticket: Ticket, call: Call, raw: Any) -> Any:
        keeper.ticket = ticket
        if call.stream:
            keeper.tee(raw.http_response)
            call.kept = keeper
            return await afinish_raw(guard, ticket, call, raw)
        await afinish_raw(guard, ticket, call, raw)
        keeper.add(raw.http_response.content)
        await keeper.end_async(True)
        return raw

    return kept


def akept_plain(keeper: Keeper) -> AsyncFinisher:
    async def kept(guard: AsyncGuard, ticket: Ticket, call: Call, raw: Any) -> Any:
        return (await akept_raw(keeper)(guard, ticket, call, raw)).parse()

    return kept


def _kept_body(
    keeper: Keeper, guard: Guard | AsyncGuard, ticket: Ticket, call: Call, response: Any
) -> Any:
    """A streaming response's body kept as it is read (under the meter), its keeper ended
    once the metered body has ended and settled."""
    keeper.ticket = ticket
    http = response.http_response
    keeper.tee(http)
    tap = Tap(ticket, guard.lease_s, call)
    meter_body(response, guard, account(tap, call))
    end = AsyncBodyEnd if isinstance(http.stream, AsyncMeteredBytes) else BodyEnd
    http.stream = end(http.stream, keeper, tap.meter)
    return response


def kept_body(keeper: Keeper) -> Finisher:
    def kept(guard: Guard, ticket: Ticket, call: Call, response: Any) -> Any:
        return _kept_body(keeper, guard, ticket, call, response)

    return kept


def akept_body(keeper: Keeper) -> AsyncFinisher:
    async def kept(guard: AsyncGuard, ticket: Ticket, call: Call, response: Any) -> Any:
        return _kept_body(keeper, guard, ticket, call, response)

    return kept


def entered(method: Callable[..., Any]) -> Callable[..., Any]:
    """The SDK's ``with_streaming_response`` method, its context manager entered."""

    def enter(**sdk_kwargs: Any) -> Any:
        return method(**sdk_kwargs).__enter__()

    return enter


def aentered(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def enter(**sdk_kwargs: Any) -> Any:
        return await method(**sdk_kwargs).__aenter__()

    return enter
