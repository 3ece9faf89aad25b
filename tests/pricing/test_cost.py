"""Costs: hand-computed provider bills, and equality with genai-prices' ``calc_price``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from anthropic.types import CacheCreation
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.completion_usage import PromptTokensDetails

from costcap.errors import UsageError
from costcap.money import PICO_PER_USD
from costcap.pricing import Cost, PriceCatalog, Usage

from .conftest import data_prices, genai_total, genai_usage

AT = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # a fixed instant: same prices on both sides

MODELS = [
    ("gpt-4o", None),
    ("gpt-4o-mini", None),
    ("gpt-4.1", None),
    ("gpt-5", None),
    ("o3", None),
    ("gpt-4o", "azure"),
    ("claude-sonnet-4-5", None),
    ("claude-haiku-4-5", None),
    ("claude-opus-4-1", None),
    ("claude-sonnet-4-5", "google"),
    ("gemini-2.5-pro", None),
    ("gemini-2.5-flash", None),
    ("gemini-1.5-pro", None),
    ("deepseek-flash", None),  # time-of-day prices
    ("mistral-large-latest", None),
    ("grok-4", None),
    ("command-r-plus", None),
    ("llama-3.3-70b-versatile", "groq"),
    ("sonar-pro", "perplexity"),  # a per-request fee
    ("google/gemini-2.5-flash", "openrouter"),  # a price finer than a picodollar per token
]

USAGES = [
    Usage(0, 0),
    Usage(1, 1),
    Usage(2_000, 500),
    Usage(10_000, 1_000, cache_read_tokens=8_000),
    Usage(12_000, 300, cache_write_tokens=10_000),
    Usage(
        20_000, 300, cache_read_tokens=5_000, cache_write_tokens=10_000, cache_write_1h_tokens=4_000
    ),
    Usage(200_000, 1_000),
    Usage(200_001, 1_000),
    Usage(250_000, 7_000, cache_read_tokens=150_000, cache_write_tokens=20_000),
    Usage(1_000_000, 65_536, cache_read_tokens=999_000),
]


@pytest.mark.parametrize(("model", "provider"), MODELS)
@pytest.mark.parametrize("usage", USAGES, ids=repr)
def test_cost_equals_genai_prices(
    catalog: PriceCatalog, model: str, provider: str | None, usage: Usage
) -> None:
    """Our integer cost is Decimal-equal to genai-prices' calc_price(...).total_price."""
    ours = catalog.cost(model, usage, provider=provider, at=AT)
    assert ours.total_usd == genai_total(model, usage, provider=provider, at=AT)


def test_sonnet_45_monthly_bill_by_hand(catalog: PriceCatalog) -> None:
    """1000 calls/day × 30 days × (2000 in, 500 out) at $3/$15 per MTok is exactly $405.00."""
    cost = catalog.cost("claude-sonnet-4-5", Usage(2_000, 500))
    assert cost.input_pico == 2_000 * 3_000_000
    assert cost.output_pico == 500 * 15_000_000
    assert cost.total_usd == Decimal("0.0135")
    assert sum(catalog.cost("claude-sonnet-4-5", Usage(2_000, 500)).total_pico
               for _ in range(30 * 1_000)) == 405 * PICO_PER_USD  # fmt: skip


def test_sonnet_45_long_context_by_hand(catalog: PriceCatalog) -> None:
    """Above 200k input tokens the whole call is billed at $6 in / $22.50 out."""
    cost = catalog.cost("claude-sonnet-4-5", Usage(250_000, 1_000))
    assert cost.total_usd == Decimal("1.5225")  # 250k × $6/M + 1k × $22.50/M


def test_long_context_threshold_is_strictly_above_200k(catalog: PriceCatalog) -> None:
    """Exactly 200,000 input tokens is still the base price; 200,001 is the long-context price."""
    at_limit = catalog.cost("claude-sonnet-4-5", Usage(200_000, 0))
    above = catalog.cost("claude-sonnet-4-5", Usage(200_001, 0))
    assert at_limit.total_usd == Decimal("0.6")
    assert above.total_usd == Decimal("1.200006")


def test_long_context_threshold_counts_cached_input(catalog: PriceCatalog) -> None:
    """The tier looks at TOTAL input: 1,000 uncached + 199,500 cache-read tokens is long context."""
    usage = AnthropicUsage(input_tokens=1_000, output_tokens=0, cache_read_input_tokens=199_500)
    cost = catalog.cost("claude-sonnet-4-5", usage)
    assert cost.input_pico == 1_000 * 6_000_000
    assert cost.cache_read_pico == 199_500 * 600_000  # $0.60/M, the long-context cache read


def test_openai_cached_tokens_by_hand(catalog: PriceCatalog) -> None:
    """gpt-4o, 10k prompt (8k cached), 1k out: 2k × $2.50 + 8k × $1.25 + 1k × $10 = $0.025."""
    usage = CompletionUsage(
        prompt_tokens=10_000,
        completion_tokens=1_000,
        total_tokens=11_000,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=8_000),
    )
    cost = catalog.cost("gpt-4o", usage)
    assert (cost.input_pico, cost.cache_read_pico, cost.output_pico) == (
        5 * PICO_PER_USD // 1_000,
        10 * PICO_PER_USD // 1_000,
        10 * PICO_PER_USD // 1_000,
    )
    assert cost.total_usd == Decimal("0.025")


