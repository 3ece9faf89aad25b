"""Pricing logged calls again, at another model or other prices: groups of calls, not calls.

The ledger keeps each call's token counts, not its text, so a call moved to a model with another
tokenizer has its input re-counted by a ratio of tokenizer families (:func:`token_ratio`), an
estimate. Each family's ratio is its tokens per ``o200k_base`` token for English text, the
figures costcap's own estimates use (:mod:`costcap.tokens._estimate`):

* ``o200k_base`` (GPT-4o and later OpenAI models): 1;
* ``cl100k_base`` (GPT-4, GPT-3.5): 1 — measured 1.002 on ``tests/tokens/corpus``'s English
  and code (1,375 against 1,372 tokens); other scripts count up to 3.7x more in it;
* Claude: 1.25, the documented English factor (the per-script extras of the Claude estimate
  need the text, which the ledger does not keep: text in other scripts counts more);
* Gemini: 1.05;
* any other model: 1.25, the profile costcap's estimate gives models without a public
  tokenizer.

A group's sums are converted once (rounded half-even to a whole token); cache reads and writes
by the same ratio. Calls are priced in groups: a price is linear in tokens within one
long-context tier, so calls are grouped by the band of input counts they fall in between the
counts at which a call crosses a threshold of a model it may be priced at (:func:`input_cutoffs`,
:func:`band_sql`): every call of a group is in the same tier, and the group is priced once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from costcap.errors import UsageError
from costcap.pricing import ModelPrice, PriceCatalog, Usage
from costcap.service_tiers import price_context
from costcap.tokens import encoding_for_model
from costcap.tokens._estimate import estimate_factor

__all__ = [
    "Tokens",
    "band_sql",
    "convert",
    "cutoff",
    "group_cost",
    "input_cutoffs",
    "scale",
    "target_price",
    "token_ratio",
    "tokenizer",
]


def tokenizer(model: str) -> tuple[str, Decimal]:
    """``model``'s tokenizer family and its tokens per ``o200k_base`` token (English text)."""
    encoding = encoding_for_model(model)
    if encoding is not None:
        return encoding, Decimal(1)  # cl100k_base ≈ o200k_base on English and code
    name = model.strip().lower().rsplit("/", 1)[-1]
    family = next((f for prefix, f in _FAMILIES if name.startswith(prefix)), "other")
    return family, Decimal(str(estimate_factor(model)))


# Model names of the tokenizer families without a public tokenizer (as costcap.tokens names them)
_FAMILIES = (("claude", "claude"), ("anthropic", "claude"), ("gemini", "gemini"))


def token_ratio(source: str, target: str) -> Fraction:
    """Tokens of ``target``'s tokenizer per token of ``source``'s (1 within one family)."""
    (family_s, factor_s), (family_t, factor_t) = tokenizer(source), tokenizer(target)
    if family_s == family_t:
        return Fraction(1)
    return Fraction(factor_t) / Fraction(factor_s)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token sums of a group of calls (input includes the cache reads and writes)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def convert(tokens: Tokens, ratio: Fraction) -> Tokens:
    """``tokens`` in the other tokenizer: input, cache reads and writes times ``ratio``
    (rounded half-even), output as it was (the answer's length is carried over)."""
    if ratio == 1:
        return tokens
    inp = round(tokens.input_tokens * ratio)
    read = min(round(tokens.cache_read_tokens * ratio), inp)
    write = min(round(tokens.cache_write_tokens * ratio), inp - read)
    return Tokens(inp, tokens.output_tokens, read, write)


def target_price(catalog: PriceCatalog, model: str, service_tier: str | None) -> ModelPrice:
    """The prices ``catalog`` gives ``model`` now at ``service_tier`` (the model's variant for
    it, or its standard price where it has none), as a call is priced."""
    price = catalog.resolve(model)
    context = price_context(price.provider, service_tier or None)
    return price if context is None else catalog.resolve(model, context=context)


def cutoff(threshold: int, ratio: Fraction) -> int:
    """The fewest logged input tokens that, re-counted by ``ratio`` (rounded half-even), are
    more than ``threshold``: the calls from this many tokens up are past the threshold."""
    tokens = math.floor(Fraction(threshold) / ratio)
    while round(tokens * ratio) <= threshold:
        tokens += 1
    while tokens > 0 and round((tokens - 1) * ratio) > threshold:
        tokens -= 1
    return tokens


def input_cutoffs(prices: Iterable[tuple[ModelPrice, Fraction]]) -> list[int]:
    """Every logged input count at which a call crosses a long-context threshold of one of the
    ``(price, ratio)`` pairs it may be priced at (``ratio``: target tokens per logged token),
    in order. Calls grouped by the last cutoff they reach (:func:`band_sql`) are all on one side
    of every threshold of every pair."""
    return sorted({cutoff(t.threshold, ratio) for price, ratio in prices for t in price.tiers})


def band_sql(cutoffs: Sequence[int], column: str = "e.input_tokens") -> str:
    """The last of ``cutoffs`` the input ``column`` reaches, 0 below the first: a group key that
    keeps calls apart only where a long-context price may part them (the cutoffs are this
    code's own integers, written into the SQL)."""
    if not cutoffs:
        return "0"
    cases = " ".join(
        f"WHEN {column} >= {int(c)} THEN {int(c)}" for c in sorted(cutoffs, reverse=True)
    )
    return f"CASE {cases} ELSE 0 END"


def _flat(price: ModelPrice, per_call_input: int) -> ModelPrice:
    """``price`` without long-context tiers: the rates in force for a call of
    ``per_call_input`` input tokens."""
    chosen = None
    for tier in price.tiers:  # ascending thresholds
        if per_call_input > tier.threshold:
            chosen = tier
    if chosen is None:
        return dataclasses.replace(price, tiers=()) if price.tiers else price
    return dataclasses.replace(
        price,
        input_pico_per_token=chosen.input_pico_per_token,
        output_pico_per_token=chosen.output_pico_per_token,
        cache_read_pico_per_token=chosen.cache_read_pico_per_token,
        cache_write_pico_per_token=chosen.cache_write_pico_per_token,
        cache_write_1h_pico_per_token=chosen.cache_write_1h_pico_per_token,
        media=chosen.media,
        tiers=(),
    )


def group_cost(price: ModelPrice, calls: int, tokens: Tokens, per_call_input: int = 0) -> int:
    """Picodollars of ``calls`` calls of ``tokens`` in all, priced at the long-context tier of a
    call of ``per_call_input`` input tokens (every call of the group is in that tier). Cache
    writes at the five-minute rate (the ledger does not keep the one-hour share); a
    per-request fee once per call."""
    flat = _flat(price, per_call_input)
    usage = Usage(
        tokens.input_tokens, tokens.output_tokens, tokens.cache_read_tokens,
        tokens.cache_write_tokens,
    )  # fmt: skip
    try:
        total = flat.cost(usage).total_pico
    except UsageError as exc:  # output tokens for a model without an output price
        raise ValueError(str(exc)) from None
    if calls > 1 and flat.request_pico:
        total += (calls - 1) * flat.cost(Usage(0, 0)).total_pico
    return total


def scale(pico: int, share: Decimal) -> int:
    """``pico × share``, rounded half-even to the picodollar."""
    return int((Decimal(pico) * share).to_integral_value(rounding=ROUND_HALF_EVEN))
