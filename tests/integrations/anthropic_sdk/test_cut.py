"""The cut: a stream whose output passes what was reserved is stopped by costcap.

The fake provider honours ``max_tokens``, so a misbehaving provider is played by a transport
that rewrites the request's ``max_tokens`` upward on its way out (:class:`Wire`): the guarded
call reserved for 8 output tokens, the provider generates 60. And the pure metering steps are
checked on hand-made events.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import (
    InputJSONDelta,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    TextDelta,
    ThinkingDelta,
)

from costcap import Guard
from costcap.integrations._anthropic_runs import EventMeter
from costcap.integrations._meter import Meter
from costcap.integrations.anthropic import StreamCut
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from costcap.ticket import Ticket
from costcap.tokens import count_text
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    SLOW,
    Recorder,
    Wire,
    async_sdk_client,
    billed_pico,
    make_async_guard,
    make_guard,
    sdk_client,
    served,
)

RESERVED = 8  # max_tokens the guarded call is admitted (and asks) for
RUNAWAY = {**SLOW, "x-fake-output-tokens": "60"}


def assert_cut(fp: FakeProviderServer, recorder: Recorder, cut: StreamCut) -> None:
    """The upstream was closed right after the first piece past the reservation; costcap
    recorded one ``cut`` event of exactly what the provider billed."""
    served(fp)
    [request] = fp.requests
    assert request.disconnect == "client"
    assert request.output_text.count("hello") == RESERVED + 1
    [event] = recorder.events
    assert (event.status, event.output_tokens) == ("cut", request.output_tokens)
    assert event.cost_pico == billed_pico(fp) > 0
    assert (cut.limit, cut.tokens) == (RESERVED, request.output_tokens)
    assert cut.ticket_id == event.request_id


def test_runaway_stream_is_cut(fp: FakeProviderServer) -> None:
    """``create(stream=True)``: past the reservation the consumer gets StreamCut, the upstream
    is closed and the partial cost settled."""
    recorder = Recorder()
    with wrap(sdk_client(fp, wire=Wire(max_tokens=4096)), guard=make_guard(recorder)) as client:
        stream = client.messages.create(
            model=MODEL, max_tokens=RESERVED, messages=MESSAGES, stream=True, extra_headers=RUNAWAY
        )
        with pytest.raises(StreamCut) as caught:
            for _ in stream:
                pass
        stream.close()  # closing again settles nothing more
    assert_cut(fp, recorder, caught.value)


async def test_runaway_message_stream_is_cut(fp: FakeProviderServer) -> None:
    """``messages.stream``'s ``text_stream``: StreamCut reaches the consumer, once."""
    recorder = Recorder()
    guard = make_async_guard(recorder)
    texts: list[str] = []
    streams: list[Any] = []
    async with wrap(async_sdk_client(fp, wire=Wire(max_tokens=4096)), guard=guard) as client:

        async def read() -> None:
            async with client.messages.stream(
                model=MODEL, max_tokens=RESERVED, messages=MESSAGES, extra_headers=RUNAWAY
            ) as stream:
                streams.append(stream)
                async for text in stream.text_stream:
                    texts.append(text)

        with pytest.raises(StreamCut) as caught:
            await read()
        assert [text async for text in streams[0].text_stream] == []  # closed: nothing more
    assert len(texts) == RESERVED  # the pieces within the reservation reached the consumer
    assert_cut(fp, recorder, caught.value)


