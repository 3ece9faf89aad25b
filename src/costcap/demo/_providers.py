"""Send one request through the costcap-wrapped SDKs (two-line adoption) to the fake provider."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import anthropic
import openai

from costcap.demo._traffic import Request
from costcap.guard import Guard
from costcap.integrations.wrap import wrap

__all__ = ["Clients", "send"]

ABANDON_AFTER_CHUNKS = 3  # a user who closes the tab mid-answer
ABANDONED = "abandoned"  # the request key prefix of the streams users abandon


class Clients:
    def __init__(self, guard: Guard, openai_base_url: str, anthropic_base_url: str) -> None:
        self._raw = (
            openai.OpenAI(base_url=openai_base_url, api_key="demo", max_retries=2),
            anthropic.Anthropic(base_url=anthropic_base_url, api_key="demo", max_retries=2),
        )
        self.openai = wrap(self._raw[0], guard=guard)
        self.anthropic = wrap(self._raw[1], guard=guard)

    def close(self) -> None:
        for client in self._raw:
            client.close()


def send(clients: Clients, request: Request) -> None:
    """Make the call as the product's code would; costcap bounds, admits, meters and settles it."""
    feature = request.feature
    who: dict[str, Any] = {
        "costcap_user_id": request.user,
        "costcap_feature": feature.name,
        "extra_headers": {
            "x-fake-output-tokens": str(request.output_tokens),
            # how the provider's record tells the streams users abandon from the rest
            "x-fake-request-key": f"{ABANDONED if request.abandon else 'whole'}-{uuid4().hex}",
        },
    }
    if feature.max_tokens is not None:
        who["max_tokens"] = feature.max_tokens
    if feature.service_tier is not None:
        who["service_tier"] = feature.service_tier
    if feature.questions:
        who["temperature"] = 0  # the same answer for the same question: cacheable
    messages: Any = request.messages
    if feature.api == "anthropic":
        if request.stream:
            with clients.anthropic.messages.stream(
                model=feature.model, messages=messages, **who
            ) as s:
                for n, _ in enumerate(s.text_stream):
                    if request.abandon and n + 1 >= ABANDON_AFTER_CHUNKS:
                        break
            return
        clients.anthropic.messages.create(model=feature.model, messages=messages, **who)
        return
    if feature.api == "openai-chat":
        if request.stream:
            chunks = clients.openai.chat.completions.create(
                model=feature.model, messages=messages, stream=True, **who
            )
            with chunks:
                for n, _ in enumerate(chunks):
                    if request.abandon and n + 1 >= ABANDON_AFTER_CHUNKS:
                        break
            return
        clients.openai.chat.completions.create(model=feature.model, messages=messages, **who)
        return
    if "max_tokens" in who:
        who["max_output_tokens"] = who.pop("max_tokens")
    clients.openai.responses.create(model=feature.model, input=messages, **who)
