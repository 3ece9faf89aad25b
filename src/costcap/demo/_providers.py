"""Send one admitted request through the real SDKs and return the provider's usage."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from costcap.demo._traffic import Request

__all__ = ["Clients", "send"]


class Clients:
    def __init__(self, openai_base_url: str, anthropic_base_url: str) -> None:
        self.openai = openai.OpenAI(base_url=openai_base_url, api_key="demo", max_retries=2)
        self.anthropic = anthropic.Anthropic(
            base_url=anthropic_base_url, api_key="demo", max_retries=2
        )

    def close(self) -> None:
        self.openai.close()
        self.anthropic.close()


def send(clients: Clients, request: Request, max_tokens: int) -> Any:
    """Make the call with the max_tokens the guard decided; return the SDK's usage object."""
    model, headers = request.feature.model, {"x-fake-output-tokens": str(request.output_tokens)}
    messages: Any = request.messages  # plain dicts; the SDKs' TypedDicts describe the same JSON
    api = request.feature.api
    if api == "anthropic":
        if request.stream:
            with clients.anthropic.messages.stream(
                model=model, max_tokens=max_tokens, messages=messages, extra_headers=headers
            ) as stream:
                for _ in stream.text_stream:
                    pass
                return stream.get_final_message().usage
        message = clients.anthropic.messages.create(
            model=model, max_tokens=max_tokens, messages=messages, extra_headers=headers
        )
        return message.usage
    if api == "openai-chat":
        if request.stream:
            usage = None
            chunks = clients.openai.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
            for chunk in chunks:
                usage = chunk.usage or usage
            return usage
        completion = clients.openai.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, extra_headers=headers
        )
        return completion.usage
    response = clients.openai.responses.create(
        model=model, input=messages, max_output_tokens=max_tokens, extra_headers=headers
    )
    return response.usage
