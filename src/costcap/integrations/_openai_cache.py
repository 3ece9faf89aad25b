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
  bytes, then the answer stored, or the lead given up, once the call has settled (the keeper
  and the judging of answers, :func:`answer_tokens`, are shared with the guarded HTTP
  transports: :mod:`costcap.integrations._cache_answers`);
* :class:`TeeBytes` / :class:`AsyncTeeBytes` — a response body kept as it is read;
  :class:`BodyEnd` / :class:`AsyncBodyEnd` — a streaming response's metered body whose end (read
  through, or closed, and settled) ends its keeper.

An answer is stored only when it is whole and an answer rather than a failure (see
:mod:`~costcap.integrations._cache_answers`). A stream is whole when read to its natural end
(never one cut by costcap, closed early, dropped or failed). Every other ending gives the lead
up, so identical requests waiting on it go on. Storing never fails a call: a cache that cannot
take the answer is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx
import httpx2

from costcap.cache import CachedAnswer, CacheRequest
from costcap.guard import AsyncGuard, Guard
from costcap.integrations._cache_answers import Keeper as SharedKeeper
from costcap.integrations._cache_answers import answer_tokens, without_usage_chunk
from costcap.integrations._cache_replay import (
    Asked,
    answer_hit,
    answer_hit_async,
    cache_request,
    policy_cap,
    replay_client,
)
from costcap.integrations._meter import Meter
from costcap.integrations._openai_request import Call, Kind, asks_usage, chat_cap

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

_PLAIN_ENCODINGS = ("", "identity")
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
    sent = chat_cap(call, cap) if call.kind == "chat" else cap
    return cache_request(call.kind, kwargs, sent, stream=call.stream, admission=call.admission,
                         read=read, write=write)  # fmt: skip


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
    return replace(answer, body=without_usage_chunk(answer.body))


# -- what a miss keeps --------------------------------------------------------------------------


def object_tokens(kind: Kind, result: Any) -> tuple[int, int] | None:
    """:func:`~costcap.integrations._cache_answers.answer_tokens` of an answer the SDK already
    read into its object: a chat completion with choices, a response completed or incomplete;
    None for any other."""
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


class Keeper(SharedKeeper):
    """:class:`~costcap.integrations._cache_answers.Keeper`, which also tees an SDK response's
    body as it is read."""

    __slots__ = ()

    def tee(self, http: Any) -> None:
        """Keep the body of the SDK's ``http`` response as it is read (before anything else
        reads it)."""
        self.plain = http.headers.get("content-encoding", "").strip().lower() in _PLAIN_ENCODINGS
        if isinstance(http.stream, httpx2.AsyncByteStream | httpx.AsyncByteStream):
            http.stream = AsyncTeeBytes(http.stream, self)
        else:
            http.stream = TeeBytes(http.stream, self)


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
