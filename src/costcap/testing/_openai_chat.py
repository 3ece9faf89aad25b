"""OpenAI ``POST /v1/chat/completions``: a ChatCompletion, or ``chat.completion.chunk`` SSE.

``n`` is ignored: there is always exactly one choice. ``max_completion_tokens`` wins over the
deprecated ``max_tokens`` when both are sent. A tool call is one ``tool_calls`` entry
(finish reason ``tool_calls``), streamed as its id, type and name (the first chunk, which
bills the name), then its arguments piece by piece. Reasoning is never shown, as OpenAI shows
none: only its tokens, in ``completion_tokens_details.reasoning_tokens`` (within
``completion_tokens``), unless the request says ``reasoning_effort: "none"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from costcap.testing._errors import ApiError, Flavor
from costcap.testing._exchange import (
    Exchange,
    Parsed,
    Rendered,
    Streamed,
    new_id,
    openai_served_tier,
    optional_int,
    require_model,
)
from costcap.testing._output import TokenAccounting
from costcap.testing._record import Endpoint
from costcap.testing._sse import sse

__all__ = ["OpenAIChat", "chat_usage"]

SYSTEM_FINGERPRINT = "fp_costcap_fake"


def chat_usage(exchange: Exchange) -> dict[str, Any]:
    """The ``usage`` object: prompt tokens include the cached ones, as OpenAI reports them."""
    prompt = exchange.parsed.input_tokens
    completion = exchange.answer.tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": exchange.cached_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": exchange.answer.thinking_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class OpenAIChat:
    flavor: Flavor = "openai"
    endpoint: Endpoint = "chat.completions"
    id_prefix = "chatcmpl-"

    def parse(self, body: Mapping[str, Any], accounting: TokenAccounting) -> Parsed:
        model = require_model(body)
        messages = body.get("messages")
        if messages is None:
            raise ApiError(
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400,
                "Invalid 'messages': expected a non-empty array of messages.",
                param="messages",
                code="invalid_value",
            )
        stream = body.get("stream") is True
        stream_options = body.get("stream_options")
        if stream_options is not None and not stream:
            raise ApiError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        include_usage = isinstance(stream_options, Mapping) and (
            stream_options.get("include_usage") is True
        )
        cap = optional_int(body, "max_completion_tokens", minimum=1)
        if cap is None:
            cap = optional_int(body, "max_tokens", minimum=1)
        input_tokens = accounting.input_tokens(messages, model, tools=body.get("tools"))
        options = {"include_usage": include_usage, "served_tier": openai_served_tier(body)}
        return Parsed(
            model,
            stream,
            input_tokens,
            cap,
            options,
            tools=_offered_tools(body),
            tool_result=any(
                isinstance(m, Mapping) and m.get("role") in ("tool", "function") for m in messages
            ),
            thinking=None if body.get("reasoning_effort") == "none" else "hidden",
        )

    @staticmethod
    def _finish_reason(exchange: Exchange) -> Literal["length", "stop", "tool_calls"]:
        if exchange.answer.tool_call is not None:
            return "tool_calls"
        return "length" if exchange.answer.truncated else "stop"

    def render(self, exchange: Exchange) -> Rendered:
        usage = chat_usage(exchange)
        finish_reason = self._finish_reason(exchange)
        call = exchange.answer.tool_call
        message: dict[str, Any] = {
            "role": "assistant",
            "content": exchange.text if call is None else None,
            "refusal": None,
            "annotations": [],
        }
        if call is not None:
            message["tool_calls"] = [
                {
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ]
        body = {
            "id": exchange.id,
            "object": "chat.completion",
            "created": exchange.created,
            "model": exchange.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
            "service_tier": exchange.service_tier,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        return Rendered(body, usage, finish_reason)

    def stream(self, exchange: Exchange) -> Streamed:
        include_usage = bool(exchange.parsed.options.get("include_usage"))
        finish_reason = self._finish_reason(exchange)
        answer = exchange.answer
        call = answer.tool_call

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            data: dict[str, Any] = {
                "id": exchange.id,
                "object": "chat.completion.chunk",
                "created": exchange.created,
                "model": exchange.model,
                "service_tier": exchange.service_tier,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
            }
            if include_usage:
                data["usage"] = None
            data.update(extra)
            return sse(data)

        def choice(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}

        # Hidden reasoning is all done when the first chunk goes out: its one unit.
        done = answer.thinking_units
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if call is None:
            pieces: list[dict[str, Any]] = [{"content": exchange.word}] * answer.plan.words
        else:
            first["content"] = None
            first["tool_calls"] = [
                {
                    "index": 0,
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ]
            pieces = [
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                for piece in call.pieces
            ]
            done += 1  # the first chunk carries the call's name: its first unit
        events = [(chunk([choice(first)]), done)]
        events.extend((chunk([choice(delta)]), done + i) for i, delta in enumerate(pieces, 1))
        events.append((chunk([choice({}, finish_reason)]), answer.units))
        usage = chat_usage(exchange) if include_usage else None
        if usage is not None:
            events.append((chunk([], usage=usage), answer.units))
        events.append((sse("[DONE]"), answer.units))
        return Streamed(events, answer.sent, usage, finish_reason)


def _offered_tools(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The functions the request offers (name → parameters schema), unless tool_choice is none."""
    tools = body.get("tools")
    if body.get("tool_choice") == "none" or not isinstance(tools, list):
        return {}
    offered: dict[str, Mapping[str, Any]] = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and tool.get("type") == "function":
            name, schema = function.get("name"), function.get("parameters")
            if isinstance(name, str):
                offered.setdefault(name, schema if isinstance(schema, Mapping) else {})
    return offered
