"""What a JSON answer says it cost: usage, served tier, and costcap's count without usage."""

from __future__ import annotations

import json
from typing import Any

from costcap.pricing import usage_from
from costcap.tokens import count_text
from costcap.wire import answer_usage, served_tier
from tests.wire.conftest import CLAUDE, GPT, recorded, ticket_for


def answer(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(recorded(name))
    return parsed


def test_each_apis_usage_is_read_as_billed() -> None:
    """Chat, Responses and Messages usage objects (Anthropic's cache read added in)."""
    chat = usage_from(answer_usage("chat", answer("chat.json"), ticket_for(GPT)))
    responses = usage_from(answer_usage("responses", answer("responses.json"), ticket_for(GPT)))
    messages = usage_from(answer_usage("messages", answer("messages.json"), ticket_for(CLAUDE)))
    assert (chat.input_tokens, chat.output_tokens) == (10, 3)
    assert (responses.input_tokens, responses.output_tokens) == (10, 3)
    assert (messages.input_tokens, messages.cache_read_tokens, messages.output_tokens) == (14, 2, 3)


def test_the_served_tier_is_read_from_each_api() -> None:
    assert served_tier("chat", answer("chat.json")) == "default"
    assert served_tier("responses", answer("responses.json")) == "default"
    assert served_tier("messages", answer("messages.json")) == "standard"
    fast = {"usage": {"input_tokens": 1, "output_tokens": 1, "speed": "fast"}}
    assert served_tier("messages", fast) == "fast"


def test_an_answer_without_usage_is_charged_costcaps_count() -> None:
    """Never $0: the input counted at admission plus the generated text counted."""
    ticket = ticket_for(GPT)
    body = answer("chat.json")
    del body["usage"]
    usage = usage_from(answer_usage("chat", body, ticket))
    assert usage.input_tokens == ticket.input_tokens > 0
    assert usage.output_tokens == count_text(" hello hello hello", GPT)


def test_an_unreadable_answer_is_charged_the_input_counted() -> None:
    ticket = ticket_for(CLAUDE)
    usage = usage_from(answer_usage("messages", None, ticket))
    assert (usage.input_tokens, usage.output_tokens) == (ticket.input_tokens, 0)
