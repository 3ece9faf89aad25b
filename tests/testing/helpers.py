"""Helpers for the fake provider's tests: SSE parsing, tool definitions in each API's shape,
and ``wait_for`` to poll the record."""

from __future__ import annotations

import json
from typing import Any

from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.responses import FunctionToolParam

from tests.waiting import wait_for  # the server thread records asynchronously

__all__ = [
    "ANTHROPIC_MODEL",
    "ANTHROPIC_USER",
    "CALL",
    "OPENAI_MODEL",
    "USER",
    "WEATHER_ARGS",
    "anthropic_tool",
    "chat_tool",
    "responses_tool",
    "sse_events",
    "sse_json",
    "wait_for",
]

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
ANTHROPIC_USER: list[MessageParam] = [{"role": "user", "content": "Say hello."}]

#: A weather tool's parameters: "city" required, "days" optional.
WEATHER: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
#: The arguments the fake provider makes for WEATHER (its one required property, a string).
WEATHER_ARGS = '{"city":"hello"}'
#: Asks the fake provider to call the first tool offered.
CALL = {"x-fake-tool-call": "auto"}


def chat_tool(name: str = "get_weather", parameters: Any = None) -> ChatCompletionToolParam:
    """A Chat Completions function tool (WEATHER's parameters by default)."""
    schema = WEATHER if parameters is None else parameters
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def responses_tool(name: str = "get_weather", parameters: Any = None) -> FunctionToolParam:
    """A Responses function tool (WEATHER's parameters by default)."""
    schema = WEATHER if parameters is None else parameters
    return {"type": "function", "name": name, "parameters": schema, "strict": False}


def anthropic_tool(name: str = "get_weather", schema: Any = None) -> ToolParam:
    """An Anthropic tool (WEATHER as its input schema by default)."""
    return {"name": name, "input_schema": WEATHER if schema is None else schema}


def sse_events(body: str) -> list[tuple[str | None, str]]:
    """``(event, data)`` of every SSE event in *body*."""
    events: list[tuple[str | None, str]] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data.append(line.removeprefix("data: "))
        events.append((event, "\n".join(data)))
    return events


def sse_json(body: str) -> list[dict[str, Any]]:
    """The JSON payloads of *body*'s SSE events, ``[DONE]`` left out."""
    return [json.loads(data) for _, data in sse_events(body) if data != "[DONE]"]
