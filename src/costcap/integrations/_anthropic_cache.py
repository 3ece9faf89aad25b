"""The response cache in the wrapped Anthropic clients: what a call asks of it, and what a miss
records of its answer for it (the flow is in :mod:`costcap.integrations._cache_replay`).

* :class:`CacheSide` — a guarded client's cache and its replay client (built on the first hit);
* :func:`ask` / :func:`ask_async` — the call as the cache keys it (``max_tokens``: the policy's
  cap) and what the cache said; :func:`answer_hit` / :func:`answer_hit_async` — a hit counted
  on the request-count rate limits and recorded at $0;
* :class:`Keeper` — a miss's (or a ``no-cache`` call's) way back to the cache: what it records
  of the answer, then the answer stored, or the lead given up, when the call ends;
* :class:`KeptRun` / :class:`AsyncKeptRun` — a metered stream that records the provider's events
  as it reads them (``event: <type>`` / ``data: <json>``, pings left out as the SDK leaves them)
  and stores them when it was read to its end and settled ``ok``;
* :class:`TeeBytes` / :class:`AsyncTeeBytes` — a streaming response's body, kept as it is read;
* :class:`KeptOpening` / :class:`AsyncKeptOpening` — a streaming response whose answer is
  stored, or its lead given up, when its block is left.

An answer is stored only when it is whole and its call settled: a plain answer settled, a
stream read to its natural end (never one cut by costcap, closed early, dropped or failed), a
streaming response's body read to its end without an ``error`` event. Every other ending gives
the lead up, so identical requests waiting on it go on. Storing never fails a call: a cache
that cannot take the answer is logged and the caller gets their answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx2
from anthropic import AsyncStream, Stream
from anthropic.types import RawMessageStreamEvent

from costcap.cache import CachedAnswer, CacheRequest
from costcap.guard import AsyncGuard, Guard
from costcap.integrations._anthropic_body import Shapes, body_usage
from costcap.integrations._anthropic_request import Call
from costcap.integrations._anthropic_runs import AsyncRun, EventMeter, SyncRun
from costcap.integrations._cache_answers import Kept, sse_usage
from costcap.integrations._cache_replay import (
    Asked,
    answer_hit,
    answer_hit_async,
    cache_request,
    policy_cap,
    replay_client,
    sse_event,
)
from costcap.integrations._opening import AsyncOpening, Opening
from costcap.pricing import usage_from
from costcap.ticket import Ticket

__all__ = [
    "Asked",
    "AsyncKeptOpening",
    "AsyncKeptRun",
    "AsyncTeeBytes",
    "CacheSide",
    "Keeper",
    "KeptOpening",
    "KeptRun",
    "TeeBytes",
    "answer_hit",
    "answer_hit_async",
    "ask",
    "ask_async",
]

log = logging.getLogger("costcap.integrations.anthropic")

S = TypeVar("S")


class CacheSide:
    """A guarded client's response cache, and the copy of its SDK client that replays hits."""

    __slots__ = ("_replay", "cache", "client")

    def __init__(self, cache: Any, client: Any) -> None:
        self.cache = cache  # a ResponseCache (sync client) or AsyncResponseCache (async client)
        self.client = client
        self._replay: Any = None

    def replayed(self, path: str) -> Any:
        """The replay client's resource at ``path`` (``messages``, ``beta.messages``)."""
        if self._replay is None:  # two threads may both build one: either serves
            self._replay = replay_client(self.client)
        resource = self._replay
        for name in path.split("."):
            resource = getattr(resource, name)
        return resource


def _request(call: Call, cap: int, read: bool, write: bool) -> CacheRequest:
    return cache_request("messages", call.kwargs, cap, stream=call.stream,
                         admission=call.admission, read=read, write=write)  # fmt: skip


def _cap(guard: Guard | AsyncGuard, call: Call) -> int:
    cap = policy_cap(guard, call.admission)
    call.kwargs["max_tokens"] = cap  # a hit replays the request as it would have been sent
    return cap