def test_anthropic_cache_write_by_hand(catalog: PriceCatalog) -> None:
    """Sonnet 4.5: 100 in + 10k cache write ($3.75/M) + 200 out = $0.0003 + $0.0375 + $0.003."""
    usage = AnthropicUsage(input_tokens=100, output_tokens=200, cache_creation_input_tokens=10_000)
    cost = catalog.cost("claude-sonnet-4-5", usage)
    assert cost.cache_write_pico == 10_000 * 3_750_000
    assert cost.total_usd == Decimal("0.0408")


def test_anthropic_one_hour_cache_write_by_hand(catalog: PriceCatalog) -> None:
    """One-hour cache writes are billed at 2× input ($6/M on Sonnet 4.5), not at $3.75/M."""
    usage = AnthropicUsage(
        input_tokens=100,
        output_tokens=200,
        cache_creation_input_tokens=10_000,
        cache_creation=CacheCreation(ephemeral_1h_input_tokens=10_000, ephemeral_5m_input_tokens=0),
    )
    assert catalog.cost("claude-sonnet-4-5", usage).total_usd == Decimal("0.0633")


def test_cost_components_sum_to_total(catalog: PriceCatalog) -> None:
    """input + output + cache read + cache write + request fee == total, in picodollars."""
    cost = catalog.cost("claude-sonnet-4-5", USAGES[5])
    parts = (cost.input_pico, cost.output_pico, cost.cache_read_pico, cost.cache_write_pico)
    assert sum(parts) + cost.request_pico == cost.total_pico


def test_model_price_cost_accepts_sdk_usage(catalog: PriceCatalog) -> None:
    """ModelPrice.cost reads SDK usage objects too, with the same result as a Usage."""
    price = catalog.resolve("claude-sonnet-4-5")
    sdk = AnthropicUsage(input_tokens=100, output_tokens=200, cache_read_input_tokens=900)
    assert price.cost(sdk) == price.cost(Usage(1_000, 200, cache_read_tokens=900))


def test_cost_carries_canonical_model_and_provider(catalog: PriceCatalog) -> None:
    """A dated snapshot is reported under its canonical model id and provider."""
    cost = catalog.cost("claude-sonnet-4-5-20250929", Usage(1, 1))
    assert (cost.model, cost.provider) == ("claude-sonnet-4-5", "anthropic")


def test_sub_picodollar_price_is_exact_and_rounded_up(catalog: PriceCatalog) -> None:
    """A data price finer than 1 pico/token keeps total_usd exact and rounds total_pico up."""
    price = catalog.resolve("Qwen/Qwen3-VL-8B-Instruct", provider="huggingface_together")
    assert price.scale > 0
    assert price.usd_per_mtok(price.input_pico_per_token) == Decimal("0.18000000000000002")
    cost = price.cost(Usage(1_000, 0))
    assert cost.total_usd == Decimal("0.00018000000000000002")
    assert not cost.exact
    assert cost.total_pico == 180_000_001  # 180,000,000.00002 rounded up, never down


def test_embedding_model_with_output_tokens_is_refused(catalog: PriceCatalog) -> None:
    """A model without an output price refuses usage with output tokens instead of pricing $0."""
    price = catalog.resolve("text-embedding-3-small")
    assert price.output_pico_per_token is None
    assert price.cost(Usage(1_000, 0)).total_usd == Decimal("0.00002")
    with pytest.raises(UsageError, match="no output price"):
        price.cost(Usage(1_000, 5))


def test_cost_is_a_frozen_value() -> None:
    """Cost is immutable and compares by value."""
    cost = Cost("m", "p", 1, 2, 3, 4, 0, 10)
    assert cost == Cost("m", "p", 1, 2, 3, 4, 0, 10)
    with pytest.raises(AttributeError):
        cost.total_pico = 0  # type: ignore[misc]
    assert cost.total_usd == Decimal("1E-11")


def test_every_priced_model_in_the_data_matches_genai_prices() -> None:
    """All ~2,000 priced models × several usages × batch/standard: compiled prices == calc_price."""
    usages = [USAGES[2], USAGES[5], USAGES[8], Usage(123_457, 0, 1_234, 567, 89)]
    checked = 0
    for prov, info, context, price in data_prices(AT):
        for usage in usages:
            if price.output_pico_per_token is None and usage.output_tokens:
                continue  # refused on purpose (test_embedding_model_with_output_tokens…)
            expected = info.calc_price(
                genai_usage(usage), prov, genai_request_timestamp=AT, price_context=context
            ).total_price
            assert price.cost(usage).total_usd == expected, (prov.id, info.id, usage)
            checked += 1
    assert checked > 10_000


def test_total_pico_equals_the_worst_case_priced_in_full() -> None:
    """The admission's object-free total equals worst_case_for's (Usage → Cost) for every priced
    model, with and without a cache write, below and above long-context tiers."""
    from genai_prices.data_snapshot import get_snapshot

    from costcap.pricing._genai import compile_price
    from costcap.tokens import TokenCount
    from costcap.worst_case import dearer_cache_writes, worst_case_for

    checked = 0
    for prov in get_snapshot().providers:
        for info in prov.models:
            price = compile_price(prov, info, at=AT, context=None)
            if price is None or price.output_pico_per_token is None:
                continue
            for tokens in (0, 1_234, 250_000):
                counted = TokenCount(tokens=tokens, exact=True, method="o200k_base",
                                     upper_bound=tokens)  # fmt: skip
                for cache in (False, True):
                    worst = worst_case_for(price, counted, max_tokens=777, cache_write=cache)
                    write = tokens if cache and dearer_cache_writes(price) else 0
                    assert price.total_pico(tokens, 777, write) == worst.pico, (info.id, tokens)
                    checked += 1
    assert checked > 5_000
