"""``Anthropic(http_client=costcap.http_client(guard))`` and its async twin: Messages calls
(plain, streamed, ``messages.stream``, beta) admitted, bounded and settled at what the fake
provider billed, prompt cache included."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types import ToolParam

import costcap
from costcap import AsyncGuard, Guard, Policy, RateLimit, RateLimited
from costcap.testing import FakeProviderServer
from costcap.tokens import count_text
from costcap.wire import refusal
from tests.wire.conftest import (
    CLAUDE,
    HELLO,
    SLOW,
    Recorder,
    Sent,
    billed_pico,
    guarded,
    make_guard,
    reserved_usd,
    served,
    settled_cut,
)

CACHED = {"x-fake-cached-tokens": "4", "x-fake-cache-write-tokens": "3"}


@pytest.fixture
def client(fp: FakeProviderServer, guard: Guard) -> Iterator[anthropic.Anthropic]:
    with guarded(anthropic.Anthropic, fp, guard) as sdk:
        yield sdk


def test_a_message_is_settled_at_what_was_billed_cache_included(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """Cache reads and writes are priced at their own rates, as billed."""
    message = client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO,
                                     extra_headers=CACHED)  # fmt: skip
    assert message.usage.cache_read_input_tokens == 4
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0
    assert reserved_usd(guard) == 0


def test_the_request_carries_the_admitted_cap(fp: FakeProviderServer, recorder: Recorder) -> None:
    """``max_tokens`` above the policy's cap is sent clamped."""
    guard = make_guard(recorder, policy=Policy(max_tokens_cap=6))
    sent = Sent()
    with guarded(anthropic.Anthropic, fp, guard, sent=sent) as client:
        message = client.messages.create(model=CLAUDE, max_tokens=4096, messages=HELLO,
                                         extra_headers={"x-fake-output-tokens": "50"})  # fmt: skip
    assert sent.bodies[0]["max_tokens"] == 6
    assert message.stop_reason == "max_tokens"


def test_a_raw_stream_read_to_the_end_is_settled_ok(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``create(stream=True)`` read to its end: ``ok`` at the billed price, cache included."""
    events = list(client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO,
                                         stream=True, extra_headers=CACHED))  # fmt: skip
    assert events[-1].type == "message_stop"
    served(fp)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_message_stream_left_early_is_settled_cut(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """``messages.stream`` left after the first text: upstream closed, settled ``cut`` as
    billed up to the disconnect."""
    slow = {**SLOW, "x-fake-output-tokens": "30"}
    with client.messages.stream(
        model=CLAUDE, max_tokens=64, messages=HELLO, extra_headers=slow
    ) as stream:
        for _ in stream.text_stream:
            break
    settled_cut(fp, recorder, under=30)
    assert reserved_usd(guard) == 0


WEATHER: ToolParam = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_a_message_stream_left_in_a_tool_call_is_settled_at_its_name_and_input_sent(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``messages.stream`` left at the second piece of a tool call's input: the provider
    billed the tool's name (sent in the ``tool_use`` block's ``content_block_start``) and the
    two pieces; costcap settled ``cut`` at exactly that."""
    pieces: list[str] = []
    with client.messages.stream(
        model=CLAUDE, max_tokens=64, messages=HELLO, tools=[WEATHER],
        extra_headers={**SLOW, "x-fake-tool-call": "auto"},
    ) as stream:  # fmt: skip
        for event in stream:
            if event.type == "input_json" and event.partial_json:
                pieces.append(event.partial_json)
                if len(pieces) == 2:
                    break
    served(fp)
    sent = "".join(pieces)
    assert (fp.last.disconnect, fp.last.tool_calls) == ("client", ("get_weather",))
    assert fp.last.output_text == sent != '{"city":"hello"}'
    assert fp.last.output_tokens == count_text("get_weather", CLAUDE) + count_text(sent, CLAUDE)
    assert recorder.statuses() == ["cut"]
    assert recorder.events[0].output_tokens == fp.last.output_tokens
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_stream_past_its_reservation_ends_cleanly(
    fp: FakeProviderServer, recorder: Recorder, guard: Guard
) -> None:
    """A provider ignoring ``max_tokens`` is cut at the reservation; ``text_stream`` ends."""
    slow = {**SLOW, "x-fake-output-tokens": "40"}
    with (
        guarded(anthropic.Anthropic, fp, guard, sent=Sent(caps_to=1000)) as client,
        client.messages.stream(model=CLAUDE, max_tokens=5, messages=HELLO, extra_headers=slow) as s,
    ):
        text = "".join(s.text_stream)
    assert 0 < text.count("hello") < 40
    settled_cut(fp, recorder, under=40)


def test_beta_messages_are_guarded(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``beta.messages.create`` (``/v1/messages?beta=true``) is admitted and settled too."""
    client.beta.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp) > 0


def test_a_rate_limit_refusal_is_the_sdks_rate_limit_error(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A call over a limit that frees up later than the SDK would wait: ``RateLimitError``,
    not retried, nothing sent; the RateLimited is on the error's response."""
    guard = Guard("memory://", limits=[RateLimit("1/hour")], notifiers=[], observers=[recorder])
    with guarded(anthropic.Anthropic, fp, guard, max_retries=2) as client:
        client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO)
        with pytest.raises(anthropic.RateLimitError) as raised:
            client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO)
    assert isinstance(refusal(raised.value), RateLimited)
    assert recorder.statuses() == ["ok", "refused"]
    assert len(fp.requests) == 1


