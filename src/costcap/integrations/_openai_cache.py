"""The response cache in the wrapped OpenAI clients: what a call asks of it, how a hit is
replayed, and what a miss keeps of its answer (the flow is in
:mod:`costcap.integrations._cache_replay`; the calls in :mod:`costcap.integrations.openai`).

* :class:`CacheSide` — a guarded client's cache and its replay client (built on the first hit);
* :func:`ask` / :func:`ask_async` — the call as the cache keys it and what the cache said. The
  key holds the policy's output cap under one name whichever field the caller used:
  ``max_completion_tokens`` for chat (per choice when ``n`` > 1), ``max_output_tokens`` for
  Responses;
* :func:`answer_hit` / :func:`answer_hit_async` — a hit counted on the request-count rate limits
  and recorded at $0; :func:`replayed` — the stored answer as this caller gets it (a chat
  stream's usage chunk, which costcap asked for when it was stored, stays hidden from a caller
  who did not ask for it);
* :class:`Keeper` — a miss's (or a ``no-cache`` call's) way back to the cache: the answer's
  bytes, then the answer stored, or the lead given up, once the call has settled;
* :class:`TeeBytes` / :class:`AsyncTeeBytes` — a response body kept as it is read;
  :class:`BodyEnd` / :class:`AsyncBodyEnd` — a streaming response's metered body whose end (read
  through, or closed, and settled) ends its keeper.

An answer is stored only when it is whole, unencoded, its call settled at the cap the key holds,
and it is an answer rather than a failure: a chat completion with choices, a response
``completed`` or ``incomplete``, a chat stream with a finish reason, a Responses stream that
reached ``response.completed`` / ``response.incomplete`` — none holding an ``error``. A stream
is whole when read to its natural end (never one cut by costcap, closed early, dropped or
failed). Every other ending gives the lead up, so identical requests waiting on it go on.
Storing never fails a call: a cache that cannot take the answer is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import replace
from typing import Any

import anyio
import httpx
import httpx2

from costcap.cache import CachedAnswer, CacheRequest
from costcap.cache._key import Shape
from costcap.guard import AsyncGuard, Guard
from costcap.integrations._body_account import SseEvents
from costcap.integrations._cache_replay import (
    Asked,
    answer_hit,
    answer_hit_async,
    cache_body,
    policy_cap,
    replay_client,
    sse_event,
)
from costcap.integrations._meter import Meter
from costcap.integrations._openai_request import RESPONSES_MAX, Call, Kind, asks_usage, chat_cap
from costcap.ticket import Ticket

__all__ = [
    "Asked",
    "AsyncBodyEnd",
    "AsyncTeeBytes",
    "BodyEnd",
    "CacheSide",
    "Keeper",
    "TeeBytes",
    "answer_hit",
    "answer_hit_async",
    "answer_tokens",
    "ask",
    "ask_async",
    "object_tokens",
    "replayed",
]

log = logging.getLogger("costcap.integrations.openai")

PROVIDER = "openai"
ENDPOINTS: dict[Kind, str] = {"chat": "chat.completions", "responses": "responses"}
#: The name the key gives the output cap, whichever field the caller used.
CAP_FIELDS: dict[Kind, str] = {"chat": "max_completion_tokens", "responses": RESPONSES_MAX}
_PLAIN_ENCODINGS = ("", "identity")
_FINAL_RESPONSES = ("response.completed", "response.incomplete")
_ANSWERED_STATUSES = ("completed", "incomplete")


class CacheSide:
    """A guarded client's response cache, and the copy of its SDK client that replays hits."""

    __slots__ = ("_replay", "cache", "client")

    def __init__(self, cache: Any, client: Any) -> None:
        self.cache = cache  # a ResponseCache (sync client) or AsyncResponseCache (async client)
        self.client = client
        self._replay: Any = None

    def replayed(self, kind: Kind) -> Any:
        """The replay client's resource for ``kind`` (``chat.completions``, ``responses``)."""
        if self._replay is None:  # two threads may both build one: either serves
            self._replay = replay_client(self.client)
        return self._replay.chat.completions if kind == "chat" else self._replay.responses


