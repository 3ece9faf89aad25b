"""Resolving model names to prices: matching, unknown models, time-dependent prices, caching."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costcap.errors import ConfigError, UnknownModel
from costcap.pricing import PriceCatalog, Usage, default_catalog

from .conftest import genai_total


@pytest.mark.parametrize(
    ("ref", "model", "provider"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic"),
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5", "anthropic"),
        ("gpt-4o-2024-08-06", "gpt-4o", "openai"),
        ("openai/gpt-4o", "gpt-4o", "openai"),
        ("anthropic:claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic"),
        ("google/gemini-2.5-pro", "gemini-2.5-pro", "google"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", None, "aws"),
    ],
)
def test_aliases_snapshots_and_prefixes_resolve(
    catalog: PriceCatalog, ref: str, model: str | None, provider: str
) -> None:
    """Dated snapshots, case, provider prefixes and Bedrock ids resolve to the canonical model."""
    price = catalog.resolve(ref)
    assert price.provider == provider
    if model is not None:
        assert price.model == model


def test_snapshot_is_priced_like_its_model(catalog: PriceCatalog) -> None:
    """claude-sonnet-4-5-20250929 costs what claude-sonnet-4-5 costs ($3/$15)."""
    usage = Usage(2_000, 500)
    dated = catalog.cost("claude-sonnet-4-5-20250929", usage)
    assert dated.total_usd == catalog.cost("claude-sonnet-4-5", usage).total_usd
    assert dated.total_usd == Decimal("0.0135")


def test_explicit_provider_selects_that_providers_price(catalog: PriceCatalog) -> None:
    """provider= picks the provider's own model entry (Azure's gpt-4o, not OpenAI's)."""
    assert catalog.resolve("gpt-4o", provider="azure").provider == "azure"
    assert catalog.resolve("openai/gpt-4o", provider="openrouter").provider == "openrouter"


def test_unknown_model_raises_with_suggestions(catalog: PriceCatalog) -> None:
    """A misspelt model raises UnknownModel naming the closest known models, never $0."""
    with pytest.raises(UnknownModel) as info:
        catalog.cost("gpt-4oo-mini", Usage(1, 1))
    assert info.value.model == "gpt-4oo-mini"
    assert "gpt-4o-mini" in info.value.suggestions
    assert "gpt-4o-mini" in str(info.value)


def test_unknown_model_at_a_provider_suggests_that_providers_models(
    catalog: PriceCatalog,
) -> None:
    """With provider=, suggestions come from that provider's models."""
    with pytest.raises(UnknownModel) as info:
        catalog.resolve("gpt-4oo", provider="azure")
    assert "gpt-4o" in info.value.suggestions


def test_known_but_unpriced_model_raises(catalog: PriceCatalog) -> None:
    """A model genai-prices lists without a token price is refused, not priced at $0."""
    with pytest.raises(UnknownModel):
        catalog.resolve("moderation", provider="openai")


def test_unknown_provider_is_a_config_error(catalog: PriceCatalog) -> None:
    """An unknown provider= is a bad argument, reported as ConfigError naming it."""
    with pytest.raises(ConfigError, match="no-such-cloud"):
        catalog.resolve("gpt-4o", provider="no-such-cloud")


def test_model_must_be_a_non_empty_string(catalog: PriceCatalog) -> None:
    """An empty model name is refused."""
    with pytest.raises(ConfigError):
        catalog.resolve("  ")


def test_metadata_from_genai_prices(catalog: PriceCatalog) -> None:
    """context_window comes from genai-prices; max_output_tokens is None unless configured."""
    price = catalog.resolve("claude-sonnet-4-5")
    assert price.context_window == 200_000
    assert price.max_output_tokens is None


def test_resolve_is_cached(catalog: PriceCatalog) -> None:
    """Resolving the same model twice returns the same object (resolved once)."""
    assert catalog.resolve("gpt-4o") is catalog.resolve("gpt-4o")


def _clock_at(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_time_of_day_prices_follow_the_clock() -> None:
    """deepseek-flash's peak price applies from 06:00 UTC; a cached off-peak price is
    re-resolved then."""
    now = [_clock_at(2026, 3, 2, 5, 0)]
    catalog = PriceCatalog(clock=lambda: now[0])
    off_peak = catalog.resolve("deepseek-flash")
    assert off_peak.valid_until == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    usage = Usage(1_000_000, 0)
    assert catalog.cost("deepseek-flash", usage).total_usd == genai_total(
        "deepseek-flash", usage, at=datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    )
    now[0] = _clock_at(2026, 3, 2, 7, 0)
    peak = catalog.cost("deepseek-flash", usage)
    assert peak.total_usd == genai_total(
        "deepseek-flash", usage, at=datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    )
    assert peak.total_usd > off_peak.cost(usage).total_usd


def test_at_prices_a_call_made_at_another_time(catalog: PriceCatalog) -> None:
    """at= resolves the prices in force at that instant (naive means UTC)."""
    usage = Usage(1_000_000, 1_000_000)
    naive = catalog.cost("deepseek-flash", usage, at=datetime(2026, 3, 2, 8, 0))
    aware = catalog.cost("deepseek-flash", usage, at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert naive == aware
    assert naive.total_usd == genai_total(
        "deepseek-flash", usage, at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    )


def test_context_selects_price_variants(catalog: PriceCatalog) -> None:
    """context={"processing": "batch"} applies genai-prices' batch variant (half price)."""
    usage = Usage(100_000, 0)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    standard = catalog.cost("claude-sonnet-4-5", usage, at=at)
    batch = catalog.cost("claude-sonnet-4-5", usage, at=at, context={"processing": "batch"})
    assert (standard.total_usd, batch.total_usd) == (Decimal("0.3"), Decimal("0.15"))


def test_known_models_lists_genai_and_configured_names() -> None:
    """known_models() holds genai-prices ids and configured names and aliases."""
    catalog = PriceCatalog(overrides={"my-model": {"input": "1", "output": "2", "aliases": ["mm"]}})
    names = catalog.known_models()
    assert {"gpt-4o", "claude-sonnet-4-5", "my-model", "mm"} <= set(names)
    assert names == sorted(names)


def test_default_catalog_is_one_per_process() -> None:
    """default_catalog() returns the same catalog every time."""
    assert default_catalog() is default_catalog()


def test_import_does_no_work() -> None:
    """Importing costcap.pricing loads no price data (that happens on first use)."""
    code = (
        "import sys, costcap.pricing; "
        "assert 'genai_prices.data' not in sys.modules, 'price data loaded at import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
