"""A tool call's arguments: made from the tool's JSON schema or given by x-fake-tool-args,
what they cost (with the tool's name), the cap that leaves no room for them, a stream cut
among them, bad knobs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from costcap.testing import FakeProviderServer
from costcap.tokens import count_text
from tests.testing.helpers import (
    ANTHROPIC_MODEL,
    ANTHROPIC_USER,
    CALL,
    OPENAI_MODEL,
    USER,
    WEATHER_ARGS,
    anthropic_tool,
    chat_tool,
    responses_tool,
    wait_for,
)

# Releases of the SDKs differ in what they raise for a broken stream: their own error or httpx2's.
BROKEN = (openai.APIConnectionError, anthropic.APIConnectionError, httpx2.TransportError)
NAME_TOKENS = count_text("get_weather", OPENAI_MODEL)  # the name of every call tested here


def _chat_arguments(client: openai.OpenAI, parameters: Any, **headers: str) -> str:
    completion = client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool("tool", parameters)],
        extra_headers={**CALL, **headers},
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function"
    return call.function.arguments


# -- made from the schema -------------------------------------------------------------------


def test_each_type_gets_its_value(oai: openai.OpenAI) -> None:
    """string "hello", integer and number 1, boolean true, array [], object {}, enum: its
    first value."""
    parameters = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "a": {"type": "array", "items": {"type": "string"}},
            "o": {"type": "object"},
            "e": {"type": "string", "enum": ["red", "green"]},
        },
        "required": ["s", "i", "n", "b", "a", "o", "e"],
    }
    arguments = json.loads(_chat_arguments(oai, parameters))
    assert arguments == {"s": "hello", "i": 1, "n": 1, "b": True, "a": [], "o": {}, "e": "red"}


def test_only_required_properties_are_given(oai: openai.OpenAI) -> None:
    """With a required list, the optional properties are left out."""
    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["days"],
    }
    assert _chat_arguments(oai, parameters) == '{"days":1}'


def test_every_property_is_given_when_none_is_required(oai: openai.OpenAI) -> None:
    """Without a required list, every property gets a value, in the schema's order."""
    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    }
    assert _chat_arguments(oai, parameters) == '{"city":"hello","days":1}'


def test_nested_objects_references_and_optionals(oai: openai.OpenAI) -> None:
    """Nested objects get their own properties, a $ref to $defs is followed, and an
    anyOf (an optional value, as pydantic writes it) takes its first branch."""
    parameters = {
        "type": "object",
        "$defs": {
            "Place": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["name"],
            }
        },
        "properties": {
            "place": {"$ref": "#/$defs/Place"},
            "when": {"type": "object", "properties": {"day": {"type": "integer"}}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "limit": {"type": ["integer", "null"]},
        },
        "required": ["place", "when", "note", "limit"],
    }
    assert json.loads(_chat_arguments(oai, parameters)) == {
        "place": {"name": "hello"},
        "when": {"day": 1},
        "note": "hello",
        "limit": 1,
    }


