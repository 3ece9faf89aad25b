"""Helpers for the fake provider's tests: SSE parsing, and ``wait_for`` to poll the record."""

from __future__ import annotations

import json
from typing import Any

from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from tests.waiting import wait_for  # the server thread records asynchronously

__all__ = [
    "ANTHROPIC_MODEL",
    "ANTHROPIC_USER",
    "OPENAI_MODEL",
    "USER",
    "sse_events",
    "sse_json",
    "wait_for",
]

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
ANTHROPIC_USER: list[MessageParam] = [{"role": "user", "content": "Say hello."}]


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
