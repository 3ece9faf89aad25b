"""Helpers for the fake provider's tests: SSE parsing and polling the record."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

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


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll *condition* until it holds (the server thread records asynchronously)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
