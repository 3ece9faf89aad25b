"""OpenAI ``POST /v1/responses``: a Response object, or the ``response.*`` SSE event sequence.

``input`` (a string or a list of items), ``instructions`` and ``tools`` are counted with
``costcap.tokens.count_responses_input``. A tool call is a ``function_call`` output item (its
name in ``response.output_item.added``, which bills it; its arguments streamed in
``response.function_call_arguments.delta`` events). A request with ``reasoning`` gets a
``reasoning`` item first, its tokens in ``usage.output_tokens_details.reasoning_tokens``
(within ``output_tokens``); its text is shown as a summary only when ``reasoning.summary``
asks for one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from costcap.testing._answer import Answer, ThinkingMode
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
        reasoning = body.get("reasoning")
        reasoning = reasoning if isinstance(reasoning, Mapping) else None
        options = {
            "instructions": instructions,
            "max_output_tokens": cap,
            "served_tier": openai_served_tier(body),
            "reasoning": {
                "effort": reasoning.get("effort") if reasoning else None,
                "summary": reasoning.get("summary") if reasoning else None,
            },
        }
        return Parsed(
            model,
            body.get("stream") is True,
            input_tokens,
            cap,
            options,
            tools=_offered_tools(body),
            tool_result=isinstance(value, list)
            and any(
                isinstance(i, Mapping) and i.get("type") == "function_call_output" for i in value
            ),
            thinking=_thinking(reasoning),
        )

    @staticmethod
    def _usage(exchange: Exchange, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": exchange.parsed.input_tokens,
            "input_tokens_details": {
                "cached_tokens": exchange.cached_tokens,
                "cache_write_tokens": exchange.cache_write_tokens,
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": exchange.answer.thinking_tokens},
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
            "reasoning": exchange.parsed.options["reasoning"],
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

    @staticmethod
    def _reasoning(item_id: str, summary: str | None) -> dict[str, Any]:
        parts = [] if summary is None else [{"type": "summary_text", "text": summary}]
        return {"id": item_id, "type": "reasoning", "summary": parts}

    @staticmethod
    def _function_call(
        item_id: str, call_id: str, name: str, arguments: str, status: str
    ) -> dict[str, Any]:
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call_id,
            "name": name,
        }

    def _items(self, exchange: Exchange, status: str) -> list[dict[str, Any]]:
        """The output items of the whole answer, with new ids."""
        answer = exchange.answer
        items: list[dict[str, Any]] = []
        if answer.thinking_tokens:
            summary = answer.thinking_text if answer.thinking_visible else None
            items.append(self._reasoning(new_id("rs_"), summary))
        call = answer.tool_call
        if call is None:
            items.append(self._message(new_id("msg_"), exchange.text, status))
        else:
            items.append(
                self._function_call(
                    new_id("fc_"), new_id("call_"), call.name, call.arguments, "completed"
                )
            )
        return items

    def render(self, exchange: Exchange) -> Rendered:
        status = "incomplete" if exchange.answer.truncated else "completed"
        usage = self._usage(exchange, exchange.answer.tokens)
        output = self._items(exchange, status)
        body = self._response(exchange, status=status, output=output, usage=usage)
        return Rendered(body, usage, status)

    def stream(self, exchange: Exchange) -> Streamed:
        answer = exchange.answer
        status = "incomplete" if answer.truncated else "completed"
        usage = self._usage(exchange, answer.tokens)
        events: list[tuple[bytes, int]] = []
        output = self._items(exchange, status)  # the ids, and each item as it ends

        def emit(kind: str, units: int, **fields: Any) -> None:
            data = {"type": kind, "sequence_number": len(events), **fields}
            events.append((sse(data, event=kind), units))

        in_progress = self._response(exchange, status="in_progress", output=[], usage=None)
        emit("response.created", 0, response=in_progress)
        emit("response.in_progress", 0, response=in_progress)
        sent = 0
        for index, item in enumerate(output):
            where = {"item_id": item["id"], "output_index": index}
            if item["type"] == "reasoning":
                emit("response.output_item.added", sent, output_index=index,
                     item=self._reasoning(item["id"], None))  # fmt: skip
                if answer.thinking_visible:
                    self._stream_summary(emit, where, answer, exchange.word)
                sent = answer.thinking_units
            elif item["type"] == "function_call":
                started = self._function_call(
                    item["id"], item["call_id"], item["name"], "", "in_progress"
                )
                sent += 1  # the item's name: the call's first unit
                emit("response.output_item.added", sent, output_index=index, item=started)
                for piece in answer.tool_call.pieces if answer.tool_call else ():
                    sent += 1
                    emit("response.function_call_arguments.delta", sent, **where, delta=piece)
                emit("response.function_call_arguments.done", sent, **where,
                     arguments=item["arguments"])  # fmt: skip
            else:
                emit("response.output_item.added", sent, output_index=index,
                     item=self._message(item["id"], None, "in_progress"))  # fmt: skip
                part = {**where, "content_index": 0}
                emit("response.content_part.added", sent, **part, part=_text_part(""))
                for _ in range(answer.plan.words):
                    sent += 1
                    emit("response.output_text.delta", sent, **part, delta=exchange.word,
                         logprobs=[])  # fmt: skip
                text = exchange.text
                emit("response.output_text.done", sent, **part, text=text, logprobs=[])
                emit("response.content_part.done", sent, **part, part=_text_part(text))
            emit("response.output_item.done", sent, output_index=index, item=item)
        final = self._response(exchange, status=status, output=output, usage=usage)
        emit(f"response.{status}", sent, response=final)
        return Streamed(events, answer.sent, usage, status)

    @staticmethod
    def _stream_summary(
        emit: Callable[..., None], where: dict[str, Any], answer: Answer, word: str
    ) -> None:
        """The reasoning summary's events: its part, one delta a word (one unit each)."""
        where = {**where, "summary_index": 0}
        text, words = answer.thinking_text, answer.thinking.words
        emit("response.reasoning_summary_part.added", 0, **where, part=_summary_part(""))
        for i in range(1, words + 1):
            emit("response.reasoning_summary_text.delta", i, **where, delta=word)
        emit("response.reasoning_summary_text.done", words, **where, text=text)
        emit("response.reasoning_summary_part.done", words, **where, part=_summary_part(text))


def _summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _offered_tools(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The functions the request offers (name → parameters schema), unless tool_choice is none."""
    tools = body.get("tools")
    if body.get("tool_choice") == "none" or not isinstance(tools, list):
        return {}
    offered: dict[str, Mapping[str, Any]] = {}
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "function":
            name, schema = tool.get("name"), tool.get("parameters")
            if isinstance(name, str):
                offered.setdefault(name, schema if isinstance(schema, Mapping) else {})
    return offered


def _thinking(reasoning: Mapping[str, Any] | None) -> ThinkingMode | None:
    """How the reasoning a request asks for is shown: as a summary when it asks for one."""
    if reasoning is None or reasoning.get("effort") == "none":
        return None
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    return "visible" if isinstance(summary, str) else "hidden"


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