async def test_stream_within_its_reservation_is_not_cut(
    aclient: anthropic.AsyncAnthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A Claude stream that stops exactly at ``max_tokens`` is not cut: costcap's estimate of
    the text is made on the whole text, not rounded up per delta."""
    async with aclient.messages.stream(
        model=MODEL, max_tokens=RESERVED, messages=MESSAGES
    ) as stream:
        message = await stream.get_final_message()
    assert message.stop_reason == "max_tokens"
    assert recorder.statuses() == ["ok"]
    assert recorder.cost_pico == billed_pico(fp)


# -- the metering steps, on hand-made events -----------------------------------------------------


def _ticket(max_tokens: int = 100) -> Ticket:
    guard = Guard("memory://", notifiers=[])
    try:
        return guard.admit(model=MODEL, messages=MESSAGES, max_tokens=max_tokens)
    finally:
        guard.close()


def _start(**usage: Any) -> RawMessageStartEvent:
    message: dict[str, Any] = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1, **usage},
    }  # fmt: skip
    return RawMessageStartEvent.model_validate({"type": "message_start", "message": message})


def _delta(delta: Any) -> RawContentBlockDeltaEvent:
    return RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=delta)


def test_message_delta_keeps_the_input_of_message_start() -> None:
    """``message_delta`` usually reports only output: the input and cache counts of
    ``message_start`` stay, and the final output replaces costcap's count."""
    tally = EventMeter(_ticket(), 600)
    tally.see(_start(cache_read_input_tokens=4, cache_creation_input_tokens=3))
    tally.see(_delta(TextDelta(type="text_delta", text=" hello")))
    usage = MessageDeltaUsage(output_tokens=7)
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    tally.see(RawMessageDeltaEvent.model_validate(
        {"type": "message_delta", "delta": delta, "usage": usage.model_dump()}
    ))  # fmt: skip
    final = tally.meter.final_usage()
    assert (final.input_tokens, final.cache_read_tokens, final.cache_write_tokens) == (17, 4, 3)
    assert final.output_tokens == 7
    assert tally.meter.status == "ok"


def test_partial_usage_is_message_start_input_plus_counted_text() -> None:
    """Before ``message_delta``, what is settled is ``message_start``'s input (its placeholder
    output count ignored) plus costcap's count of the text, thinking and tool JSON streamed."""
    tally = EventMeter(_ticket(), 600)
    tally.see(_start())
    pieces = [
        TextDelta(type="text_delta", text=" hello hello"),
        ThinkingDelta(type="thinking_delta", thinking=" hmm"),
        InputJSONDelta(type="input_json_delta", partial_json='{"q": 1}'),
    ]
    for piece in pieces:
        tally.see(_delta(piece))
    final = tally.meter.final_usage()
    assert final.input_tokens == 10
    assert final.output_tokens == count_text(' hello hello hmm{"q": 1}', MODEL)
    assert tally.meter.status == "cut"


def test_meter_estimates_the_whole_text_for_claude() -> None:
    """For a model without a public tokenizer the meter's count is the estimate of the whole
    text so far — what the provider-side count of it would be — not per-delta round-ups."""
    meter = Meter(_ticket(max_tokens=20), 600)
    for _ in range(16):
        meter.add_text(" hello")
    assert meter.output_tokens == count_text(" hello" * 16, MODEL) == 20
    assert not meter.cut


def test_meter_estimates_a_tool_name_on_its_own_for_claude() -> None:
    """A tool call's name is a part of its own: the text before it and the arguments after it
    are each estimated whole, the name alone — ``count_text`` of each, as the provider bills
    them apart; a delta naming no tool ends no part."""
    meter = Meter(_ticket(max_tokens=200), 600)
    thinking, name, arguments = "The user wants the weather.", "get_weather", '{"city":"hello"}'
    meter.add_text(thinking)
    meter.add_name(name)
    for piece in ('{"', "city", '":"', "hello", '"}'):
        meter.add_name("")
        meter.add_text(piece)
    apart = sum(count_text(text, MODEL) for text in (thinking, name, arguments))
    assert meter.output_tokens == apart > count_text(thinking + name + arguments, MODEL)


@pytest.mark.parametrize(
    "piece",
    [" γεια σου κόσμε", " สวัสดีชาวโลก", " नमस्ते दुनिया", " 안녕하세요 세계", " 你好世界"],
)
def test_meter_estimates_a_non_latin_text_as_a_whole(piece: str) -> None:
    """A streamed answer in Greek, Thai, Hindi, Korean or Chinese is estimated as the whole text
    would be, per-script calibration included (the flat English factor under-counted these)."""
    meter = Meter(_ticket(max_tokens=4_000), 600)
    for _ in range(12):
        meter.add_text(piece)
    assert meter.output_tokens == count_text(piece * 12, MODEL)
