"""Anthropic Messages through the real ``anthropic`` SDK, over HTTP."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from costcap.testing import FakeProviderServer
from costcap.tokens import count_messages, count_text
from tests.testing.helpers import ANTHROPIC_MODEL, ANTHROPIC_USER, sse_events

SYSTEM = "You are terse."

STREAM_SEQUENCE = [
    "message_start",
    "content_block_start",
    "ping",
    *["content_block_delta"] * 5,
    "content_block_stop",
    "message_delta",
    "message_stop",
]


def test_message_usage_is_costcap_count(ant: anthropic.Anthropic) -> None:
    """input_tokens is count_messages (with system); output_tokens is count_text of the reply."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        system=SYSTEM,
        messages=ANTHROPIC_USER,
    )
    assert (
        message.usage.input_tokens
        == count_messages(ANTHROPIC_USER, ANTHROPIC_MODEL, system=SYSTEM).tokens
    )
    text = message.content[0].text  # type: ignore[union-attr]
    assert message.usage.output_tokens == count_text(text, ANTHROPIC_MODEL)
    assert message.stop_reason == "end_turn"


def test_input_tokens_exclude_cache_reads_and_writes(ant: anthropic.Anthropic) -> None:
    """Cache reads and writes are reported apart and are not in input_tokens (as the real API)."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        extra_headers={"x-fake-cached-tokens": "3", "x-fake-cache-write-tokens": "2"},
    )
    total = count_messages(ANTHROPIC_USER, ANTHROPIC_MODEL).tokens
    assert message.usage.cache_read_input_tokens == 3
    assert message.usage.cache_creation_input_tokens == 2
    assert message.usage.input_tokens == total - 5


def test_max_tokens_cuts_output_with_stop_reason_max_tokens(ant: anthropic.Anthropic) -> None:
    """max_tokens below the output length: output within max_tokens, stop_reason max_tokens."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=6,
        messages=ANTHROPIC_USER,
    )
    assert message.stop_reason == "max_tokens"
    assert 0 < message.usage.output_tokens <= 6
    text = message.content[0].text  # type: ignore[union-attr]
    assert count_text(text, ANTHROPIC_MODEL) == message.usage.output_tokens


def test_missing_max_tokens_is_bad_request(ant: anthropic.Anthropic) -> None:
    """A request without max_tokens is a 400 invalid_request_error (the SDK's BadRequestError)."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant.post(
            "/v1/messages",
            body={"model": ANTHROPIC_MODEL, "messages": ANTHROPIC_USER},
            cast_to=Message,
        )
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
        "request_id": caught.value.request_id,
    }


def test_message_body_validates_strictly(fp: FakeProviderServer, http: httpx.Client) -> None:
    """The raw JSON body passes strict validation as the SDK's Message model."""
    body = {"model": ANTHROPIC_MODEL, "max_tokens": 50, "messages": ANTHROPIC_USER}
    response = http.post("/v1/messages", json=body)
    message = Message.model_validate(response.json())
    assert response.headers["request-id"] == fp.last.request_id
    assert message.id == fp.last.id
    assert message.usage.cache_read_input_tokens == 0


def test_stream_event_sequence_and_final_usage(ant: anthropic.Anthropic) -> None:
    """A stream emits message_start … message_stop; message_delta has the cumulative output."""
    with ant.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        extra_headers={"x-fake-output-tokens": "6"},
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [event.type for event in events if event.type not in ("text",)]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    start = events[0]
    assert start.type == "message_start"
    assert start.message.usage.output_tokens == 1
    assert (
        start.message.usage.input_tokens == count_messages(ANTHROPIC_USER, ANTHROPIC_MODEL).tokens
    )
    text = final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == count_text(text, ANTHROPIC_MODEL) <= 6
    assert final.stop_reason == "end_turn"


def test_stream_events_validate_strictly(http: httpx.Client) -> None:
    """event: lines match data types; every event but ping validates as RawMessageStreamEvent."""
    body = {"model": "gpt-4o", "max_tokens": 50, "messages": ANTHROPIC_USER, "stream": True}
    raw = http.post("/v1/messages", json=body, headers={"x-fake-output-tokens": "5"}).text
    events = sse_events(raw)
    assert [event for event, _ in events] == STREAM_SEQUENCE
    adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    parsed = [adapter.validate_json(data) for event, data in events if event != "ping"]
    assert [event.type for event in parsed] == [e for e in STREAM_SEQUENCE if e != "ping"]
    delta = parsed[-2]
    assert delta.type == "message_delta"
    assert delta.usage.output_tokens == 5
    assert delta.delta.stop_reason == "end_turn"


def test_stream_cut_by_max_tokens(fp: FakeProviderServer, ant: anthropic.Anthropic) -> None:
    """A stream cut by max_tokens ends with stop_reason max_tokens; the record agrees."""
    with ant.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=5,
        messages=ANTHROPIC_USER,
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert fp.last.finish_reason == "max_tokens"
    assert fp.last.output_tokens == final.usage.output_tokens


async def test_async_client_stream(aant: anthropic.AsyncAnthropic) -> None:
    """The async SDK client streams the reply and gets the same usage."""
    async with aant.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
    ) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert final.usage.output_tokens == count_text(text, ANTHROPIC_MODEL)
