"""The worst-case cost of a request before it is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from costcap.errors import ConfigError
from costcap.pricing import PriceCatalog, default_catalog
from costcap.tokens import count_messages
from costcap.worst_case import worst_case_cost

HELLO = [{"role": "user", "content": "Hello"}]


def test_openai_worst_case_is_counted_input_plus_max_output() -> None:
    """gpt-4o: 8 input tokens x $2.50/M + 500 x $10/M = $0.00502."""
    worst = worst_case_cost("gpt-4o", HELLO, max_tokens=500)
    assert worst.input_tokens == 8
    assert worst.input_exact
    assert str(worst.usd) == "0.00502"


def test_missing_max_tokens_without_a_known_maximum_fails_closed() -> None:
    """No max_tokens and no known model maximum: refuse rather than guess."""
    with pytest.raises(ConfigError, match="pass max_tokens"):
        worst_case_cost("gpt-4o", HELLO)


def test_missing_max_tokens_uses_the_configured_maximum(tmp_path: Path) -> None:
    """With max_output_tokens configured, an absent max_tokens reserves that maximum."""
    config = tmp_path / "costcap.toml"
    config.write_text('[models."gpt-4o"]\nmax_output_tokens = 16384\n')
    worst = worst_case_cost("gpt-4o", HELLO, catalog=PriceCatalog.from_toml(config))
    assert (worst.max_tokens, worst.max_tokens_source) == (16384, "model maximum")


def test_cache_control_prices_input_as_a_cache_write() -> None:
    """A prompt marked for caching on Claude is priced at the (dearer) cache-write rate."""
    marked = [{"role": "user", "content": [
        {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}
    ]}]  # fmt: skip
    plain = worst_case_cost("claude-sonnet-4-5", HELLO, max_tokens=100)
    cached = worst_case_cost("claude-sonnet-4-5", marked, max_tokens=100)
    assert cached.cost.cache_write_pico > 0
    assert cached.usd > plain.usd


def test_strict_reserves_the_guaranteed_bound() -> None:
    """For Claude, strict mode prices the upper bound, never less than the estimate."""
    loose = worst_case_cost("claude-sonnet-4-5", HELLO, max_tokens=100)
    strict = worst_case_cost("claude-sonnet-4-5", HELLO, max_tokens=100, strict=True)
    bound = count_messages(HELLO, "claude-sonnet-4-5").upper_bound
    assert strict.input_tokens == bound
    assert strict.usd >= loose.usd


def test_long_context_tier_applies_to_the_worst_case() -> None:
    """Above 200k input tokens Sonnet 4.5's worst case uses the $6/$22.50 tier."""
    price = default_catalog().resolve("claude-sonnet-4-5")
    big = [{"role": "user", "content": "word " * 260_000}]
    worst = worst_case_cost("claude-sonnet-4-5", big, max_tokens=1000)
    assert worst.input_tokens > 200_000
    tier_output = price.tiers[0].output_pico_per_token
    assert tier_output is not None
    assert worst.cost.output_pico == 1000 * tier_output
