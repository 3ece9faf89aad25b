"""Unit tests of the body account a streaming response is metered with: events split from pieces
cut anywhere, line endings, content encodings, and what a body that ended each way settles."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from costcap import Guard, Policy
from costcap.integrations._attribution import Attribution
from costcap.integrations._body_account import BodyAccount, SseEvents
from costcap.integrations._meter import StreamCut
from costcap.integrations._openai_body import OpenAIBody
from costcap.integrations._openai_request import chat_call
from costcap.integrations._openai_stream import Tap
from costcap.pricing import Usage, usage_from
from tests.integrations.openai_sdk.conftest import MODEL

WORDS = 5


def _chunk(**fields: Any) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL, **fields}


def sse_body(newline: str = "\n") -> bytes:
    """A chat completion streamed: WORDS words, then the usage chunk and [DONE]."""
    chunks = [
        _chunk(choices=[{"index": 0, "delta": {"content": " hello"}, "finish_reason": None}])
        for _ in range(WORDS)
    ]
    usage = {"prompt_tokens": 7, "completion_tokens": WORDS, "total_tokens": 7 + WORDS}
    chunks.append(_chunk(choices=[], usage=usage))
    events = [f"data: {json.dumps(c)}" for c in chunks] + ["data: [DONE]"]
    return "".join(event + newline * 2 for event in events).encode()


JSON_BODY = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": MODEL,
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": " hello"}}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
}).encode()  # fmt: skip


@pytest.fixture
def guard() -> Iterator[Guard]:
    guard = Guard("memory://", policy=Policy(default_max_tokens=8), notifiers=[])
    yield guard
    guard.close()


def account(guard: Guard, *, sse: bool, encoding: str = "", max_tokens: int = 100) -> BodyAccount:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [], "stream": sse,
                              "max_tokens": max_tokens}  # fmt: skip
    call = chat_call(kwargs, Attribution())
    ticket = guard.admit(**call.admission)
    return BodyAccount(OpenAIBody(Tap(ticket, 600, call), call), sse=sse, content_encoding=encoding)


def feed(body: BodyAccount, data: bytes, size: int) -> None:
    for at in range(0, len(data), size):
        body.feed(data[at : at + size])
    body.end()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("size", [1, 2, 7, 1 << 20])
def test_events_are_the_same_however_the_body_is_cut(guard: Guard, newline: str, size: int) -> None:
    """Pieces of any size, with any line ending, meter the same: every word, the final usage."""
    body = account(guard, sse=True)
    feed(body, sse_body(newline), size)
    assert body.meter.output_tokens == WORDS
    assert body.meter.final
    settled = body.settlement("completed")
    assert settled.usage == Usage(input_tokens=7, output_tokens=WORDS)
    assert settled.status == "ok"


def test_a_last_event_without_its_blank_line_is_metered() -> None:
    """An event the body ends in, unterminated, is still counted when the body ends."""
    events = SseEvents()
    assert events.feed(b"event: x\ndata: one\n\ndata: t") == ["one"]
    assert events.feed(b"wo\n: a comment\ndata:three") == []
    assert events.end() == ["two\nthree"]


def test_a_crlf_cut_between_its_two_bytes_ends_one_line() -> None:
    """A "\r\n" split across two pieces ends one line, not two (a blank line would end the
    event early)."""
    events = SseEvents()
    assert events.feed(b"data: a\r") == []
    assert events.feed(b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_a_gzip_body_is_decoded_before_it_is_metered(guard: Guard) -> None:
    """A body the server compressed anyway is decoded for the meter: its usage is read."""
    body = account(guard, sse=False, encoding="gzip")
    feed(body, gzip.compress(JSON_BODY), 5)
    settled = body.settlement("completed")
    assert usage_from(settled.usage) == Usage(input_tokens=7, output_tokens=1)
    assert settled.status == "ok"


def test_an_unreadable_encoding_is_charged_the_reservation(guard: Guard) -> None:
    """A body costcap cannot decode is priced at its reservation: input + max_tokens."""
    body = account(guard, sse=True, encoding="br", max_tokens=40)
    feed(body, b"\x8b\x00\x80garbage", 3)
    settled = body.settlement("completed")
    assert settled.usage == Usage(input_tokens=body.meter.ticket.input_tokens, output_tokens=40)
    assert settled.status == "cut"


def test_a_json_body_left_unread_needs_its_rest(guard: Guard) -> None:
    """A JSON body not read to its end asks for its rest (its usage is at the end); read, it
    settles at that usage."""
    body = account(guard, sse=False)
    body.feed(JSON_BODY[:10])
    assert body.needs_rest
    body.feed(JSON_BODY[10:])
    body.end()
    assert not body.needs_rest
    assert usage_from(body.settlement("completed").usage) == Usage(input_tokens=7, output_tokens=1)


def test_an_sse_body_stopped_early_is_charged_what_was_read(guard: Guard) -> None:
    """An event stream left early: what was read, status cut; it never asks for its rest."""
    body = account(guard, sse=True)
    body.feed(sse_body()[:300])
    assert not body.needs_rest
    settled = body.settlement("stopped")
    assert settled.status == "cut"
    assert usage_from(settled.usage).output_tokens == body.meter.output_tokens > 0


def test_an_sse_body_past_its_reservation_is_cut(guard: Guard) -> None:
    """The word past max_tokens raises StreamCut from feed()."""
    body = account(guard, sse=True, max_tokens=3)
    with pytest.raises(StreamCut):
        feed(body, sse_body(), 1 << 20)
    assert body.meter.cut