def test_an_overloaded_provider_releases_the_reservation(
    client: anthropic.Anthropic, recorder: Recorder, guard: Guard
) -> None:
    """A 529: the SDK's error, an ``error`` event at $0, nothing reserved."""
    with pytest.raises(anthropic.APIStatusError):
        client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO,
                               extra_headers={"x-fake-error": "529"})  # fmt: skip
    assert recorder.statuses() == ["error"]
    assert reserved_usd(guard) == 0


def test_an_attribute_block_attributes_the_call(
    client: anthropic.Anthropic, recorder: Recorder
) -> None:
    """``costcap.attribute`` applies; without it, the body's ``metadata.user_id`` does."""
    with costcap.attribute(user_id="alice", feature="support"):
        client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO)
    client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO,
                           metadata={"user_id": "dave"})  # fmt: skip
    assert [(e.user_id, e.feature) for e in recorder.events] == [
        ("alice", "support"), ("dave", None),
    ]  # fmt: skip


def test_the_model_list_passes_through(
    client: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``models.list`` is not an LLM call: sent as it is."""
    assert client.models.list().data
    assert recorder.events == []


async def test_async_calls_are_settled_at_what_was_billed(
    fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """``AsyncAnthropic``: a message and a stream read to the end, both ``ok`` as billed, in
    the ``costcap.attribute`` block's name."""
    async with guarded(anthropic.AsyncAnthropic, fp, aguard) as client:
        with costcap.attribute(user_id="erin"):
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO,
                                         extra_headers=CACHED)  # fmt: skip
            async with client.messages.stream(model=CLAUDE, max_tokens=64,
                                              messages=HELLO) as stream:  # fmt: skip
                await stream.get_final_message()
    served(fp, 2)
    assert recorder.statuses() == ["ok", "ok"]
    assert {e.user_id for e in recorder.events} == {"erin"}
    assert recorder.cost_pico == billed_pico(fp) > 0


async def test_an_async_stream_left_early_is_settled_cut(
    fp: FakeProviderServer, recorder: Recorder, aguard: AsyncGuard
) -> None:
    """``async with messages.stream`` left after the first text: settled ``cut`` as billed."""
    slow = {**SLOW, "x-fake-output-tokens": "30"}
    async with (
        guarded(anthropic.AsyncAnthropic, fp, aguard) as client,
        client.messages.stream(
            model=CLAUDE, max_tokens=64, messages=HELLO, extra_headers=slow
        ) as s,
    ):
        async for _ in s.text_stream:
            break
    settled_cut(fp, recorder, under=30)


async def test_an_async_budget_refusal_sends_nothing(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """No room: ``anthropic.APIStatusError`` 402 with costcap's message, nothing sent."""
    from tests.wire.conftest import make_async_guard

    guard = make_async_guard(recorder, limit_usd=0)
    async with guarded(anthropic.AsyncAnthropic, fp, guard, max_retries=2) as client:
        with pytest.raises(anthropic.APIStatusError, match="has no room") as raised:
            await client.messages.create(model=CLAUDE, max_tokens=8, messages=HELLO)
    await guard.close()
    assert raised.value.status_code == 402
    assert fp.requests == ()
