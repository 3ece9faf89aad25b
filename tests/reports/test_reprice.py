"""Pricing logged calls again (``costcap.reports._reprice``): the tokenizer families and their
ratios, token conversion, the input cutoffs of long-context prices, and the price of a group."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from costcap.pricing import default_catalog
from costcap.reports._reprice import (
    Tokens,
    band_sql,
    convert,
    cutoff,
    group_cost,
    input_cutoffs,
    token_ratio,
    tokenizer,
)


@pytest.mark.parametrize(
    ("model", "family", "factor"),
    [
        ("gpt-4o", "o200k_base", "1"),
        ("gpt-4o-mini", "o200k_base", "1"),
        ("gpt-4", "cl100k_base", "1"),
        ("claude-haiku-4-5", "claude", "1.25"),
        ("anthropic/claude-sonnet-4-5", "claude", "1.25"),
        ("gemini-2.5-pro", "gemini", "1.05"),
        ("deepseek-chat", "other", "1.25"),
    ],
)
def test_tokenizer_families(model: str, family: str, factor: str) -> None:
    assert tokenizer(model) == (family, Decimal(factor))


@pytest.mark.parametrize(
    ("source", "target", "ratio"),
    [
        ("gpt-4o", "claude-haiku-4-5", Fraction(5, 4)),  # 1.25 / 1
        ("claude-haiku-4-5", "gpt-4o", Fraction(4, 5)),  # 1 / 1.25
        ("claude-sonnet-4-5", "gemini-2.5-pro", Fraction(21, 25)),  # 1.05 / 1.25
        ("gpt-4", "gpt-4o", Fraction(1)),  # cl100k_base and o200k_base: 1 each
        ("claude-haiku-4-5", "claude-sonnet-4-5", Fraction(1)),  # one family
        ("deepseek-chat", "claude-haiku-4-5", Fraction(1)),  # 1.25 / 1.25
    ],
)
def test_token_ratios(source: str, target: str, ratio: Fraction) -> None:
    assert token_ratio(source, target) == ratio


def test_convert_scales_input_and_cache_counts_not_output() -> None:
    """× 5/4: 1,001 → 1,251.25 → 1,251; 3 cache reads → 3.75 → 4; 2 writes → 2.5 → 2 (half
    to even); output unchanged."""
    assert convert(Tokens(1001, 70, 3, 2), Fraction(5, 4)) == Tokens(1251, 70, 4, 2)


def test_convert_keeps_cache_counts_within_the_input() -> None:
    """Rounded up, reads and writes could pass the input: 1 read + 1 write of 2 tokens × 5/4 are
    1.25 → 1 each of 2.5 → 2; at × 3/2, 1.5 → 2 each of 3: writes cut to 1."""
    assert convert(Tokens(2, 0, 1, 1), Fraction(3, 2)) == Tokens(3, 0, 2, 1)


@pytest.mark.parametrize(
    ("threshold", "ratio", "expected"),
    [
        (200_000, Fraction(1), 200_001),
        (200_000, Fraction(5, 4), 160_001),  # 160,001 × 1.25 = 200,001.25; 160,000 → 200,000
        (200_000, Fraction(4, 5), 250_001),  # 250,001 × 0.8 = 200,000.8 → 200,001
        (200_000, Fraction(21, 25), 238_096),  # × 0.84: 200,000.64 → 200,001; 238,095 → 199,999.8
    ],
)
def test_cutoff_is_the_first_count_past_the_threshold(
    threshold: int, ratio: Fraction, expected: int
) -> None:
    assert cutoff(threshold, ratio) == expected
    assert round(expected * ratio) > threshold >= round((expected - 1) * ratio)


def test_input_cutoffs_of_the_prices_a_call_may_get() -> None:
    """Sonnet (200,000) and Gemini 2.5 Pro (200,000) from Claude tokens; gpt-4o has no tier."""
    catalog = default_catalog()
    pairs = [
        (catalog.resolve("claude-sonnet-4-5"), Fraction(1)),
        (catalog.resolve("gemini-2.5-pro"), Fraction(21, 25)),
        (catalog.resolve("gpt-4o"), Fraction(4, 5)),
    ]
    assert input_cutoffs(pairs) == [200_001, 238_096]


def test_band_sql_names_the_last_cutoff_reached() -> None:
    assert band_sql([]) == "0"
    assert band_sql([10, 30]) == (
        "CASE WHEN e.input_tokens >= 30 THEN 30 WHEN e.input_tokens >= 10 THEN 10 ELSE 0 END"
    )


def test_a_group_is_priced_at_the_tier_of_its_calls() -> None:
    """Two Sonnet calls of 210,000 input and 100 output tokens each: at $6 / $22.50 per million
    (the tier past 200,000), not at the base $3 / $15 — and not at a tier chosen by the sum."""
    sonnet = default_catalog().resolve("claude-sonnet-4-5")
    tokens = Tokens(420_000, 200)
    assert group_cost(sonnet, 2, tokens, 210_000) == 420_000 * 6_000_000 + 200 * 22_500_000
    assert group_cost(sonnet, 2, Tokens(300_000, 200), 0) == 300_000 * 3_000_000 + 200 * 15_000_000
