"""costcap's corrections of genai-prices: the corrected figures by hand from the published prices,
their place between genai-prices and configured prices, and a guard that drops a row once
genai-prices carries its figures itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from anthropic.types import Usage as AnthropicUsage

from costcap.pricing import PriceCatalog, Usage
from costcap.pricing._corrections import CORRECTED, CORRECTIONS, Correction, corrected_price

from .conftest import genai_total, genai_usage

if TYPE_CHECKING:
    from genai_prices import types as gp

LONG = Usage(250_000, 1_000)


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4",
        "claude-sonnet-4-20250514",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ],
)
def test_sonnet_long_context_by_hand(catalog: PriceCatalog, model: str) -> None:
    """250k in / 1k out above 200k: 250,000 x $6 + 1,000 x $22.50 per MTok = $1.5225
    (genai-prices has no tier for these: $0.765)."""
    assert catalog.cost(model, LONG).total_usd == Decimal("1.5225")


def test_bedrock_regional_sonnet_45_long_context_by_hand(catalog: PriceCatalog) -> None:
    """Bedrock's regional Sonnet 4.5 costs 10% more: 250,000 x $6.60 + 1,000 x $24.75 per MTok
    = $1.67475."""
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert catalog.cost(model, LONG).total_usd == Decimal("1.67475")


def test_sonnet_4_at_200k_is_still_the_base_price(catalog: PriceCatalog) -> None:
    """Exactly 200,000 in / 1,000 out: 200,000 x $3 + 1,000 x $15 per MTok = $0.615."""
    assert catalog.cost("claude-sonnet-4", Usage(200_000, 1_000)).total_usd == Decimal("0.615")


def test_sonnet_4_long_context_cache_read_by_hand(catalog: PriceCatalog) -> None:
    """1,000 uncached + 199,500 cache-read tokens is 200,500 input, long context:
    1,000 x $6 + 199,500 x $0.60 per MTok = $0.1257."""
    usage = AnthropicUsage(input_tokens=1_000, output_tokens=0, cache_read_input_tokens=199_500)
    assert catalog.cost("claude-sonnet-4", usage).total_usd == Decimal("0.1257")


def _clock(year: int, month: int, day: int, hour: int) -> float:
    return datetime(year, month, day, hour, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner"])
@pytest.mark.parametrize("hour", [10, 20])  # 20:00 UTC was off-peak before September 2025
def test_deepseek_v32_prices_by_hand(model: str, hour: int) -> None:
    """DeepSeek-V3.2, either model, any hour: 1M cache-miss input x $0.28 + 1M cache hits x
    $0.028 + 1M output x $0.42 = $0.728, with no time-of-day window."""
    catalog = PriceCatalog(clock=lambda: _clock(2026, 12, 4, hour))
    usage = Usage(2_000_000, 1_000_000, cache_read_tokens=1_000_000)
    assert catalog.cost(model, usage).total_usd == Decimal("0.728")
    assert catalog.resolve(model).valid_until is None


def test_deepseek_prices_of_september_2025_by_hand(catalog: PriceCatalog) -> None:
    """From 2025-09-05 16:00 UTC to the V3.2 prices: $0.56 input, $1.68 output per MTok at
    any hour: 1M in + 1M out = $2.24 at 20:00 UTC (formerly off-peak)."""
    at = datetime(2025, 9, 10, 20, 0, tzinfo=UTC)
    usage = Usage(1_000_000, 1_000_000)
    assert catalog.cost("deepseek-chat", usage, at=at).total_usd == Decimal("2.24")


def test_before_a_correction_genai_prices_hold_until_it_starts() -> None:
    """On 2025-09-05 at 15:00 UTC genai-prices' (peak) price holds, and only until 16:00."""
    catalog = PriceCatalog(clock=lambda: _clock(2025, 9, 5, 15))
    usage = Usage(1_000_000, 1_000_000)
    at = datetime(2025, 9, 5, 15, 0, tzinfo=UTC)
    assert catalog.cost("deepseek-chat", usage).total_usd == genai_total(
        "deepseek-chat", usage, at=at
    )
    assert catalog.resolve("deepseek-chat").valid_until == datetime(2025, 9, 5, 16, 0, tzinfo=UTC)


def test_corrected_prices_say_so_in_their_source(catalog: PriceCatalog) -> None:
    """`costcap prices` shows a price's source: a corrected one names costcap."""
    assert catalog.resolve("claude-sonnet-4").source == CORRECTED
    assert catalog.resolve("claude-sonnet-4-5").source == "genai-prices"


