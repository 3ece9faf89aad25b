"""What a cache miss keeps: the answer's bytes as they are read, judged whole, then stored or
its lead given up. Shared by the wrapped OpenAI clients (:mod:`costcap.integrations._openai_cache`)
and the guarded HTTP transports (:mod:`costcap.wire`); no SDK is imported.

* :func:`answer_tokens` — whether a body is a whole answer worth replaying (Chat Completions,
  Responses, Anthropic Messages; JSON or SSE), and its input and output tokens;
* :func:`sse_usage` — the usage a whole Anthropic event stream reports;
* :func:`without_usage_chunk` — a chat stream less the usage-only chunk (costcap asked for it
  when the answer was stored; a caller who did not ask does not get it);
* :class:`Kept` — an answer's bytes kept as they are read, then stored or its lead given up;
  :class:`Keeper` — one miss's way back to the cache, its answer judged by these rules.

An answer is stored only when it is whole, unencoded, its call settled at the cap the key holds,
and it is an answer rather than a failure: a chat completion with choices, a response
``completed`` or ``incomplete``, a Messages ``message``, a chat stream with a finish reason, a
Responses stream that reached ``response.completed`` / ``response.incomplete``, a Messages
stream that reached ``message_stop`` — none holding an ``error``. Storing never fails a call: a
cache that cannot take the answer is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

import anyio

from costcap.cache import CachedAnswer
from costcap.cache._key import Shape
from costcap.integrations._body_account import SseEvents
from costcap.integrations._cache_replay import Asked, sse_event
from costcap.pricing import usage_from
from costcap.ticket import Ticket

__all__ = ["Api", "Keeper", "Kept", "answer_tokens", "sse_usage", "without_usage_chunk"]

log = logging.getLogger("costcap.integrations")

#: The APIs whose answers the cache keeps.
Api = Literal["chat", "responses", "messages"]

_FINAL_RESPONSES = ("response.completed", "response.incomplete")
_ANSWERED_STATUSES = ("completed", "incomplete")


def _counts(usage: object, names: tuple[str, str]) -> tuple[int, int]:
    """The (input, output) token counts a usage object names ``names``; 0 where it says none."""
    if not isinstance(usage, Mapping):
        return 0, 0
    given, made = (usage.get(name) for name in names)
    return (given if type(given) is int else 0), (made if type(made) is int else 0)


def answer_tokens(kind: Api, shape: Shape, body: bytes) -> tuple[int, int] | None:
    """The input and output tokens of a whole answer worth replaying; None for a body that is
    not one (an error, a failed or unfinished response, not the JSON the SDK reads).

    An OpenAI stream is judged by a search of its bytes for an error event, and by its last
    events alone — where the finish reason, the usage and the final response are — rather than
    by parsing every event again (which cost ~90 µs for a 20-token chat stream)."""
    try:
        if kind == "messages":
            return _message_tokens(shape, body)
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


def _message_tokens(shape: Shape, body: bytes) -> tuple[int, int] | None:
    """An Anthropic message's (or event stream's) tokens, as costcap reads its usage."""
    if shape == "json":
        value = json.loads(body)
        if not isinstance(value, dict) or value.get("type") != "message":
            return None
        usage = value.get("usage")
    else:
        try:
            usage = sse_usage(body)
        except (LookupError, TypeError, AttributeError):  # not the events the API sends
            return None
    if usage is None:
        return None
    counts = usage_from(usage)
    return counts.input_tokens, counts.output_tokens


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


def _json_tokens(kind: Api, value: object) -> tuple[int, int] | None:
    if not isinstance(value, dict) or value.get("error"):
        return None
    if kind == "chat":
        if not value.get("choices"):
            return None
        return _counts(value.get("usage"), ("prompt_tokens", "completion_tokens"))
    if value.get("status") not in _ANSWERED_STATUSES:
        return None
    return _counts(value.get("usage"), ("input_tokens", "output_tokens"))


def sse_usage(body: bytes) -> object | None:
    """The usage a whole Anthropic SSE answer reports (``message_start``'s, updated by
    ``message_delta``'s); None unless it ends with ``message_stop`` and holds no error."""
    events = SseEvents()
    start: dict[str, Any] = {}
    last = None
    for data in [*events.feed(body), *events.end()]:
        value = json.loads(data)
        last = value.get("type") if isinstance(value, dict) else None
        if last == "error":
            return None
        if last == "message_start":
            start = dict(value["message"]["usage"])
        elif last == "message_delta":
            start.update({k: v for k, v in value["usage"].items() if v is not None})
    return start if last == "message_stop" else None


def without_usage_chunk(body: bytes) -> bytes:
    """A chat stream's bytes less its usage-only chunk (written back as ``data:`` events)."""
    events = SseEvents()
    kept: list[bytes] = []
    for data in [*events.feed(body), *events.end()]:
        if not data.startswith("[DONE]"):
            value = json.loads(data)
            if isinstance(value, dict) and value.get("usage") and not value.get("choices"):
                continue
        kept.append(sse_event(data))
    return b"".join(kept)


class Kept:
    """An answer's bytes kept for the cache as they are read (up to the entry's size limit),
    then stored, or the lead given up (:meth:`store`). What the wrapped Anthropic clients'
    keeper and :class:`Keeper` share."""

    __slots__ = ("asked", "cache", "over", "parts", "size")

    def __init__(self, cache: Any, asked: Asked) -> None:
        self.cache = cache  # a ResponseCache, or an AsyncResponseCache (store_async)
        self.asked = asked
        self.parts: list[bytes] = []
        self.size = 0
        self.over = False  # larger than an entry may be: not kept

    def add(self, piece: bytes) -> None:
        if self.over:
            return
        self.size += len(piece)
        if self.size > self.asked.lookup.max_entry_bytes:
            self.over, self.parts = True, []
            return
        self.parts.append(piece)

    def store(self, answer: CachedAnswer | None) -> None:
        """Store ``answer`` (None: give the lead up), on a sync cache. Never raises: the caller
        has their answer; waiters stop waiting at ``wait_s``."""
        try:
            if answer is None:
                self.cache.abandon(self.asked.lookup)
            else:
                self.cache.store(self.asked.lookup, answer)
        except Exception:
            log.exception("the response cache failed to end a lookup")

    async def store_async(self, answer: CachedAnswer | None) -> None:
        """:meth:`store` on an async cache; shielded: a cancelled call still ends its lead."""
        with anyio.CancelScope(shield=True):
            try:
                if answer is None:
                    await self.cache.abandon(self.asked.lookup)
                else:
                    await self.cache.store(self.asked.lookup, answer)
            except Exception:  # as in store()
                log.exception("the response cache failed to end a lookup")


class Keeper(Kept):
    """One miss's way back to the cache: the answer's bytes as recorded, then :meth:`end` —
    stored, or the lead given up. Ends once. ``asked.call`` is the call as read (its ``kind``,
    ``stream``)."""

    __slots__ = ("ended", "plain", "ticket", "tokens", "whole")

    def __init__(self, cache: Any, asked: Asked) -> None:
        super().__init__(cache, asked)
        self.ticket: Ticket | None = None  # the admitted call, once admitted
        self.plain = True  # the body came without a content encoding (else not kept)
        self.whole = False  # the body was read to its end
        self.ended = False
        self.tokens: tuple[int, int] | None = None  # known from the SDK's object: not re-read

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

    def _answer(self, completed: bool) -> CachedAnswer | None:
        """The answer to store once, or None: already ended, or none worth storing."""
        try:
            return self.answer(completed)
        except Exception:  # the caller has their answer; the lead is given up
            log.exception("the response cache could not read an answer to store")
            return None

    def end(self, completed: bool) -> None:
        """Store the answer (when ``completed`` and worth it) or give the lead up; sync cache."""
        if not self.ended:
            self.ended = True
            self.store(self._answer(completed))

    async def end_async(self, completed: bool) -> None:
        """:meth:`end` on an async cache (shielded: a cancelled call still ends its lead)."""
        if not self.ended:
            self.ended = True
            await self.store_async(self._answer(completed))