def test_tool_without_parameters_gets_an_empty_object(oai: openai.OpenAI) -> None:
    """A function that declares no parameters is called with {}."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[{"type": "function", "function": {"name": "now"}}],
        extra_headers=CALL,
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.arguments == "{}"


# -- given by x-fake-tool-args --------------------------------------------------------------


def test_header_arguments_are_sent_verbatim(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """x-fake-tool-args is sent as it is, spaces included, and billed as that text (with the
    tool's name)."""
    given = '{"city": "Paris", "days": 3}'
    assert _chat_arguments(oai, None, **{"x-fake-tool-args": given}) == given
    assert fp.last.output_tokens == count_text("tool", OPENAI_MODEL) + count_text(
        '{"city": "Paris", "days": 3}', OPENAI_MODEL
    )


def test_header_arguments_become_anthropic_input(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """On Anthropic the given arguments are the tool_use block's input object."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        tools=[anthropic_tool()],
        extra_headers={**CALL, "x-fake-tool-args": '{"city": "Paris", "days": 3}'},
    )
    [block] = message.content
    assert block.type == "tool_use"
    assert block.input == {"city": "Paris", "days": 3}
    assert message.usage.output_tokens == count_text("get_weather", ANTHROPIC_MODEL) + count_text(
        '{"city": "Paris", "days": 3}', ANTHROPIC_MODEL
    )


# -- the cap --------------------------------------------------------------------------------


def test_cap_equal_to_the_call_still_calls(oai: openai.OpenAI) -> None:
    """A cap of exactly the name's and the arguments' tokens leaves room for the call."""
    cap = count_text("get_weather", OPENAI_MODEL) + count_text('{"city":"hello"}', OPENAI_MODEL)
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=USER, tools=[chat_tool()], max_tokens=cap, extra_headers=CALL
    )
    assert completion.choices[0].finish_reason == "tool_calls"


def test_chat_cap_below_the_call_answers_truncated_text(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """A cap below the name's and the arguments' tokens (room for the arguments alone): the
    usual text, cut at the cap (finish length)."""
    cap = count_text("get_weather", OPENAI_MODEL) + count_text('{"city":"hello"}', OPENAI_MODEL) - 1
    assert cap >= count_text('{"city":"hello"}', OPENAI_MODEL)
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=USER, tools=[chat_tool()], max_tokens=cap, extra_headers=CALL
    )
    choice = completion.choices[0]
    assert (choice.finish_reason, choice.message.tool_calls) == ("length", None)
    assert choice.message.content == " hello" * cap
    assert fp.last.tool_calls == ()


def test_responses_cap_below_the_call_is_incomplete_text(oai: openai.OpenAI) -> None:
    """On Responses the fallback is a message, incomplete at max_output_tokens."""
    long_args = json.dumps({"text": "hello " * 30})
    response = oai.responses.create(
        model=OPENAI_MODEL,
        input="Hi",
        tools=[responses_tool()],
        max_output_tokens=16,
        extra_headers={**CALL, "x-fake-tool-args": long_args},
    )
    assert [item.type for item in response.output] == ["message"]
    assert response.status == "incomplete"
    assert response.output_text == " hello" * 16


def test_anthropic_cap_below_the_call_answers_max_tokens_text(
    ant: anthropic.Anthropic,
) -> None:
    """On Anthropic the fallback is a text block with stop reason max_tokens (the cap leaves
    room for the arguments alone, not for the name too)."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=count_text(WEATHER_ARGS, ANTHROPIC_MODEL),
        messages=ANTHROPIC_USER,
        tools=[anthropic_tool()],
        extra_headers=CALL,
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "max_tokens"


# -- a stream cut among the arguments -------------------------------------------------------


def test_chat_stream_cut_bills_the_arguments_sent(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """Dropped after 4 chunks — the name's, then 3 of the arguments: the provider bills
    count_text of the name and of those 3 pieces."""
    pieces: list[str] = []
    stream = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool()],
        stream=True,
        extra_headers={**CALL, "x-fake-disconnect-after": "4"},
    )
    with stream, pytest.raises(BROKEN):  # noqa: PT012 - raised mid-iteration
        for chunk in stream:
            for call in chunk.choices[0].delta.tool_calls or []:
                if call.function is not None and call.function.arguments:
                    pieces.append(call.function.arguments)
    wait_for(lambda: len(fp.requests) == 1)
    sent = "".join(pieces)
    assert len(pieces) == 3
    assert WEATHER_ARGS.startswith(sent)
    assert sent != WEATHER_ARGS
    assert fp.last.disconnect == "server"
    assert fp.last.output_text == sent
    assert fp.last.output_tokens == NAME_TOKENS + count_text(sent, OPENAI_MODEL)


def test_responses_stream_cut_bills_the_arguments_sent(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """Dropped after 3 chunks — output_item.added with the name, then 2 argument deltas: the
    provider bills count_text of the name and of those 2 pieces."""
    pieces: list[str] = []
    stream = oai.responses.create(
        model=OPENAI_MODEL,
        input="Weather?",
        tools=[responses_tool()],
        stream=True,
        extra_headers={**CALL, "x-fake-disconnect-after": "3"},
    )
    with stream, pytest.raises(BROKEN):  # noqa: PT012 - raised mid-iteration
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                pieces.append(event.delta)
    wait_for(lambda: len(fp.requests) == 1)
    sent = "".join(pieces)
    assert len(pieces) == 2
    assert WEATHER_ARGS.startswith(sent)
    assert fp.last.output_text == sent
    assert fp.last.output_tokens == NAME_TOKENS + count_text(sent, OPENAI_MODEL)


def test_anthropic_stream_cut_bills_the_arguments_sent(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """Dropped after 5 chunks — content_block_start with the name, then 4 input_json_delta
    pieces: the provider bills count_text of the name and of those pieces."""
    pieces: list[str] = []
    stream = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        tools=[anthropic_tool()],
        stream=True,
        extra_headers={**CALL, "x-fake-disconnect-after": "5"},
    )
    with stream, pytest.raises(BROKEN):  # noqa: PT012 - raised mid-iteration
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                pieces.append(event.delta.partial_json)
    wait_for(lambda: len(fp.requests) == 1)
    sent = "".join(pieces)
    assert len([p for p in pieces if p]) == 4
    assert WEATHER_ARGS.startswith(sent)
    assert fp.last.tool_calls == ("get_weather",)
    assert fp.last.output_text == sent
    assert fp.last.output_tokens == count_text("get_weather", ANTHROPIC_MODEL) + count_text(
        sent, ANTHROPIC_MODEL
    )


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/chat/completions", {"model": OPENAI_MODEL, "messages": USER,
                                  "tools": [chat_tool()]}, '"name":"get_weather"'),
        ("/v1/responses", {"model": OPENAI_MODEL, "input": "Hi", "tools": [responses_tool()]},
         "response.output_item.added"),
        ("/v1/messages", {"model": ANTHROPIC_MODEL, "max_tokens": 100, "messages": ANTHROPIC_USER,
                          "tools": [anthropic_tool()]}, "content_block_start"),
    ],
)  # fmt: skip
def test_a_stream_cut_after_the_name_bills_the_name(
    fp: FakeProviderServer, http: httpx.Client, path: str, body: dict[str, Any], named: str
) -> None:
    """Dropped after the first chunk, the event carrying the tool's name: the provider bills
    count_text of the name, and no argument has gone out."""
    headers = {**CALL, "x-fake-disconnect-after": "1"}
    received: list[str] = []
    streamed = http.stream("POST", path, json={**body, "stream": True}, headers=headers)
    with pytest.raises(httpx.TransportError), streamed as response:  # noqa: PT012 - mid-body
        for text in response.iter_text():
            received.append(text)
    assert named in "".join(received)
    assert "arguments.delta" not in "".join(received)
    wait_for(lambda: len(fp.requests) == 1)
    assert (fp.last.disconnect, fp.last.tool_calls) == ("server", ("get_weather",))
    assert fp.last.output_text == ""
    assert fp.last.output_tokens == count_text("get_weather", body["model"])