def _cap(guard: Guard | AsyncGuard, call: Call) -> int:
    return policy_cap(guard, call.admission)


def _request(
    kwargs: Mapping[str, Any], call: Call, cap: int, read: bool, write: bool
) -> CacheRequest:
    a = call.admission
    sent = chat_cap(call, cap) if call.kind == "chat" else cap
    return CacheRequest(
        provider=PROVIDER, endpoint=ENDPOINTS[call.kind],
        body=cache_body(kwargs, (CAP_FIELDS[call.kind], sent)),
        shape="sse" if call.stream else "json", feature=a["feature"], user_id=a["user_id"],
        api_key=a["api_key"], read=read, write=write,
    )  # fmt: skip


def ask(
    cache: Any, guard: Guard, kwargs: Mapping[str, Any], call: Call, *, read: bool, write: bool
) -> Asked:
    """The policy's cap for ``call`` (a refusal is recorded and raised), then the cache's
    answer: a hit, a miss to answer and store, or a bypass."""
    started = time.perf_counter()
    cap = _cap(guard, call)
    return Asked(call, cache.lookup(_request(kwargs, call, cap, read, write)), cap, started)


async def ask_async(
    cache: Any,
    guard: AsyncGuard,
    kwargs: Mapping[str, Any],
    call: Call,
    *,
    read: bool,
    write: bool,
) -> Asked:
    """:func:`ask` for an async client."""
    started = time.perf_counter()
    cap = _cap(guard, call)
    lookup = await cache.lookup(_request(kwargs, call, cap, read, write))
    return Asked(call, lookup, cap, started)


def replayed(answer: CachedAnswer, call: Call, kwargs: Mapping[str, Any]) -> CachedAnswer:
    """``answer`` as the caller of ``kwargs`` gets it: a chat stream stored with the usage chunk
    costcap asked for loses it unless the caller asked for it too."""
    if call.kind != "chat" or answer.shape != "sse" or asks_usage(kwargs):
        return answer
    return replace(answer, body=_without_usage_chunk(answer.body))


def _without_usage_chunk(body: bytes) -> bytes:
    events = SseEvents()
    kept: list[bytes] = []
    for data in [*events.feed(body), *events.end()]:
        if not data.startswith("[DONE]"):
            value = json.loads(data)
            if isinstance(value, dict) and value.get("usage") and not value.get("choices"):
                continue
        kept.append(sse_event(data))
    return b"".join(kept)


# -- what a miss keeps --------------------------------------------------------------------------


def _counts(usage: object, names: tuple[str, str]) -> tuple[int, int]:
    """The (input, output) token counts a usage object names ``names``; 0 where it says none."""
    if not isinstance(usage, Mapping):
        return 0, 0
    given, made = (usage.get(name) for name in names)
    return (given if type(given) is int else 0), (made if type(made) is int else 0)


