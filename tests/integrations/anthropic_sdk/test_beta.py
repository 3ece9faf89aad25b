"""``client.beta.messages``: the same wire format with beta fields, guarded exactly as
``messages`` (create, stream, parse and their raw and streaming responses), returning the SDK's
Beta* objects. Recorded == billed, to the picodollar.
"""

from __future__ import annotations

import asyncio

import anthropic
import httpx2
import pytest
from anthropic._response import APIResponse
from anthropic.lib.streaming import (
    BetaAsyncMessageStream,
    BetaAsyncMessageStreamManager,
    BetaMessageStream,
    BetaMessageStreamManager,
)
from anthropic.types.beta import BetaMessage, BetaMessageParam
from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage

from costcap import BudgetExceeded
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    FULL,
    MODEL,
    SLOW,
    Recorder,
    assert_complete,
    assert_partial,
    async_sdk_client,
    billed_pico,
    make_guard,
    poor_async_guard,
    poor_guard,
    reserved_usd,
    sdk_client,
)

BETAS = ["context-management-2025-06-27"]
BETA_MESSAGES: list[BetaMessageParam] = [{"role": "user", "content": "Say hello."}]


def test_beta_create_is_a_beta_message_settled(fp: FakeProviderServer, recorder: Recorder) -> None:
    """``beta.messages.create`` sends the betas and returns the SDK's BetaMessage; the call is
    settled with the provider's usage."""
    sent: list[httpx2.Request] = []
    http = httpx2.Client(event_hooks={"request": [sent.append]})
    bare = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="sk-ant-test",
                               http_client=http)  # fmt: skip
    guard = make_guard(recorder)
    with wrap(bare, guard=guard) as client:
        message = client.beta.messages.create(
            model=MODEL, max_tokens=50, messages=BETA_MESSAGES, betas=BETAS
        )
    assert isinstance(message, BetaMessage)
    assert sent[0].headers["anthropic-beta"] == BETAS[0]
    [event] = recorder.events
    assert (event.status, event.stream, event.output_tokens) == ("ok", False, FULL)
    assert event.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0
    guard.close()


def test_beta_parse_is_a_parsed_beta_message(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    message = client.beta.messages.parse(model=MODEL, max_tokens=50, messages=BETA_MESSAGES)
    assert isinstance(message, ParsedBetaMessage)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_beta_stream_is_the_sdks_beta_message_stream(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``beta.messages.stream`` is the SDK's BetaMessageStreamManager giving a BetaMessageStream;
    read to the end it is settled with the provider's final usage."""
    manager = client.beta.messages.stream(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, betas=BETAS
    )
    assert isinstance(manager, BetaMessageStreamManager)
    with manager as stream:
        assert isinstance(stream, BetaMessageStream)
        final = stream.get_final_message()
    assert isinstance(final, ParsedBetaMessage)
    assert final.usage.output_tokens == FULL
    assert_complete(fp, recorder)


def test_beta_stream_left_early_records_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Breaking out of ``text_stream`` closes the connection at once and records what was
    billed."""
    with client.beta.messages.stream(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, extra_headers=SLOW
    ) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 2:
                break
        assert_partial(fp, recorder)


def test_beta_create_stream_left_early_records_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    stream = client.beta.messages.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, stream=True, extra_headers=SLOW
    )
    assert isinstance(stream, anthropic.Stream)
    for event in stream:
        if event.type == "content_block_delta":
            break
    assert_partial(fp, recorder)


def test_beta_raw_response_is_settled_and_parses_into_a_beta_message(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    raw = client.beta.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, betas=BETAS
    )
    assert isinstance(raw, APIResponse)
    assert recorder.statuses() == ["ok"]
    assert isinstance(raw.parse(), BetaMessage)
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_beta_raw_parse_is_settled(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    raw = client.beta.messages.with_raw_response.parse(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES
    )
    assert isinstance(raw.parse(), ParsedBetaMessage)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_beta_streaming_response_left_early_records_the_partial_cost(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    with client.beta.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, stream=True, extra_headers=SLOW
    ) as response:
        deltas = 0
        for line in response.iter_lines():
            deltas += line.startswith("event: content_block_delta")
            if deltas == 3:
                break
    assert_partial(fp, recorder)


def test_beta_call_over_budget_sends_nothing(fp: FakeProviderServer, recorder: Recorder) -> None:
    guard = poor_guard(recorder)
    with wrap(sdk_client(fp), guard=guard) as client, pytest.raises(BudgetExceeded):
        client.beta.messages.stream(model=MODEL, max_tokens=50, messages=BETA_MESSAGES).__enter__()
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    guard.close()


# -- async ----------------------------------------------------------------------------------------


async def test_async_beta_create_is_a_beta_message_settled(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    message = await aclient.beta.messages.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, betas=BETAS
    )
    assert isinstance(message, BetaMessage)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_async_beta_stream_read_to_the_end(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    manager = aclient.beta.messages.stream(model=MODEL, max_tokens=50, messages=BETA_MESSAGES)
    assert isinstance(manager, BetaAsyncMessageStreamManager)
    async with manager as stream:
        assert isinstance(stream, BetaAsyncMessageStream)
        text = "".join([piece async for piece in stream.text_stream])
    assert text == fp.last.output_text
    await asyncio.to_thread(assert_complete, fp, recorder)


async def test_async_beta_stream_left_early_records_the_partial_cost(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with aclient.beta.messages.stream(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, extra_headers=SLOW
    ) as stream:
        async for event in stream:
            if event.type == "text" and event.snapshot.count("hello") == 3:
                break
    await asyncio.to_thread(assert_partial, fp, recorder)


async def test_async_beta_raw_stream_left_early_records_the_partial_cost(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """Leaving ``async with`` over the parsed raw stream mid-way settles the partial cost."""
    raw = await aclient.beta.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, stream=True, extra_headers=SLOW
    )
    stream = await raw.parse()
    assert isinstance(stream, anthropic.AsyncStream)
    async with stream:
        async for event in stream:
            if event.type == "content_block_delta":
                break
    await asyncio.to_thread(assert_partial, fp, recorder)


async def test_async_beta_streaming_response_read_to_the_end(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    async with aclient.beta.messages.with_streaming_response.create(
        model=MODEL, max_tokens=50, messages=BETA_MESSAGES, stream=True
    ) as response:
        await response.read()
    await asyncio.to_thread(assert_complete, fp, recorder)


async def test_async_beta_call_over_budget_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = poor_async_guard(recorder)
    async with wrap(async_sdk_client(fp), guard=guard) as client:
        with pytest.raises(BudgetExceeded):
            await client.beta.messages.create(model=MODEL, max_tokens=50, messages=BETA_MESSAGES)
    assert fp.requests == ()
    assert recorder.statuses() == ["refused"]
    await guard.close()
