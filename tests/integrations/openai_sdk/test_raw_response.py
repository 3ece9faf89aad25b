"""``with_raw_response``: the SDK's own raw response, admitted before sending and settled from its
body whether or not the caller parses it; a streamed one parses into a metered stream.

Every scenario compares what the fake provider billed (its own record, priced) with what costcap
recorded, to the picodollar.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai.types.chat import ChatCompletion, ParsedChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel

from costcap import AsyncGuard, BudgetExceeded, Guard
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    async_sdk_client,
    billed_pico,
    poor_async_guard,
    poor_guard,
    reserved_usd,
    sdk_client,
    served,
)


class Answer(BaseModel):
    text: str


# -- answers --------------------------------------------------------------------------------------


def test_raw_chat_completion_is_settled_before_it_is_parsed(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """The raw response is the SDK's, with the provider's headers; the call is settled with the
    provider's usage before the caller parses anything."""
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert isinstance(raw, LegacyAPIResponse)
    assert raw.headers["x-request-id"] == fp.last.request_id
    assert raw.http_response.status_code == 200
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


def test_raw_parse_gives_the_plain_calls_object_once(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``parse()`` gives the ChatCompletion the plain call returns, the same object each time;
    parsing adds no second settle."""
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion is raw.parse()
    assert completion.choices[0].message.content == fp.last.output_text
    assert recorder.statuses() == ["ok"]


def test_raw_response_of_the_responses_api_is_settled(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``responses.with_raw_response.create`` is settled from the Response's usage."""
    raw = client.responses.with_raw_response.create(model=MODEL, input="Say hello.")
    assert isinstance(raw.parse(), Response)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_raw_parse_whose_structured_output_does_not_validate_is_settled(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_raw_response.parse`` with an answer that is not the schema's JSON: the call was
    answered and billed, so it is settled from the body; the caller's own parse() raises."""
    raw = client.chat.completions.with_raw_response.parse(
        model=MODEL, messages=MESSAGES, response_format=Answer
    )
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    with pytest.raises(ValueError, match="Answer"):
        raw.parse()


def test_raw_parse_without_a_format_gives_the_parsed_completion(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``with_raw_response.parse`` gives the ParsedChatCompletion ``parse`` returns."""
    raw = client.chat.completions.with_raw_response.parse(model=MODEL, messages=MESSAGES)
    assert isinstance(raw.parse(), ParsedChatCompletion)
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_raw_call_over_budget_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A raw call the budget cannot cover raises BudgetExceeded before any request leaves."""
    guard = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=guard) as client, pytest.raises(BudgetExceeded):
        client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


def test_raw_call_refused_by_the_provider_releases(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A provider error raises the SDK's error, as the plain call does, and releases."""
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, extra_headers={"x-fake-error": "429"}
        )
    assert recorder.statuses() == ["error"]
    assert reserved_usd(guard.status()) == 0


# -- streams --------------------------------------------------------------------------------------


def test_raw_stream_parses_into_a_metered_stream(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A streamed raw response's ``parse()`` is an openai.Stream metered like the plain one: the
    usage chunk costcap asked for is hidden, the provider's usage recorded at its end."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert stream is raw.parse()
    assert recorder.events == []  # nothing read yet
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks)
    assert recorder.statuses() == ["ok"]
    assert recorder.events[0].output_tokens == 20
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_raw_stream_left_early_records_the_partial_cost(
    client: openai.OpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Breaking out of the parsed stream closes the connection and records what was billed."""
    raw = client.responses.with_raw_response.create(
        model=MODEL, input="Say hello.", stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "40"},
    )  # fmt: skip
    deltas = 0
    for event in raw.parse():
        deltas += event.type == "response.output_text.delta"
        if deltas == 3:
            break
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.events[0].output_tokens == fp.last.output_tokens == 3
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_raw_stream_never_parsed_is_settled_when_dropped(
    client: openai.OpenAI, fp: FakeProviderServer, guard: Guard, recorder: Recorder
) -> None:
    """A streamed raw response dropped unparsed is closed and settled when collected."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    del raw
    assert recorder.statuses() == ["cut"]
    served(fp)
    assert fp.last.disconnect == "client"
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard.status()) == 0


# -- async ----------------------------------------------------------------------------------------


async def test_async_raw_chat_completion_is_settled(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, aguard: AsyncGuard, recorder: Recorder
) -> None:
    """The async raw response is settled before it is parsed; parse() gives the completion."""
    raw = await aclient.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert isinstance(raw, LegacyAPIResponse)
    assert recorder.statuses() == ["ok"]
    assert isinstance(raw.parse(), ChatCompletion)
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(await aguard.status()) == 0


async def test_async_raw_stream_read_to_the_end(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """The async raw stream parses into an openai.AsyncStream, settled at its end."""
    raw = await aclient.responses.with_raw_response.create(
        model=MODEL, input="Say hello.", stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, openai.AsyncStream)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_raw_stream_left_early_records_the_partial_cost(
    aclient: openai.AsyncOpenAI, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving ``async with`` mid-stream settles the partial cost before the next statement."""
    raw = await aclient.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True,
        extra_headers={**SLOW, "x-fake-output-tokens": "50"},
    )  # fmt: skip
    words = 0
    async with raw.parse() as stream:
        async for chunk in stream:
            words += bool(chunk.choices and chunk.choices[0].delta.content)
            if words == 4:
                break
    assert recorder.statuses() == ["cut"]
    await asyncio.to_thread(served, fp)
    assert fp.last.disconnect == "client"
    assert fp.last.output_tokens == recorder.events[0].output_tokens == 4
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_raw_call_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        with pytest.raises(BudgetExceeded):
            await client.responses.with_raw_response.create(model=MODEL, input="Hi")
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    await guard.close()
