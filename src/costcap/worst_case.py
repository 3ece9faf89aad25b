"""The worst-case cost of a request, before it is sent.

    worst case = input tokens (counted) priced as input + max_tokens × output price

``max_tokens`` absent means the model's maximum output — which is exactly why every call must
carry one. Input is the exact count for OpenAI models and, for models without a public
tokenizer, the calibrated estimate (default) or the guaranteed upper bound (``strict=True``).

The input is priced the dearest way it can be billed. A cache *write* costs more than plain
input on some models (Anthropic: 1.25× for five minutes, 2× for one hour; OpenAI's GPT-5.6 and
GPT-6 families: 1.25×). Claude models write the cache only where the request marks content with
``cache_control``; every other model whose price data lists a dearer cache write may bill any
prompt as one (OpenAI caches prompts on its own). Either way the input is then priced at the
dearest write rate.
A request asking for audio output (``modalities=["text", "audio"]``) has its output priced at
the output audio rate; audio in or out for a model with no audio price is refused
(:class:`~costcap.errors.UnpricedModality`), never priced as text.
Long-context tiers apply, since the whole request is priced as one usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from costcap.errors import ConfigError, UnpricedModality
from costcap.pricing import Cost, ModelPrice, PriceCatalog, Usage, default_catalog
from costcap.tokens import TokenCount, count_messages, count_responses_input

__all__ = [
    "WorstCase",
    "cache_write_possible",
    "dearer_cache_writes",
    "has_audio_input",
    "has_cache_control",
    "worst_case_cost",
    "worst_case_for",
]


@dataclass(frozen=True, slots=True)
class WorstCase:
    model: str
    input_tokens: int
    input_exact: bool
    input_method: str
    max_tokens: int
    max_tokens_source: Literal["request", "model maximum"]
    cost: Cost

    @property
    def usd(self) -> Decimal:
        return self.cost.total_usd

    @property
    def pico(self) -> int:
        return self.cost.total_pico


def dearer_cache_writes(price: ModelPrice) -> bool:
    """Whether a cache write costs more than plain input for this model (Anthropic: yes)."""
    dearest = max(price.cache_write_pico_per_token, price.cache_write_1h_pico_per_token)
    return dearest > price.input_pico_per_token


def cache_write_possible(price: ModelPrice, *parts: object) -> bool:
    """Whether the request's input may be billed as a cache write dearer than plain input: the
    model lists such a write price and either caches on its own (every model but Claude) or is a
    Claude model and a message, system block or tool carries ``cache_control``."""
    if not dearer_cache_writes(price):
        return False
    return "claude" not in price.model.lower() or has_cache_control(*parts)


def has_audio_input(*parts: object) -> bool:
    """True when any message carries audio: an ``input_audio`` content part (OpenAI Chat), or an
    assistant message's ``audio`` (an earlier audio answer, read again as audio input)."""
    stack: list[object] = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if item.get("type") == "input_audio" or (
                "role" in item and item.get("audio") is not None
            ):
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _require_audio(price: ModelPrice, direction: Literal["input", "output"]) -> None:
    """Refuse audio the price data has no price for (it would be priced as text)."""
    media = price.media
    rate = None
    if media is not None:
        rate = (
            media.input_audio_pico_per_token
            if direction == "input"
            else media.output_audio_pico_per_token
        )
    if rate is None:
        raise UnpricedModality(price.model, f"{direction} audio", f"{direction}_audio")


def has_cache_control(*parts: object) -> bool:
    """True when any message, system block or tool carries an Anthropic ``cache_control``."""
    stack: list[object] = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if "cache_control" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def worst_case_for(
    price: ModelPrice,
    counted: TokenCount,
    *,
    max_tokens: int | None,
    strict: bool = False,
    cache_write: bool = False,
    audio_output: bool = False,
) -> WorstCase:
    """Price an already-counted request; the hot path of admission. ``cache_write``: the input
    may be billed as a cache write (:func:`cache_write_possible`); ``audio_output``: the request
    asks for audio output (refused with :class:`UnpricedModality` if the model has no price)."""
    source: Literal["request", "model maximum"] = "request"
    if max_tokens is None:
        if price.max_output_tokens is None:
            raise ConfigError(
                f"model {price.model!r} has no known maximum output: pass max_tokens "
                "(or set max_output_tokens for it under [models] in costcap.toml)"
            )
        max_tokens, source = price.max_output_tokens, "model maximum"
    tokens = counted.upper_bound if strict else counted.tokens
    # A marked prompt may be written to the 5-minute or the 1-hour cache: price the dearer.
    write_5m = price.cache_write_pico_per_token
    write_1h = price.cache_write_1h_pico_per_token
    dearer = max(write_5m, write_1h)
    write = cache_write and dearer > price.input_pico_per_token
    usage = Usage(
        input_tokens=tokens,
        output_tokens=max_tokens,
        cache_write_tokens=tokens if write else 0,  # the 1-hour writes are a part of these
        cache_write_1h_tokens=tokens if write and write_1h > write_5m else 0,
    )
    cost = price.cost(usage)
    if audio_output:
        _require_audio(price, "output")
        w = usage
        audio = Usage(w.input_tokens, w.output_tokens, 0, w.cache_write_tokens,
                      w.cache_write_1h_tokens, output_audio_tokens=max_tokens)  # fmt: skip
        cost = max(cost, price.cost(audio), key=lambda c: c.total_pico)
    return WorstCase(
        model=price.model,
        input_tokens=tokens,
        input_exact=counted.exact,
        input_method="upper-bound" if strict and not counted.exact else counted.method,
        max_tokens=max_tokens,
        max_tokens_source=source,
        cost=cost,
    )


def worst_case_cost(
    model: str,
    messages: Iterable[Mapping[str, Any]] | None = None,
    *,
    max_tokens: int | None = None,
    system: Any = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    input: Any = None,  # OpenAI Responses API input, instead of messages
    instructions: str | None = None,
    strict: bool = False,
    catalog: PriceCatalog | None = None,
    modalities: Iterable[str] | None = None,  # OpenAI Chat: ["text", "audio"] asks for audio
) -> WorstCase:
    """``worst_case_cost("gpt-4o", messages, max_tokens=500).usd`` — the most the call can cost."""
    price = (catalog or default_catalog()).resolve(model)
    prefer: Literal["estimate", "upper-bound"] = "upper-bound" if strict else "estimate"
    tool_list = list(tools) if tools is not None else None
    message_list = list(messages or [])
    if has_audio_input(message_list, input):
        _require_audio(price, "input")  # then counting says audio cannot be counted
    audio_output = modalities is not None and "audio" in modalities
    if input is not None:
        counted = count_responses_input(
            input, model, instructions=instructions, tools=tool_list, prefer=prefer
        )
    else:
        counted = count_messages(message_list, model, system=system, tools=tool_list, prefer=prefer)
    cache = cache_write_possible(price, message_list, system, tool_list, input)
    return worst_case_for(price, counted, max_tokens=max_tokens, strict=strict,
                          cache_write=cache, audio_output=audio_output)  # fmt: skip
