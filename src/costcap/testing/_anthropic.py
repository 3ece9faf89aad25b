"""Anthropic ``POST /v1/messages``: a Message, or the ``message_start`` … ``message_stop`` SSE.

``usage.input_tokens`` excludes the prompt-cache reads and writes, which are reported apart as
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (as the real API does). A tool
call is a ``tool_use`` block (stop reason ``tool_use``), its name in ``content_block_start``
(which bills it), its input streamed as ``input_json_delta`` pieces. A request with
``thinking`` enabled (``enabled``, ``adaptive`` or ``between_tools``) gets a ``thinking``
block first, with a ``signature`` (its text empty under ``display: "omitted"``); its tokens
are within ``output_tokens``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from costcap.testing._answer import ThinkingMode
from costcap.testing._errors import ApiError, Flavor
from costcap.testing._exchange import (
    Exchange,
    Parsed,
    Rendered,
    Streamed,
    new_id,
    optional_int,
)
from costcap.testing._output import TokenAccounting
from costcap.testing._record import Endpoint
from costcap.testing._sse import sse

__all__ = ["AnthropicMessages"]


_THINKING_TYPES = frozenset({"enabled", "disabled", "adaptive", "between_tools"})


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
        return Parsed(
            model,
            body.get("stream") is True,
            input_tokens,
            cap,
            options,
            tools=_offered_tools(body),
            tool_result=any(_has_tool_result(m) for m in messages),
            thinking=_thinking(body.get("thinking"), cap),
        )

    @staticmethod
    def _stop_reason(exchange: Exchange) -> Literal["max_tokens", "end_turn", "tool_use"]:
        if exchange.answer.tool_call is not None:
            return "tool_use"
        return "max_tokens" if exchange.answer.truncated else "end_turn"

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

    @staticmethod
    def _blocks(exchange: Exchange) -> list[dict[str, Any]]:
        """The content blocks of the whole answer, with new ids."""
        answer = exchange.answer
        blocks: list[dict[str, Any]] = []
        if answer.thinking_tokens:
            thinking = answer.thinking_text if answer.thinking_visible else ""
            blocks.append({"type": "thinking", "thinking": thinking, "signature": _signature()})
        call = answer.tool_call
        if call is None:
            blocks.append({"type": "text", "text": exchange.text})
        else:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": new_id("toolu_01"),
                    "name": call.name,
                    "input": json.loads(call.arguments),
                }
            )
        return blocks

    def render(self, exchange: Exchange) -> Rendered:
        usage = self._usage(exchange, exchange.answer.tokens)
        stop_reason = self._stop_reason(exchange)
        content = self._blocks(exchange)
        return Rendered(self._message(exchange, content, stop_reason, usage), usage, stop_reason)

    def stream(self, exchange: Exchange) -> Streamed:
        answer = exchange.answer
        stop_reason = self._stop_reason(exchange)
        events: list[tuple[bytes, int]] = []

        def emit(kind: str, units: int, **fields: Any) -> None:
            events.append((sse({"type": kind, **fields}, event=kind), units))

        # Like the real API, message_start reports the input and a token or so of output.
        start_usage = self._usage(exchange, min(1, answer.tokens))
        emit("message_start", 0, message=self._message(exchange, [], None, start_usage))
        sent = 0
        for index, block in enumerate(self._blocks(exchange)):
            kind = block["type"]
            sent += kind == "tool_use"  # the block's start carries the tool's name: a unit
            emit("content_block_start", sent, index=index, content_block=_started(block))
            if index == 0:
                emit("ping", sent)
            if kind == "thinking":
                for _ in range(answer.thinking.words if answer.thinking_visible else 0):
                    sent += 1
                    delta = {"type": "thinking_delta", "thinking": exchange.word}
                    emit("content_block_delta", sent, index=index, delta=delta)
                sent = answer.thinking_units
                delta = {"type": "signature_delta", "signature": block["signature"]}
                emit("content_block_delta", sent, index=index, delta=delta)
            elif kind == "tool_use" and answer.tool_call is not None:
                for piece in ("", *answer.tool_call.pieces):
                    sent += bool(piece)
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    emit("content_block_delta", sent, index=index, delta=delta)
            else:
                for _ in range(answer.plan.words):
                    sent += 1
                    delta = {"type": "text_delta", "text": exchange.word}
                    emit("content_block_delta", sent, index=index, delta=delta)
            emit("content_block_stop", sent, index=index)
        final_usage = {"output_tokens": answer.tokens}
        stop = {"stop_reason": stop_reason, "stop_sequence": None}
        emit("message_delta", sent, delta=stop, usage=final_usage)
        emit("message_stop", sent)
        return Streamed(events, answer.sent, self._usage(exchange, answer.tokens), stop_reason)


def _started(block: Mapping[str, Any]) -> dict[str, Any]:
    """A content block as ``content_block_start`` announces it: no text, input or signature."""
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if block["type"] == "tool_use":
        return {**block, "input": {}}
    return {"type": "text", "text": ""}


def _signature() -> str:
    """An opaque thinking signature, as long and as shaped as the real API's."""
    return secrets.token_urlsafe(96)


def _offered_tools(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The tools the request defines (name → input schema), unless tool_choice is none."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if (isinstance(choice, Mapping) and choice.get("type") == "none") or not isinstance(
        tools, list
    ):
        return {}
    offered: dict[str, Mapping[str, Any]] = {}
    for tool in tools:
        schema = tool.get("input_schema") if isinstance(tool, Mapping) else None
        if isinstance(schema, Mapping) and isinstance(tool.get("name"), str):
            offered.setdefault(tool["name"], schema)
    return offered


def _has_tool_result(message: object) -> bool:
    content = message.get("content") if isinstance(message, Mapping) else None
    return isinstance(content, list) and any(
        isinstance(block, Mapping) and block.get("type") == "tool_result" for block in content
    )


def _thinking(config: object, cap: int | None) -> ThinkingMode | None:
    """How the thinking a request enables is shown, or a 400 for a configuration the real
    API refuses (``enabled`` needs ``budget_tokens`` of at least 1024, below ``max_tokens``)."""
    if config is None:
        return None
    if not isinstance(config, Mapping) or config.get("type") not in _THINKING_TYPES:
        raise _invalid(
            "thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'"
        )
    kind = config["type"]
    if kind == "disabled":
        return None
    if kind == "enabled":
        budget = config.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
            raise _invalid("thinking.enabled.budget_tokens: Input should be >= 1024")
        if cap is not None and budget >= cap:
            raise _invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    return "hidden" if config.get("display") == "omitted" else "visible"
