"""OpenAI Responses API through the real ``openai`` SDK, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from costcap.testing import FakeProviderServer
from costcap.tokens import count_responses_input, count_text
from tests.testing.helpers import OPENAI_MODEL, sse_events

INSTRUCTIONS = "Answer briefly."

STREAM_SEQUENCE = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 4,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_string_input_usage_is_costcap_count(oai: openai.OpenAI) -> None:
    """input_tokens is count_responses_input of input + instructions; output counts the text."""
    response = oai.responses.create(
        model=OPENAI_MODEL, input="Say hello.", instructions=INSTRUCTIONS
    )
    assert response.usage is not None
    expected = count_responses_input("Say hello.", OPENAI_MODEL, instructions=INSTRUCTIONS)
    assert response.usage.input_tokens == expected.tokens
    assert response.usage.output_tokens == count_text(response.output_text, OPENAI_MODEL) == 20
    assert response.usage.total_tokens == response.usage.input_tokens + 20
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.status == "completed"


def test_list_input_is_counted(oai: openai.OpenAI) -> None:
    """A list of input items is counted the way costcap counts it."""
    items: list[Any] = [
        {"role": "user", "content": [{"type": "input_text", "text": "First question."}]},
        {"role": "assistant", "content": "An answer."},
        {"role": "user", "content": "Second question."},
    ]
    response = oai.responses.create(model=OPENAI_MODEL, input=items)
    assert response.usage is not None
    assert response.usage.input_tokens == count_responses_input(items, OPENAI_MODEL).tokens


def test_cached_tokens_marker_is_reported(oai: openai.OpenAI) -> None:
    """A [[fake:cached_tokens=N]] marker in the input is reported as cached_tokens."""
    response = oai.responses.create(model=OPENAI_MODEL, input="Hi [[fake:cached_tokens=3]]")
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 3


def test_body_validates_strictly(http: httpx.Client) -> None:
    """The raw JSON body passes strict validation as the SDK's Response model."""
    body = {"model": OPENAI_MODEL, "input": "Hi", "instructions": INSTRUCTIONS}
    response = Response.model_validate(http.post("/v1/responses", json=body).json())
    assert response.instructions == INSTRUCTIONS
    assert response.output_text.startswith(" hello")


def test_max_output_tokens_makes_response_incomplete(oai: openai.OpenAI) -> None:
    """max_output_tokens below the output length: status incomplete, reason max_output_tokens."""
    response = oai.responses.create(
        model=OPENAI_MODEL,
        input="Hi",
        max_output_tokens=16,
        extra_headers={"x-fake-output-tokens": "40"},
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None
    assert response.usage.output_tokens == 16


def test_max_output_tokens_below_minimum_is_rejected(oai: openai.OpenAI) -> None:
    """max_output_tokens under 16 is a 400 naming the parameter, as the real API answers."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=OPENAI_MODEL, input="Hi", max_output_tokens=5)
    assert caught.value.param == "max_output_tokens"
    assert caught.value.code == "integer_below_min_value"


def test_stream_event_sequence(oai: openai.OpenAI) -> None:
    """A stream emits the documented event sequence with sequence numbers 0, 1, 2, …"""
    with oai.responses.stream(
        model=OPENAI_MODEL, input="Hi", extra_headers={"x-fake-output-tokens": "4"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [event.type for event in events] == STREAM_SEQUENCE
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.usage is not None
    assert final.usage.output_tokens == 4
    assert final.output_text == " hello" * 4


def test_stream_events_validate_strictly(http: httpx.Client) -> None:
    """Each event has matching event:/data: types and validates strictly as a stream event."""
    body = {"model": OPENAI_MODEL, "input": "Hi", "stream": True}
    headers = {"x-fake-output-tokens": "4"}
    raw = http.post("/v1/responses", json=body, headers=headers).text
    adapter: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
    events = sse_events(raw)
    parsed = [adapter.validate_json(data) for _, data in events]
    assert [event for event, _ in events] == [event.type for event in parsed] == STREAM_SEQUENCE


def test_stream_cut_by_max_output_tokens_ends_incomplete(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """A stream cut by max_output_tokens ends with response.incomplete carrying the usage."""
    with oai.responses.create(
        model=OPENAI_MODEL,
        input="Hi",
        stream=True,
        max_output_tokens=16,
        extra_headers={"x-fake-output-tokens": "40"},
    ) as stream:
        events = list(stream)
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.usage is not None
    assert last.response.usage.output_tokens == 16 == fp.last.output_tokens


async def test_async_client(aoai: openai.AsyncOpenAI) -> None:
    """The async SDK client gets the same Response and usage."""
    response = await aoai.responses.create(model=OPENAI_MODEL, input="Hi")
    assert response.usage is not None
    assert response.usage.output_tokens == 20