def ask(side: CacheSide, guard: Guard, call: Call, read: bool, write: bool) -> Asked:
    """The policy's cap for ``call`` (a refusal is recorded and raised), then the cache's
    answer: a hit, a miss to answer and store, or a bypass."""
    started = time.perf_counter()
    cap = _cap(guard, call)
    return Asked(call, side.cache.lookup(_request(call, cap, read, write)), cap, started)


async def ask_async(
    side: CacheSide, guard: AsyncGuard, call: Call, read: bool, write: bool
) -> Asked:
    """:func:`ask` for an async client."""
    started = time.perf_counter()
    cap = _cap(guard, call)
    return Asked(call, await side.cache.lookup(_request(call, cap, read, write)), cap, started)


# -- what a miss keeps ------------------------------------------------------------------------


def json_body(message: Any, parsed: bool) -> bytes:
    """A ``Message`` (``BetaMessage``) as the JSON the provider sent: the SDK's ``to_dict``
    (API names, the fields the answer set). ``parsed``: a ``ParsedMessage`` of ``parse()``,
    whose text blocks carry ``parsed_output``, which the provider never sent."""
    data = message.to_dict(mode="json")
    if parsed:
        for block in data.get("content") or ():
            if isinstance(block, dict):
                block.pop("parsed_output", None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class Keeper(Kept):
    """One miss's way back to the cache: the answer's bytes as recorded (up to the entry's
    size limit), then :meth:`end` — stored, or the lead given up."""

    __slots__ = ()

    def body(self) -> bytes | None:
        return None if self.over else b"".join(self.parts)

    def answer(self, ticket: Ticket, body: bytes | None, usage: object) -> CachedAnswer | None:
        """The answer to store for a settled call; None when there is none (not settled, too
        large, or sent with another cap than the key holds)."""
        if body is None or ticket.cost is None or ticket.max_tokens != self.asked.cap:
            return None
        try:
            counts = usage_from(usage)
        except Exception:  # the caller has their answer; the cache goes without
            log.exception("could not read the usage of call %s for the cache", ticket.id)
            return None
        return CachedAnswer(
            shape="sse" if self.asked.call.stream else "json", body=body, model=ticket.model,
            cost_pico=ticket.cost.total_pico, provider=ticket.price.provider,
            input_tokens=counts.input_tokens, output_tokens=counts.output_tokens,
            stored_at=time.time(),
        )  # fmt: skip

    def message_answer(self, ticket: Ticket, message: Any, parsed: bool) -> CachedAnswer | None:
        """The answer of a settled plain call, from the SDK's ``Message``."""
        try:
            body = json_body(message, parsed)
        except Exception:  # as in answer()
            log.exception("could not record the answer of call %s for the cache", ticket.id)
            return None
        return self.answer(ticket, body, message.usage)

    def body_answer(
        self, ticket: Ticket, tee: TeeBytes | AsyncTeeBytes, http: httpx2.Response, shapes: Shapes
    ) -> CachedAnswer | None:
        """The answer of a streaming response: its body, when read to its end unencoded."""
        if not tee.complete or http.headers.get("content-encoding", "").lower() not in (
            "",
            "identity",
        ):
            return None
        body = self.body()
        if body is None:
            return None
        try:
            if http.headers.get("content-type", "").startswith("text/event-stream"):
                usage = sse_usage(body)
                return None if usage is None else self.answer(ticket, body, usage)
            message_usage, _ = body_usage(body, shapes)
            return self.answer(ticket, body, message_usage)
        except Exception:  # not an answer the SDK reads: not one to replay
            log.warning("the body of call %s is not kept in the cache", ticket.id, exc_info=True)
            return None

    def end(self, answer: CachedAnswer | None) -> None:
        """Store ``answer`` (None: give the lead up), on a sync cache."""
        self.store(answer)

    async def end_async(self, answer: CachedAnswer | None) -> None:
        """:meth:`end` on an async cache; shielded: a cancelled call still ends its lead."""
        await self.store_async(answer)


class RecordingMeter(EventMeter):
    """An :class:`EventMeter` that also writes each event it meters back as SSE."""

    def __init__(self, ticket: Ticket, lease_s: float, keeper: Keeper) -> None:
        super().__init__(ticket, lease_s)
        self.keeper = keeper

    def see(self, event: RawMessageStreamEvent) -> None:
        super().see(event)
        self.keeper.add(sse_event(event.to_dict(mode="json"), event=event.type))


class KeptRun(SyncRun):
    """A metered stream whose events are kept: stored when it ends read through and ``ok``."""

    def __init__(
        self, guard: Guard, ticket: Ticket, inner: Stream[RawMessageStreamEvent], keeper: Keeper
    ) -> None:
        super().__init__(guard, ticket, inner)
        self.tally = RecordingMeter(ticket, guard.lease_s, keeper)
        self.keeper = keeper

    def _settle(self) -> None:
        if self.settled:
            return
        answer = None
        try:
            super()._settle()
            meter = self.tally.meter
            if self.completed and meter.status == "ok":
                answer = self.keeper.answer(self.ticket, self.keeper.body(), meter.final_usage())
        finally:
            self.keeper.end(answer)


class AsyncKeptRun(AsyncRun):
    """The async twin of :class:`KeptRun`."""

    def __init__(
        self,
        guard: AsyncGuard,
        ticket: Ticket,
        inner: AsyncStream[RawMessageStreamEvent],
        keeper: Keeper,
    ) -> None:
        super().__init__(guard, ticket, inner)
        self.tally = RecordingMeter(ticket, guard.lease_s, keeper)
        self.keeper = keeper

    async def _settle(self) -> None:
        if self.settled:
            return
        answer = None
        try:
            await super()._settle()
            meter = self.tally.meter
            if self.completed and meter.status == "ok":
                answer = self.keeper.answer(self.ticket, self.keeper.body(), meter.final_usage())
        finally:
            await self.keeper.end_async(answer)


# -- streaming responses ------------------------------------------------------------------------


class _Tee:
    """What the sync and async body tees share: the source stream's other attributes."""

    def __init__(self, inner: Any, keeper: Keeper) -> None:
        self._inner = inner
        self._keeper = keeper
        self.complete = False  # the body was read to its end

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class TeeBytes(_Tee, httpx2.SyncByteStream):
    """A response body whose pieces are kept as they are read."""

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._inner:
            self._keeper.add(piece)
            yield piece
        self.complete = True

    def close(self) -> None:
        self._inner.close()


class AsyncTeeBytes(_Tee, httpx2.AsyncByteStream):
    """The async twin of :class:`TeeBytes`."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._inner:
            self._keeper.add(piece)
            yield piece
        self.complete = True

    async def aclose(self) -> None:
        await self._inner.aclose()


def tee_body(response: Any, keeper: Keeper) -> TeeBytes | AsyncTeeBytes:
    """Keep the body of the SDK's streaming ``response`` as it is read (before it is metered)."""
    http = response.http_response
    tee: TeeBytes | AsyncTeeBytes
    if isinstance(http.stream, httpx2.AsyncByteStream):
        tee = AsyncTeeBytes(http.stream, keeper)
    else:
        tee = TeeBytes(http.stream, keeper)
    http.stream = tee
    return tee


class KeptOpening(Opening[S]):
    """An :class:`Opening` that, once its block is left (the response closed and settled),
    runs ``after`` (set by the opening: the answer stored or the lead given up)."""

    def __init__(self, open_it: Callable[[], S]) -> None:
        super().__init__(open_it)
        self.after: Callable[[], None] | None = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, exc_tb)
        finally:
            after, self.after = self.after, None
            if after is not None:
                after()


class AsyncKeptOpening(AsyncOpening[S]):
    """The async twin of :class:`KeptOpening`."""

    def __init__(self, open_it: Callable[[], Awaitable[S]]) -> None:
        super().__init__(open_it)
        self.after: Callable[[], Awaitable[None]] | None = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, exc_tb)
        finally:
            after, self.after = self.after, None
            if after is not None:
                await after()
