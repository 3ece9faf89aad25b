"""What a provider's JSON answer says it cost: its usage and the tier that served it.

The usage objects are read by :func:`costcap.pricing.usage_from` (dicts of the OpenAI Chat,
Responses and Anthropic shapes). An answer without usage (some OpenAI-compatible servers) is
charged the input counted at admission plus costcap's count of its generated text: never $0.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from costcap.pricing import Usage
from costcap.service_tiers import anthropic_served_tier
from costcap.ticket import Ticket
from costcap.tokens import count_text
from costcap.wire._routes import Api

__all__ = ["answer_usage", "served_tier"]

log = logging.getLogger("costcap.wire")


def served_tier(api: Api, obj: Mapping[str, Any]) -> str | None:
    """The tier an answer (or a stream's chunk / final response / usage) says served it:
    OpenAI's ``service_tier``; Anthropic's usage ``speed`` (fast mode) or ``service_tier``."""
    if api == "messages":
        usage = obj.get("usage")
        return anthropic_served_tier(usage) if isinstance(usage, Mapping) else None
    tier = obj.get("service_tier")
    return tier if isinstance(tier, str) else None


def _texts(api: Api, body: Mapping[str, Any]) -> Iterator[str]:
    """Every generated text of an answer: content, refusals, reasoning, tool-call arguments."""
    if api == "chat":
        for choice in _dicts(body.get("choices")):
            message = choice.get("message")
            if not isinstance(message, Mapping):
                continue
            yield from _strings(message, ("content", "refusal", "reasoning_content"))
            for call in _dicts(message.get("tool_calls")):
                function = call.get("function")
                if isinstance(function, Mapping):
                    yield from _strings(function, ("name", "arguments"))
    elif api == "responses":
        for item in _dicts(body.get("output")):
            yield from _strings(item, ("arguments",))
            for part in _dicts(item.get("content")) + _dicts(item.get("summary")):
                yield from _strings(part, ("text", "refusal"))
    else:
        for block in _dicts(body.get("content")):
            yield from _strings(block, ("text", "thinking"))
            if "input" in block:
                yield json.dumps(block["input"], ensure_ascii=False)


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _strings(obj: Mapping[str, Any], names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        value = obj.get(name)
        if isinstance(value, str) and value:
            yield value


def answer_usage(api: Api, body: object, ticket: Ticket) -> object:
    """The usage to settle an answer's ``body`` (its parsed JSON) with."""
    if isinstance(body, Mapping):
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            return usage
    log.warning("call %s was answered without usage; settling costcap's count", ticket.id)
    text = "".join(_texts(api, body)) if isinstance(body, Mapping) else ""
    return Usage(input_tokens=ticket.input_tokens, output_tokens=count_text(text, ticket.model))
