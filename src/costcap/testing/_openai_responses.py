"""OpenAI ``POST /v1/responses``: a Response object, or the ``response.*`` SSE event sequence.

``input`` (a string or a list of items), ``instructions`` and ``tools`` are counted with
``costcap.tokens.count_responses_input``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

__all__ = ["OpenAIResponses"]

#: The smallest ``max_output_tokens`` the real API accepts.
MIN_OUTPUT_TOKENS = 16


class OpenAIResponses:
    flavor: Flavor = "openai"
    endpoint: Endpoint = "responses"
    id_prefix = "resp_"

    def parse(self, body: Mapping[str, Any], accounting: TokenAccounting) -> Parsed:
        model = require_model(body)
        value = body.get("input")
        if not isinstance(value, (str, list)):
            raise ApiError(
                400,
                "Missing required parameter: 'input'."
                if value is None
                else "Invalid 'input': expected a string or an array of input items.",
                param="input",
                code="missing_required_parameter" if value is None else "invalid_type",
            )
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise ApiError(400, "Invalid 'instructions': expected a string.", param="instructions")
        cap = optional_int(body, "max_output_tokens", minimum=MIN_OUTPUT_TOKENS)
        input_tokens = accounting.responses_input_tokens(
            value, model, instructions=instructions, tools=body.get("tools")
        )
        options = {
            "instructions": instructions,
            "max_output_tokens": cap,
            "served_tier": openai_served_tier(body),
        }
        return Parsed(model, body.get("stream") is True, input_tokens, cap, options)

    @staticmethod
    def _usage(exchange: Exchange, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": exchange.parsed.input_tokens,
            "input_tokens_details": {
                "cached_tokens": exchange.cached_tokens,
                "cache_write_tokens": exchange.cache_write_tokens,
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": exchange.parsed.input_tokens + output_tokens,
        }

    @staticmethod
    def _message(item_id: str, text: str | None, status: str) -> dict[str, Any]:
        content = [] if text is None else [_text_part(text)]
        return {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _response(
        self,
        exchange: Exchange,
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
    ) -> dict[str, Any]:
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": exchange.id,
            "object": "response",
            "created_at": exchange.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": exchange.parsed.options.get("instructions"),
            "max_output_tokens": exchange.parsed.options.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": exchange.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": exchange.service_tier,
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    def render(self, exchange: Exchange) -> Rendered:
        status = "incomplete" if exchange.plan.truncated else "completed"
        usage = self._usage(exchange, exchange.plan.tokens)
        item = self._message(new_id("msg_"), exchange.text, status)
        body = self._response(exchange, status=status, output=[item], usage=usage)
        return Rendered(body, usage, status)

    def stream(self, exchange: Exchange) -> Streamed:
        status = "incomplete" if exchange.plan.truncated else "completed"
        item_id = new_id("msg_")
        text = exchange.text
        words = exchange.plan.words
        usage = self._usage(exchange, exchange.plan.tokens)
        events: list[tuple[bytes, int]] = []

        def emit(kind: str, produced: int, **fields: Any) -> None:
            data = {"type": kind, "sequence_number": len(events), **fields}
            events.append((sse(data, event=kind), produced))

        in_progress = self._response(exchange, status="in_progress", output=[], usage=None)
        emit("response.created", 0, response=in_progress)
        emit("response.in_progress", 0, response=in_progress)
        emit(
            "response.output_item.added",
            0,
            output_index=0,
            item=self._message(item_id, None, "in_progress"),
        )
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        emit("response.content_part.added", 0, **where, part=_text_part(""))
        for i in range(1, words + 1):
            emit(
                "response.output_text.delta",
                i,
                **where,
                delta=exchange.accounting.word,
                logprobs=[],
            )
        emit("response.output_text.done", words, **where, text=text, logprobs=[])
        emit("response.content_part.done", words, **where, part=_text_part(text))
        item = self._message(item_id, text, status)
        emit("response.output_item.done", words, output_index=0, item=item)
        final = self._response(exchange, status=status, output=[item], usage=usage)
        emit(f"response.{status}", words, response=final)
        return Streamed(events, usage, status)


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
