"""The public counting functions: text, chat/Messages requests, Responses input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from costcap.tokens._encodings import EncodingName, count_encoded, encoding_for_model
from costcap.tokens._estimate import (
    OPENAI_REPLY_PRIMING,
    OPENAI_TOKENS_PER_MESSAGE,
    bound_tally,
    estimate_tally,
    estimate_text,
    openai_tally,
)
from costcap.tokens._messages import Tally, tally_chat, tally_responses
from costcap.tokens._types import TokenCount

__all__ = [
    "count_messages",
    "count_responses_input",
    "count_text",
    "upper_bound_messages",
]

Prefer = Literal["estimate", "upper-bound"]


def count_text(text: str, model: str) -> int:
    """Tokens of ``text`` alone (no framing) for ``model``.

    Exact for OpenAI models; the calibrated estimate for models without a public tokenizer
    (use ``upper_bound_text`` for a guaranteed bound).
    """
    encoding = encoding_for_model(model)
    if encoding is not None:
        return count_encoded(text, encoding)
    return estimate_text(text, model)


def _result(tally: Tally, model: str, image_tokens: int | None, prefer: Prefer) -> TokenCount:
    encoding = encoding_for_model(model)
    if encoding is not None:
        count, bound = openai_tally(tally, model, image_tokens)
        return TokenCount(tokens=count, exact=tally.exact, method=encoding, upper_bound=bound)
    bound = bound_tally(tally, model, image_tokens)
    if prefer == "upper-bound":
        return TokenCount(tokens=bound, exact=False, method="upper-bound", upper_bound=bound)
    estimate = estimate_tally(tally, model, image_tokens, bound)
    return TokenCount(tokens=estimate, exact=False, method="estimate", upper_bound=bound)


def count_messages(
    messages: Iterable[Mapping[str, Any]],
    model: str,
    *,
    system: str | Iterable[Mapping[str, Any]] | None = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    image_tokens: int | None = None,
    prefer: Prefer = "estimate",
) -> TokenCount:
    """Input tokens of a Chat Completions or Anthropic Messages request.

    ``messages`` use either wire shape; ``system`` is a string or a list of text blocks
    (Anthropic's top-level system; OpenAI callers usually put it in ``messages``); ``tools``
    is the list of tool definitions. Each image counts ``image_tokens`` (default: a
    documented per-model ceiling). Audio, files and unknown parts raise
    ``UncountableContent``. For models without a public tokenizer ``tokens`` is the estimate,
    or the bound when ``prefer="upper-bound"``.
    """
    if system is None and tools is None and type(messages) is list:
        encoding = encoding_for_model(model)
        if encoding is not None:
            simple = _plain_chat_tokens(messages, encoding)
            if simple is not None:
                return TokenCount(tokens=simple, exact=True, method=encoding, upper_bound=simple)
    return _result(tally_chat(messages, system=system, tools=tools), model, image_tokens, prefer)


def _plain_chat_tokens(messages: list[Any], encoding: EncodingName) -> int | None:
    """The Cookbook count of a chat made only of ``{"role": str, "content": str}`` messages
    (most requests), in one pass; None for anything else (the general walk counts it)."""
    total = OPENAI_REPLY_PRIMING
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or type(content) is not str:
            return None
        total += OPENAI_TOKENS_PER_MESSAGE + count_encoded(role, encoding)
        total += count_encoded(content, encoding)
    return total


def count_responses_input(
    input: str | Iterable[Mapping[str, Any]],  # the Responses API's own name
    model: str,
    *,
    instructions: str | None = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    image_tokens: int | None = None,
    prefer: Prefer = "estimate",
) -> TokenCount:
    """Input tokens of an OpenAI Responses API request (``input``, ``instructions``, ``tools``).

    Text is counted exactly; the per-item framing is assumed to follow the chat formula
    (OpenAI does not publish it), so the result is never marked exact.
    """
    tally = tally_responses(input, instructions=instructions, tools=tools)
    return _result(tally, model, image_tokens, prefer)


def upper_bound_messages(
    messages: Iterable[Mapping[str, Any]],
    model: str,
    *,
    system: str | Iterable[Mapping[str, Any]] | None = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    image_tokens: int | None = None,
) -> int:
    """A count the request's input tokens never exceed — what a budget should reserve."""
    tally = tally_chat(messages, system=system, tools=tools)
    return _result(tally, model, image_tokens, "upper-bound").upper_bound
