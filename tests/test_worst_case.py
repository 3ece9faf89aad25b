"""The worst-case cost of a request before it is sent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costcap.budgets import Budget
from costcap.errors import ConfigError, UncountableContent, UnpricedModality
from costcap.guard import Guard
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


def test_openai_cache_writes_price_the_input_at_the_write_rate() -> None:
    """gpt-5.6-sol lists a cache write ($5/M) above its input ($4/M) and OpenAI caches prompts
    on its own: 8 input tokens x $5/M + 500 x $20/M = $0.01004 (as plain input: $0.010032)."""
    worst = worst_case_cost("gpt-5.6-sol", HELLO, max_tokens=500)
    assert worst.input_tokens == 8
    assert worst.cost.cache_write_pico == 8 * 5_000_000
    assert worst.usd == Decimal("0.01004")


def test_the_guard_reserves_openai_cache_writes() -> None:
    """Admission reserves the same: $0.01004 for gpt-5.6-sol, 8 tokens in, 500 out."""
    budget = Budget(scope="global", period="day", limit_usd=1, thresholds=())
    guard = Guard("memory://", budgets=[budget])
    ticket = guard.admit(model="gpt-5.6-sol", messages=HELLO, max_tokens=500)
    assert ticket.reserved_usd == Decimal("0.01004")
    guard.close()


def test_claude_without_cache_control_is_priced_as_plain_input() -> None:
    """A Claude prompt writes the cache only where it is marked: unmarked, no write is priced."""
    assert worst_case_cost("claude-sonnet-4-5", HELLO, max_tokens=100).cost.cache_write_pico == 0


def test_audio_output_is_priced_at_the_output_audio_rate() -> None:
    """gpt-audio asked for audio (modalities): 500 output tokens x $64/M, not x $10/M."""
    worst = worst_case_cost("gpt-audio", HELLO, max_tokens=500, modalities=["text", "audio"])
    assert worst.cost.output_pico == 500 * 64_000_000


def test_audio_output_without_an_audio_price_is_refused() -> None:
    """gpt-4o-audio-preview's data has no audio price: the request is refused before the call,
    naming the model and the costcap.toml key that would price it."""
    with pytest.raises(UnpricedModality, match="output_audio") as info:
        worst_case_cost("gpt-4o-audio-preview", HELLO, max_tokens=500, modalities=["audio"])
    assert (info.value.model, info.value.modality) == ("gpt-4o-audio-preview", "output audio")


AUDIO_IN = [{"role": "user", "content": [
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
]}]  # fmt: skip


def test_audio_input_without_an_audio_price_is_refused() -> None:
    """Audio sent to a model with no audio input price: UnpricedModality, not a text price."""
    with pytest.raises(UnpricedModality, match="input_audio"):
        worst_case_cost("gpt-4o-audio-preview", AUDIO_IN, max_tokens=100)


def test_audio_input_with_an_audio_price_is_still_uncountable() -> None:
    """With an audio price the audio must still be counted, which costcap cannot do."""
    with pytest.raises(UncountableContent):
        worst_case_cost("gpt-audio", AUDIO_IN, max_tokens=100)