def answer_tokens(kind: Kind, shape: Shape, body: bytes) -> tuple[int, int] | None:
    """The input and output tokens of a whole answer worth replaying; None for a body that is
    not one (an error, a failed or unfinished response, not the JSON the SDK reads).

    A stream is judged by a search of its bytes for an error event, and by its last events
    alone — where the finish reason, the usage and the final response are — rather than by
    parsing every event again (which cost ~90 µs for a 20-token chat stream)."""
    try:
        if shape == "json":
            return _json_tokens(kind, json.loads(body))
        if _failed(body):
            return None
        values = [json.loads(data) for data in _last_data(body)]
    except ValueError:
        return None
    if not all(isinstance(v, dict) and not v.get("error") for v in values):
        return None
    if kind == "chat":
        if not any(c.get("finish_reason") for v in values for c in v.get("choices") or ()):
            return None
        usages = [v["usage"] for v in values if v.get("usage")]
        return _counts(usages[-1] if usages else None, ("prompt_tokens", "completion_tokens"))
    if not values or values[-1].get("type") not in _FINAL_RESPONSES:
        return None
    response = values[-1].get("response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    return _counts(usage, ("input_tokens", "output_tokens"))


#: An error event anywhere in a stream (each at a line's start): Responses' ``error`` /
#: ``response.failed`` events, a chat stream's ``data: {"error": …}``. Plain byte searches:
#: a regular expression took ~35 µs over a 20-token stream, these ~2 µs.
_FAILED_MARKS = (
    b"\nevent: error", b"\nevent:error", b"\nevent: response.failed", b"\nevent:response.failed",
    b'\ndata: {"error"', b'\ndata:{"error"',
)  # fmt: skip


def _failed(body: bytes) -> bool:
    framed = b"\n" + body
    return any(mark in framed for mark in _FAILED_MARKS)


_TAIL = 4  # a chat stream ends: the finish reason, the usage, [DONE]; Responses: the final event


def _last_data(body: bytes) -> list[str]:
    """The data of the stream's last few events ([DONE] left out), oldest first."""
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    events = body.rstrip().rsplit(b"\n\n", _TAIL)
    found = []
    for event in events[1:] if len(events) > _TAIL else events:
        lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
        data = b"\n".join(lines).decode()
        if data and not data.startswith("[DONE]"):
            found.append(data)
    return found


def object_tokens(kind: Kind, result: Any) -> tuple[int, int] | None:
    """:func:`answer_tokens` of an answer the SDK already read into its object: a chat
    completion with choices, a response completed or incomplete; None for any other."""
    usage = getattr(result, "usage", None)
    if kind == "chat":
        if not getattr(result, "choices", None):
            return None
        names = ("prompt_tokens", "completion_tokens")
    else:
        if getattr(result, "status", None) not in _ANSWERED_STATUSES:
            return None
        names = ("input_tokens", "output_tokens")
    given, made = (getattr(usage, name, None) for name in names)
    return (given if type(given) is int else 0), (made if type(made) is int else 0)


def _json_tokens(kind: Kind, value: object) -> tuple[int, int] | None:
    if not isinstance(value, dict) or value.get("error"):
        return None
    if kind == "chat":
        if not value.get("choices"):
            return None
        return _counts(value.get("usage"), ("prompt_tokens", "completion_tokens"))
    if value.get("status") not in _ANSWERED_STATUSES:
        return None
    return _counts(value.get("usage"), ("input_tokens", "output_tokens"))


class Keeper:
    """One miss's way back to the cache: the answer's bytes as recorded (up to the entry's
    size limit), then :meth:`end` — stored, or the lead given up. Ends once."""

    __slots__ = (
        "asked", "cache", "ended", "over", "parts", "plain", "size", "ticket", "tokens", "whole",
    )  # fmt: skip

    def __init__(self, cache: Any, asked: Asked) -> None:
        self.cache = cache
        self.asked = asked
        self.ticket: Ticket | None = None  # the admitted call, once admitted
        self.parts: list[bytes] = []
        self.size = 0
        self.over = False  # larger than an entry may be: not kept
        self.plain = True  # the body came without a content encoding (else not kept)
        self.whole = False  # the body was read to its end
        self.ended = False
        self.tokens: tuple[int, int] | None = None  # known from the SDK's object: not re-read

    def add(self, piece: bytes) -> None:
        if self.over:
            return
        self.size += len(piece)
        if self.size > self.asked.lookup.max_entry_bytes:
            self.over, self.parts = True, []
            return
        self.parts.append(piece)

    def tee(self, http: Any) -> None:
        """Keep the body of the SDK's ``http`` response as it is read (before anything else
        reads it)."""
        self.plain = http.headers.get("content-encoding", "").strip().lower() in _PLAIN_ENCODINGS
        if isinstance(http.stream, httpx2.AsyncByteStream | httpx.AsyncByteStream):
            http.stream = AsyncTeeBytes(http.stream, self)
        else:
            http.stream = TeeBytes(http.stream, self)

    def answer(self, completed: bool) -> CachedAnswer | None:
        """The answer to store; None unless ``completed`` and worth storing."""
        ticket = self.ticket
        if not completed or self.over or not self.plain or ticket is None or ticket.cost is None:
            return None
        if ticket.max_tokens != self.asked.cap:  # sent with another cap than the key holds
            return None
        call = self.asked.call
        shape: Shape = "sse" if call.stream else "json"
        body = b"".join(self.parts)
        tokens = self.tokens or answer_tokens(call.kind, shape, body)
        if tokens is None:
            log.debug("call %s: its answer is not one to replay, not cached", ticket.id)
            return None
        return CachedAnswer(
            shape=shape, body=body, model=ticket.model, cost_pico=ticket.cost.total_pico,
            provider=ticket.price.provider, input_tokens=tokens[0], output_tokens=tokens[1],
            stored_at=time.time(),
        )  # fmt: skip

    def _claim(self) -> bool:
        if self.ended:
            return False
        self.ended = True
        return True

    def end(self, completed: bool) -> None:
        """Store the answer (when ``completed`` and worth it) or give the lead up; sync cache."""
        if not self._claim():
            return
        try:
            answer = self.answer(completed)
            if answer is None:
                self.cache.abandon(self.asked.lookup)
            else:
                self.cache.store(self.asked.lookup, answer)
        except Exception:  # the caller has their answer; waiters stop waiting at wait_s
            log.exception("the response cache failed to end a lookup")

    async def end_async(self, completed: bool) -> None:
        """:meth:`end` on an async cache; shielded: a cancelled call still ends its lead."""
        if not self._claim():
            return
        with anyio.CancelScope(shield=True):
            try:
                answer = self.answer(completed)
                if answer is None:
                    await self.cache.abandon(self.asked.lookup)
                else:
                    await self.cache.store(self.asked.lookup, answer)
            except Exception:  # as in end()
                log.exception("the response cache failed to end a lookup")


# -- response bodies --------------------------------------------------------------------------


class _Wrapped:
    """A byte stream in front of another: the source's other attributes (httpx keeps the
    response's ``elapsed`` on its stream)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    @property
    def elapsed(self) -> Any:
        return getattr(self._inner, "elapsed", None)

    @elapsed.setter
    def elapsed(self, value: Any) -> None:
        self._inner.elapsed = value


class TeeBytes(_Wrapped, httpx2.SyncByteStream, httpx.SyncByteStream):
    """A response body whose pieces are kept as they are read."""

    def __init__(self, inner: Any, keeper: Keeper) -> None:
        super().__init__(inner)
        self._keeper = keeper

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._inner:
            self._keeper.add(piece)
            yield piece
        self._keeper.whole = True

    def close(self) -> None:
        self._inner.close()


class AsyncTeeBytes(_Wrapped, httpx2.AsyncByteStream, httpx.AsyncByteStream):
    """The async twin of :class:`TeeBytes`."""

    def __init__(self, inner: Any, keeper: Keeper) -> None:
        super().__init__(inner)
        self._keeper = keeper

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._inner:
            self._keeper.add(piece)
            yield piece
        self._keeper.whole = True

    async def aclose(self) -> None:
        await self._inner.aclose()


class BodyEnd(_Wrapped, httpx2.SyncByteStream, httpx.SyncByteStream):
    """A streaming response's metered body (``inner``); when it has ended and settled — read
    through, failed, cut, or closed — its keeper ends: stored when the whole body was read
    and costcap did not cut it."""

    def __init__(self, inner: Any, keeper: Keeper, meter: Meter) -> None:
        super().__init__(inner)
        self._keeper = keeper
        self._meter = meter

    def _end(self) -> None:
        self._keeper.end(self._keeper.whole and not self._meter.cut)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except GeneratorExit:  # the reader went away: close() settles, then ends
            raise
        except BaseException:  # settled by the metered body on its way out
            self._end()
            raise
        self._end()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end()


class AsyncBodyEnd(_Wrapped, httpx2.AsyncByteStream, httpx.AsyncByteStream):
    """The async twin of :class:`BodyEnd`."""

    def __init__(self, inner: Any, keeper: Keeper, meter: Meter) -> None:
        super().__init__(inner)
        self._keeper = keeper
        self._meter = meter

    async def _end(self) -> None:
        await self._keeper.end_async(self._keeper.whole and not self._meter.cut)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._inner:
                yield piece
        except GeneratorExit:  # the reader went away: aclose() settles, then ends
            raise
        except BaseException:
            await self._end()
            raise
        await self._end()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            await self._end()
