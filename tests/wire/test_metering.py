"""``WireStream`` on recorded wire bytes: what passes on, what is counted, what is settled."""

from __future__ import annotations

import json

import pytest

from costcap.pricing import usage_from
from costcap.tokens import count_text
from costcap.wire import WireStream
from costcap.wire._sse import EventSplitter, event_data
from tests.wire.conftest import CLAUDE, GPT, recorded, ticket_for

SIZES = [1, 7, 100_000]  # every byte apart, small pieces, all at once


def run(stream: WireStream, data: bytes, size: int) -> bytes:
    """Feed ``data`` in pieces of ``size`` bytes; what passed on."""
    passed = [stream.feed(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(passed) + stream.end()


def events(data: bytes) -> list[bytes]:
    return EventSplitter().feed(data)


def usage_event(data: bytes) -> bytes:
    """The event carrying the chat stream's usage."""
    return next(e for e in events(data) if b'"usage":{' in e)


@pytest.mark.parametrize("size", SIZES)
def test_a_chat_stream_passes_unchanged_when_the_caller_asked_for_usage(size: int) -> None:
    """Every byte passes on; the final usage is the provider's; the text is counted exactly."""
    data = recorded("chat.sse")
    stream = WireStream("chat", ticket_for(GPT), 600, injected=False)
    assert run(stream, data, size) == data
    assert stream.meter.final
    usage = json.loads(event_data(usage_event(data)) or "")["usage"]
    assert stream.final_usage() == usage_from(usage)
    assert stream.meter.output_tokens == count_text(" hello" * 3, GPT)
    assert stream.served == "default"


@pytest.mark.parametrize("size", SIZES)
def test_the_usage_chunk_costcap_asked_for_is_not_passed_on(size: int) -> None:
    """With ``include_usage`` injected, exactly the usage-only chunk is dropped."""
    data = recorded("chat.sse")
    stream = WireStream("chat", ticket_for(GPT), 600, injected=True)
    assert run(stream, data, size) == data.replace(usage_event(data), b"")
    assert stream.meter.final


def test_crlf_line_endings_are_read_and_passed_unchanged() -> None:
    """Events ended by CRLF blank lines are split, metered and passed as they came."""
    data = recorded("chat.sse").replace(b"\n", b"\r\n")
    stream = WireStream("chat", ticket_for(GPT), 600, injected=False)
    assert run(stream, data, 5) == data
    assert stream.meter.final
    assert stream.meter.output_tokens == 3


def test_tool_call_names_and_arguments_are_counted() -> None:
    """A chat stream calling a tool: the function's name and argument text are output."""
    stream = WireStream("chat", ticket_for(GPT), 600, injected=False)
    run(stream, recorded("chat_tools.sse"), 50)
    assert stream.meter.output_tokens == sum(
        count_text(t, GPT) for t in ("get_weather", '{"', 'location":"Paris"}')
    )
    assert stream.final_usage().output_tokens == 15


@pytest.mark.parametrize("size", SIZES)
def test_a_responses_stream_settles_at_response_completed(size: int) -> None:
    """Text deltas are counted; ``response.completed``'s usage and tier are final."""
    data = recorded("responses.sse")
    stream = WireStream("responses", ticket_for(GPT), 600, injected=False)
    assert run(stream, data, size) == data
    assert stream.meter.output_tokens == 3
    assert stream.meter.final
    assert stream.final_usage() == usage_from({"input_tokens": 10, "output_tokens": 3})
    assert stream.served == "default"


@pytest.mark.parametrize("size", SIZES)
def test_an_anthropic_stream_adds_message_start_and_message_delta(size: int) -> None:
    """Input and cache from ``message_start``, output from ``message_delta``."""
    data = recorded("messages.sse")
    stream = WireStream("messages", ticket_for(CLAUDE), 600, injected=False)
    assert run(stream, data, size) == data
    usage = stream.final_usage()
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (14, 2, 3)
    assert stream.served == "standard"


def test_thinking_tool_names_and_tool_json_are_counted_but_not_signatures() -> None:
    """Claude's thinking, the tool's name (in ``content_block_start``) and the tool-input JSON
    are output; the name is estimated on its own, between the text around it; a signature is
    not output."""
    stream = WireStream("messages", ticket_for(CLAUDE), 600, injected=False)
    data = recorded("messages_tools.sse")
    cut_short = data[: data.index(b"event: message_delta")]
    run(stream, cut_short, 64)
    thinking = "The user wants the weather in San Francisco."
    json_text = '{"location": "San Francisco, CA"}'
    assert stream.meter.output_tokens == sum(
        count_text(t, CLAUDE) for t in (thinking, "get_weather", json_text)
    )
    assert not stream.meter.final
    usage = stream.final_usage()  # before message_delta: message_start's input, costcap's count
    assert (usage.input_tokens, usage.cache_read_tokens) == (572, 100)
    assert usage.output_tokens == stream.meter.output_tokens


def test_message_delta_gives_the_final_output() -> None:
    """Read to the end, the provider's cumulative output count is settled."""
    stream = WireStream("messages", ticket_for(CLAUDE), 600, injected=False)
    run(stream, recorded("messages_tools.sse"), 64)
    assert stream.meter.final
    assert stream.final_usage().output_tokens == 89


def test_output_past_the_reservation_cuts_the_stream() -> None:
    """Admitted for 2 tokens, the third word cuts it: nothing past it passes on, and a chat
    stream is ended with ``[DONE]``."""
    data = recorded("chat.sse")
    stream = WireStream("chat", ticket_for(GPT, max_tokens=2), 600, injected=False)
    passed = run(stream, data, 100_000)
    assert stream.cut is not None
    assert stream.cut.limit == 2
    assert passed.count(b" hello") == 2
    assert stream.closing() == b"data: [DONE]\n\n"
    assert stream.settlement("stopped") == "cut"


def test_an_unterminated_last_event_is_passed_and_metered() -> None:
    """A stream that ends without the blank line after its last event still settles it."""
    data = recorded("responses.sse").rstrip(b"\n")
    stream = WireStream("responses", ticket_for(GPT), 600, injected=False)
    assert run(stream, data, 100_000) == data
    assert stream.meter.final


@pytest.mark.parametrize(
    ("ending", "final", "status"),
    [("completed", True, "ok"), ("stopped", True, "ok"), ("stopped", False, "cut"),
     ("cut", True, "cut"), ("failed", True, "error")],
)  # fmt: skip
def test_a_stream_is_settled_once_with_its_status(ending: str, final: bool, status: str) -> None:
    """The status follows how the stream ended; a second settlement is refused."""
    data = recorded("chat.sse")
    stream = WireStream("chat", ticket_for(GPT), 600, injected=False)
    run(stream, data if final else data[:200], 100_000)
    assert stream.settlement(ending) == status  # type: ignore[arg-type]
    assert stream.settlement("completed") is None


def test_an_error_event_settles_a_finished_stream_as_an_error() -> None:
    """Anthropic's in-stream ``error`` event: the stream ends; it is settled ``error``."""
    data = recorded("messages.sse")
    data = data[: data.index(b"event: content_block_delta")]
    data += b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
    stream = WireStream("messages", ticket_for(CLAUDE), 600, injected=False)
    run(stream, data, 100_000)
    assert stream.settlement("completed") == "error"


def test_an_event_with_several_data_lines_is_read_whole() -> None:
    """``data:`` lines are joined by newlines (the SSE rule)."""
    assert event_data(b'event: x\ndata: {"a":\ndata: 1}\n\n') == '{"a":\n1}'
    assert event_data(b": a comment\n\n") is None