def test_pieces_add_up_to_the_bill_of_the_whole(oai: openai.OpenAI) -> None:
    """Each streamed piece is about a token: counting the pieces one by one (and the name)
    gives the tokens the provider bills for the whole call, as with a real provider's stream."""
    given = '{"query": "hello world", "limit": 10, "exact": true, "tags": ["a", "b"]}'
    with oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool()],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={**CALL, "x-fake-tool-args": given},
    ) as stream:
        chunks = list(stream)
    pieces = [
        call.function.arguments
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
        if call.function is not None and call.function.arguments
    ]
    assert "".join(pieces) == given
    usage = chunks[-1].usage
    assert usage is not None
    counted = sum(count_text(p, OPENAI_MODEL) for p in pieces)
    assert NAME_TOKENS + counted == usage.completion_tokens
    assert usage.completion_tokens == NAME_TOKENS + count_text(given, OPENAI_MODEL)


# -- bad knobs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-fake-tool-call", "get weather"),
        ("x-fake-tool-args", "not json"),
        ("x-fake-tool-args", "[1, 2]"),
    ],
)
def test_bad_tool_knob_is_bad_request(
    fp: FakeProviderServer, http: httpx.Client, header: str, value: str
) -> None:
    """A tool knob the fake provider cannot use is a 400 naming the header."""
    body = {"model": OPENAI_MODEL, "messages": USER, "tools": [chat_tool()]}
    response = http.post("/v1/chat/completions", json=body, headers={header: value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == header
    assert fp.last.status_code == 400