def test_a_configured_price_still_wins_over_a_correction() -> None:
    """overrides (and costcap.toml) replace a corrected price: 250k x $1 + 1k x $2 = $0.252."""
    catalog = PriceCatalog(overrides={"claude-sonnet-4": {"input": "1", "output": "2"}})
    assert catalog.cost("claude-sonnet-4", LONG).total_usd == Decimal("0.252")


def test_configured_metadata_keeps_the_corrected_prices() -> None:
    """A metadata-only entry (max_output_tokens) keeps the corrected prices and says both."""
    catalog = PriceCatalog(overrides={"claude-sonnet-4": {"max_output_tokens": 64_000}})
    price = catalog.resolve("claude-sonnet-4")
    assert price.cost(LONG).total_usd == Decimal("1.5225")
    assert price.source == f"{CORRECTED} + <overrides>"


# -- the table itself ------------------------------------------------------------------------------


def _probe_instant(since: datetime | None) -> datetime:
    """An instant at which a row holds: a day after it starts, or now."""
    return datetime.now(UTC) if since is None else since + timedelta(days=1)


PROBES = [Usage(250_000, 1_000), Usage(1_000_000, 1_000_000, cache_read_tokens=400_000)]


def _carried(row: Correction, info: gp.ModelInfo, at: datetime) -> list[Usage]:
    """The probe usages genai-prices' ``info`` prices as the row does at ``at``."""
    from genai_prices.data_snapshot import get_snapshot

    prov = next(p for p in get_snapshot().providers if p.id == row.provider)
    real = next(m for m in prov.models if m.id == row.model)
    corrected = corrected_price(prov, real, at=at)
    assert corrected is not None
    return [
        usage
        for usage in PROBES
        if info.calc_price(genai_usage(usage), prov, genai_request_timestamp=at).total_price
        == corrected.cost(usage).total_usd
    ]


@pytest.mark.parametrize("row", CORRECTIONS, ids=lambda r: f"{r.provider}/{r.model}@{r.since}")
def test_genai_prices_does_not_carry_the_corrected_figures_yet(row: Correction) -> None:
    """Fails once genai-prices prices a corrected model as the row does: then the row (or the
    figure it corrects) must be dropped, not kept forever. Also fails when a row names a model
    genai-prices no longer lists, or one with price variants (a row replaces them all)."""
    from genai_prices.data_snapshot import get_snapshot

    prov = next(p for p in get_snapshot().providers if p.id == row.provider)
    info = next((m for m in prov.models if m.id == row.model), None)
    assert info is not None, f"genai-prices no longer lists {row.provider}/{row.model}"
    assert not info.price_variants, f"{row.model} has price variants: review the row"
    carried = _carried(row, info, _probe_instant(row.since))
    assert not carried, (
        f"genai-prices now prices {row.provider}/{row.model} as corrected ({carried}): "
        "drop the row from costcap/pricing/_corrections.py"
    )


def test_the_guard_above_sees_genai_prices_catch_up() -> None:
    """A genai-prices Sonnet 4 that carried the long-context tier would be caught."""
    import dataclasses

    from genai_prices.data_snapshot import get_snapshot
    from genai_prices.types import ModelPrice, Tier, TieredPrices

    def tiered(base: str, long: str) -> TieredPrices:
        return TieredPrices(base=Decimal(base), tiers=[Tier(start=200_000, price=Decimal(long))])

    [row] = [r for r in CORRECTIONS if r.model == "claude-sonnet-4-0"]
    prov = next(p for p in get_snapshot().providers if p.id == "anthropic")
    info = next(m for m in prov.models if m.id == "claude-sonnet-4-0")
    caught_up = dataclasses.replace(
        info,
        prices=ModelPrice(
            input_mtok=tiered("3", "6"),
            output_mtok=tiered("15", "22.5"),
            cache_read_mtok=tiered("0.3", "0.6"),
            cache_write_mtok=tiered("3.75", "7.5"),
            cache_write_1h_mtok=tiered("6", "12"),
        ),
    )
    assert _carried(row, caught_up, datetime.now(UTC)) == PROBES


def test_every_row_is_sourced_and_dated() -> None:
    """Each row names the page it was checked against and the day."""
    for row in CORRECTIONS:
        assert row.source.startswith("https://"), row
        assert row.checked.year >= 2025, row
        assert row.note, row
