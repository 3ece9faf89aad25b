"""The worst-case cost of a request, before it is sent.

    worst case = input tokens (counted) priced as input + max_tokens × output price

``max_tokens`` absent means the model's maximum output — which is exactly why every call must
carry one. Input is the exact count for OpenAI models and, for models without a public
tokenizer, the calibrated estimate (default) or the guaranteed upper bound (``strict=True``).
A request that marks content with ``cache_control`` may be billed as a cache *write*, which
costs more than plain input on Anthropic (1.25× for five minutes, 2× for one hour); its input is
then priced at the dearest of these.
Long-context tiers apply, since the whole request is priced as one usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from costcap.errors import ConfigError
from costcap.pricing import Cost, ModelPrice, PriceCatalog, Usage, default_catalog
from costcap.tokens import TokenCount, count_messages, count_responses_input

__all__ = [
    "WorstCase",
    "dearer_cache_writes",
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
) -> WorstCase:
    """Price an already-counted request; the hot path of admission."""
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
    return WorstCase(
        model=price.model,
        input_tokens=tokens,
        input_exact=counted.exact,
        input_method="upper-bound" if strict and not counted.exact else counted.method,
        max_tokens=max_tokens,
        max_tokens_source=source,
        cost=price.cost(usage),
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
) -> WorstCase:
    """``worst_case_cost("gpt-4o", messages, max_tokens=500).usd`` — the most the call can cost."""
    price = (catalog or default_catalog()).resolve(model)
    prefer: Literal["estimate", "upper-bound"] = "upper-bound" if strict else "estimate"
    tool_list = list(tools) if tools is not None else None
    if input is not None:
        counted = count_responses_input(
            input, model, instructions=instructions, tools=tool_list, prefer=prefer
        )
        cache = False
    else:
        message_list = list(messages or [])
        counted = count_messages(message_list, model, system=system, tools=tool_list, prefer=prefer)
        cache = has_cache_control(message_list, system, tool_list)
    return worst_case_for(price, counted, max_tokens=max_tokens, strict=strict, cache_write=cache)
