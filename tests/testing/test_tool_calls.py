"""Tool calls through the real SDKs: each API's shape, plain and streamed, and the loop rule
(a conversation holding a tool result is answered with text)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import Message, MessageParam, RawMessageStreamEvent
from openai.lib.streaming.chat import FunctionToolCallArgumentsDeltaEvent as ArgumentsDelta
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

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
    sse_events,
)

#: What a call of get_weather with WEATHER_ARGS costs: its name's tokens and its arguments'.
CALL_TOKENS = count_text("get_weather", OPENAI_MODEL) + count_text(WEATHER_ARGS, OPENAI_MODEL)
CLAUDE_CALL_TOKENS = count_text("get_weather", ANTHROPIC_MODEL) + count_text(
    WEATHER_ARGS, ANTHROPIC_MODEL
)

# -- Chat Completions -----------------------------------------------------------------------


def test_chat_tool_call(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """The answer is one function tool call with finish reason tool_calls; its name's and
    arguments' tokens are the completion tokens, and the record names the tool."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=USER, tools=[chat_tool()], extra_headers=CALL
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", WEATHER_ARGS)
    assert call.id.startswith("call_")
    assert completion.usage is not None
    assert completion.usage.completion_tokens == CALL_TOKENS
    assert fp.last.tool_calls == ("get_weather",)
    assert fp.last.output_text == WEATHER_ARGS
    assert fp.last.output_tokens == completion.usage.completion_tokens


def test_chat_stream_helper_accumulates_the_call(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """chat.completions.stream puts the streamed pieces back together into the call."""
    with oai.chat.completions.stream(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool()],
        stream_options={"include_usage": True},
        extra_headers=CALL,
    ) as stream:
        events = list(stream)
        pieces = [e.arguments_delta for e in events if isinstance(e, ArgumentsDelta)]
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("get_weather", WEATHER_ARGS)
    assert final.choices[0].finish_reason == "tool_calls"
    assert len(pieces) > 1
    assert final.usage is not None
    assert final.usage.completion_tokens == CALL_TOKENS
    assert fp.last.output_tokens == final.usage.completion_tokens


def test_chat_named_tool_is_called(oai: openai.OpenAI) -> None:
    """x-fake-tool-call: NAME calls that tool, not the first one offered."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool("lookup"), chat_tool("get_weather")],
        extra_headers={"x-fake-tool-call": "get_weather"},
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"


def test_chat_tool_not_offered_answers_text(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """A tool the request does not offer is not called: the usual text answer."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool("lookup")],
        extra_headers={"x-fake-tool-call": "get_weather"},
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == " hello" * 20
    assert fp.last.tool_calls == ()


def test_chat_auto_without_tools_answers_text(oai: openai.OpenAI) -> None:
    """auto with no tool offered is the usual text answer."""
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, extra_headers=CALL)
    assert completion.choices[0].message.content == " hello" * 20


def test_chat_tool_choice_none_answers_text(oai: openai.OpenAI) -> None:
    """tool_choice none forbids calling a tool: the usual text answer."""
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=USER,
        tools=[chat_tool()],
        tool_choice="none",
        extra_headers=CALL,
    )
    assert completion.choices[0].finish_reason == "stop"


def test_chat_tool_result_answers_text(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """A conversation holding a tool message is answered with text: the loop ends."""
    messages: list[ChatCompletionMessageParam] = [
        *USER,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": WEATHER_ARGS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny."},
    ]
    completion = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=messages, tools=[chat_tool()], extra_headers=CALL
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert fp.last.tool_calls == ()


# -- Responses ------------------------------------------------------------------------------


