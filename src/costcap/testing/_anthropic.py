"""Anthropic ``POST /v1/messages``: a Message, or the ``message_start`` … ``message_stop`` SSE.

``usage.input_tokens`` excludes the prompt-cache reads and writes, which are reported apart as
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (as the real API does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from costcap.testing._errors import ApiError, Flavor
from costcap.testing._exchange import Exchange, Parsed, Rendered, Streamed, optional_int
from costcap.testing._output import TokenAccounting
from costcap.testing._record import Endpoint
from costcap.testing._sse import sse

__all__ = ["AnthropicMessages"]


def _invalid(message: str) -> ApiError:
    return ApiError(400, message)


def _tier_fields(served: str) -> dict[str, str]:
    """Usage's ``service_tier`` and, in fast mode, ``speed``: what the real API reports."""
    if served == "fast":
        return {"service_tier": "standard", "speed": "fast"}
    return {"service_tier": served}


class AnthropicMessages:
    flavor: Flavor = "anthropic"
    endpoint: Endpoint = "messages"
    id_prefix = "msg_01"

    def parse(self, body: Mapping[str, Any], accounting: TokenAccounting) -> Parsed:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _invalid("model: Field required")
        if "max_tokens" not in body:
            raise _invalid("max_tokens: Field required")
        try:
            cap = optional_int(body, "max_tokens", minimum=1)
        except ApiError as exc:
            raise _invalid(f"max_tokens: {exc.message}") from None
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _invalid(
                "messages: Field required"
                if messages is None
                else "messages: at least one message is required"
            )
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise _invalid("system: Input should be a valid string or a list of text blocks")
        input_tokens = accounting.input_tokens(
            messages, model, system=system, tools=body.get("tools")
        )
        speed = body.get("speed")
        if speed not in (None, "standard", "fast"):
            raise _invalid(f"speed: Input should be 'standard' or 'fast', not {speed!r}")
        if body.get("service_tier") not in (None, "auto", "standard_only"):
            raise _invalid("service_tier: Input should be 'auto' or 'standard_only'")
        options = {"served_tier": "fast" if speed == "fast" else "standard"}
        return Parsed(model, body.get("stream") is True, input_tokens, cap, options)

    @staticmethod
    def _stop_reason(exchange: Exchange) -> Literal["max_tokens", "end_turn"]:
        return "max_tokens" if exchange.plan.truncated else "end_turn"

    @staticmethod
    def _usage(exchange: Exchange, output_tokens: int) -> dict[str, Any]:
        uncached = (
            exchange.parsed.input_tokens - exchange.cached_tokens - exchange.cache_write_tokens
        )
        return {
            "input_tokens": uncached,
            "cache_creation_input_tokens": exchange.cache_write_tokens,
            "cache_read_input_tokens": exchange.cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": exchange.cache_write_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            **_tier_fields(exchange.service_tier),
        }

    @staticmethod
    def _message(
        exchange: Exchange, content: list[dict[str, Any]], stop_reason: str | None, usage: Any
    ) -> dict[str, Any]:
        return {
            "id": exchange.id,
            "type": "message",
            "role": "assistant",
            "model": exchange.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def render(self, exchange: Exchange) -> Rendered:
        usage = self._usage(exchange, exchange.plan.tokens)
        stop_reason = self._stop_reason(exchange)
        content = [{"type": "text", "text": exchange.text}]
        return Rendered(self._message(exchange, content, stop_reason, usage), usage, stop_reason)

    def stream(self, exchange: Exchange) -> Streamed:
        stop_reason = self._stop_reason(exchange)
        words = exchange.plan.words
        events: list[tuple[bytes, int]] = []

        def emit(kind: str, produced: int, **fields: Any) -> None:
            events.append((sse({"type": kind, **fields}, event=kind), produced))

        # Like the real API, message_start reports the input and a token or so of output.
        start_usage = self._usage(exchange, min(1, exchange.plan.tokens))
        emit("message_start", 0, message=self._message(exchange, [], None, start_usage))
        emit("content_block_start", 0, index=0, content_block={"type": "text", "text": ""})
        emit("ping", 0)
        for i in range(1, words + 1):
            text_delta = {"type": "text_delta", "text": exchange.accounting.word}
            emit("content_block_delta", i, index=0, delta=text_delta)
        emit("content_block_stop", words, index=0)
        final_usage = {"output_tokens": exchange.plan.tokens}
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        emit("message_delta", words, delta=delta, usage=final_usage)
        emit("message_stop", words)
        return Streamed(events, self._usage(exchange, exchange.plan.tokens), stop_reason)