def test_responses_function_call(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """The answer is one function_call output item with a call_id; its name's and arguments'
    tokens are the output tokens."""
    response = oai.responses.create(
        model=OPENAI_MODEL, input="Weather?", tools=[responses_tool()], extra_headers=CALL
    )
    [item] = response.output
    assert item.type == "function_call"
    assert (item.name, item.arguments, item.status) == ("get_weather", WEATHER_ARGS, "completed")
    assert item.call_id.startswith("call_")
    assert response.status == "completed"
    assert response.usage is not None
    assert response.usage.output_tokens == CALL_TOKENS
    assert fp.last.tool_calls == ("get_weather",)
    assert fp.last.output_tokens == response.usage.output_tokens


def test_responses_stream_events_and_helper(fp: FakeProviderServer, oai: openai.OpenAI) -> None:
    """The call streams as output_item.added, arguments deltas, arguments done and
    output_item.done; responses.stream accumulates the arguments."""
    with oai.responses.stream(
        model=OPENAI_MODEL, input="Weather?", tools=[responses_tool()], extra_headers=CALL
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[3 : 3 + len(deltas)] == ["response.function_call_arguments.delta"] * len(deltas)
    assert kinds[3 + len(deltas) :] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) > 1
    assert "".join(deltas) == WEATHER_ARGS
    [item] = final.output
    assert item.type == "function_call"
    assert (item.name, item.arguments) == ("get_weather", WEATHER_ARGS)
    assert final.usage is not None
    assert final.usage.output_tokens == CALL_TOKENS
    assert fp.last.output_tokens == final.usage.output_tokens


def test_responses_function_call_output_answers_text(
    fp: FakeProviderServer, oai: openai.OpenAI
) -> None:
    """Input holding a function_call_output item is answered with text: the loop ends."""
    items: list[Any] = [
        {"role": "user", "content": "Weather?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": WEATHER_ARGS,
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny."},
    ]
    response = oai.responses.create(
        model=OPENAI_MODEL, input=items, tools=[responses_tool()], extra_headers=CALL
    )
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == " hello" * 20
    assert fp.last.tool_calls == ()


# -- Anthropic Messages ---------------------------------------------------------------------


def test_anthropic_tool_use(fp: FakeProviderServer, ant: anthropic.Anthropic) -> None:
    """The answer is one tool_use block with stop reason tool_use; its input is the arguments
    object, and the name's and their tokens are the output tokens."""
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        tools=[anthropic_tool()],
        extra_headers=CALL,
    )
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "hello"})
    assert block.id.startswith("toolu_01")
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == CLAUDE_CALL_TOKENS
    assert fp.last.tool_calls == ("get_weather",)
    assert fp.last.output_tokens == message.usage.output_tokens


def test_anthropic_stream_helper_accumulates_the_input(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """messages.stream rebuilds the tool input from the input_json_delta pieces."""
    with ant.messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=ANTHROPIC_USER,
        tools=[anthropic_tool()],
        extra_headers=CALL,
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    pieces = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert "".join(pieces) == WEATHER_ARGS
    assert len([p for p in pieces if p]) > 1
    [block] = final.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "hello"})
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == CLAUDE_CALL_TOKENS
    assert fp.last.output_tokens == final.usage.output_tokens


def test_anthropic_tool_result_answers_text(
    fp: FakeProviderServer, ant: anthropic.Anthropic
) -> None:
    """A conversation holding a tool_result block is answered with text: the loop ends."""
    messages: list[MessageParam] = [
        *ANTHROPIC_USER,
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny."}],
        },
    ]
    message = ant.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=messages,
        tools=[anthropic_tool()],
        extra_headers=CALL,
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn"
    assert fp.last.tool_calls == ()


# -- the raw wire ---------------------------------------------------------------------------

RICH = {**CALL, "x-fake-thinking-tokens": "3"}  # thinking, then a tool call
BODIES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {"model": OPENAI_MODEL, "messages": USER, "tools": [chat_tool()]}),
    (
        "/v1/responses",
        {"model": OPENAI_MODEL, "input": "Hi", "tools": [responses_tool()],
         "reasoning": {"summary": "auto"}},
    ),
    (
        "/v1/messages",
        {"model": ANTHROPIC_MODEL, "max_tokens": 2000, "messages": ANTHROPIC_USER,
         "tools": [anthropic_tool()], "thinking": {"type": "enabled", "budget_tokens": 1024}},
    ),
]  # fmt: skip
MODELS: dict[str, TypeAdapter[Any]] = {
    "/v1/chat/completions": TypeAdapter(ChatCompletion),
    "/v1/responses": TypeAdapter(Response),
    "/v1/messages": TypeAdapter(Message),
}
EVENTS: dict[str, TypeAdapter[Any]] = {
    "/v1/chat/completions": TypeAdapter(ChatCompletionChunk),
    "/v1/responses": TypeAdapter(ResponseStreamEvent),
    "/v1/messages": TypeAdapter(RawMessageStreamEvent),
}


@pytest.mark.parametrize(("path", "body"), BODIES)
def test_bodies_validate_strictly(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    """A thinking-then-tool-call answer's JSON validates as the SDK's own model."""
    response = http.post(path, json=body, headers=RICH)
    assert response.status_code == 200
    MODELS[path].validate_json(response.text, strict=True)


@pytest.mark.parametrize(("path", "body"), BODIES)
def test_stream_events_validate_strictly(
    http: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    """Every event of a thinking-then-tool-call stream validates as the SDK's event type
    (Anthropic's ping and the final [DONE] aside), its event: line matching its type."""
    raw = http.post(path, json={**body, "stream": True}, headers=RICH).text
    events = [(e, d) for e, d in sse_events(raw) if e != "ping" and d != "[DONE]"]
    parsed = [EVENTS[path].validate_json(data, strict=True) for _, data in events]
    if path != "/v1/chat/completions":
        assert [e for e, _ in events] == [event.type for event in parsed]
