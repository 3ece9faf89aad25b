"""The parts of a cost, by hand on prices built for the test: audio above and at a long-context
tier, cache writes and a per-request fee with audio, a price finer than a picodollar (rounded up,
exact only when it comes out whole), tiers kept in order, and ``total_pico`` (the admission hot
path) without cache writes."""

from __future__ import annotations

from decimal import Decimal

from costcap.pricing import Cost, ModelPrice, PriceTier, Usage
from costcap.pricing._media import MediaRates

# $2.50/M in, $10/M out, $1.25/M cache read, $3.75/M 5-minute and $6/M 1-hour writes;
# audio $40/M in, $80/M out
TEXT = (2_500_000, 10_000_000, 1_250_000, 3_750_000, 6_000_000)
AUDIO = MediaRates(input_audio_pico_per_token=40_000_000, output_audio_pico_per_token=80_000_000)
# above 1,000 input tokens: text $5/M in, $20/M out; audio $50/M in, $100/M out
TIER = PriceTier(1_000, 5_000_000, 20_000_000, 2_500_000, 3_750_000, 6_000_000,
                 media=MediaRates(input_audio_pico_per_token=50_000_000,
                                  output_audio_pico_per_token=100_000_000))  # fmt: skip
TIERED = ModelPrice("tiered", "test", *TEXT, tiers=(TIER,), media=AUDIO)


def test_audio_above_a_tier_is_priced_at_the_tier() -> None:
    """2,000 input tokens (500 audio), 100 output (50 audio), above the 1,000-token tier:
    500 × $50/M + 1,500 × $5/M + 50 × $100/M + 50 × $20/M = $0.0385."""
    cost = TIERED.cost(Usage(2_000, 100, input_audio_tokens=500, output_audio_tokens=50))
    assert (cost.input_pico, cost.output_pico) == (32_500_000_000, 6_000_000_000)
    assert cost.total_pico == 38_500_000_000


def test_audio_at_the_tier_threshold_is_priced_at_the_base() -> None:
    """A tier applies above its threshold, not at it: 1,000 audio tokens × $40/M = $0.04."""
    cost = TIERED.cost(Usage(1_000, 0, input_audio_tokens=1_000))
    assert cost.total_pico == 40_000_000_000


def test_audio_with_cache_writes_and_a_request_fee() -> None:
    """2,000 input tokens of which 1,000 written to the cache (400 for an hour) and 500 audio,
    50 audio tokens out of 100, a $0.000001 fee: 500 × $40/M + 500 × $2.50/M in; 50 × $80/M +
    50 × $10/M out; 600 × $3.75/M + 400 × $6/M written; $0.030401 in all."""
    price = ModelPrice("fee", "test", *TEXT, request_pico=1_000_000, media=AUDIO)
    usage = Usage(2_000, 100, cache_write_tokens=1_000, cache_write_1h_tokens=400,
                  input_audio_tokens=500, output_audio_tokens=50)  # fmt: skip
    cost = price.cost(usage)
    assert (cost.input_pico, cost.output_pico, cost.cache_write_pico) == (
        21_250_000_000, 4_500_000_000, 4_650_000_000,
    )  # fmt: skip
    assert (cost.request_pico, cost.total_pico, cost.exact) == (1_000_000, 30_401_000_000, True)


# rates in tenths of a picodollar (scale 1): $2.5/M in, $10.1/M out, audio $40.1/M in
FINE = ModelPrice("fine", "test", 25, 101, 25, 25, 25, scale=1,
                  media=MediaRates(input_audio_pico_per_token=401))  # fmt: skip


def test_audio_finer_than_a_picodollar_rounds_up() -> None:
    """1 audio token × 40.1 + 2 text tokens × 2.5 = 45.1 picodollars: billed 46, not exact."""
    cost = FINE.cost(Usage(3, 0, input_audio_tokens=1))
    assert (cost.input_pico, cost.total_pico, cost.exact) == (46, 46, False)
    assert cost.total_usd == Decimal("0.0000000000451")


def test_a_fine_price_that_comes_out_whole_is_exact() -> None:
    """10 tokens × 2.5 picodollars = 25 exactly; 1 token is 2.5, billed 3."""
    whole, part = FINE.cost(Usage(10, 0)), FINE.cost(Usage(1, 0))
    assert (whole.total_pico, whole.exact) == (25, True)
    assert (part.total_pico, part.exact) == (3, False)


def test_a_cost_is_exact_unless_told() -> None:
    assert Cost("m", "p", 1, 2, 3, 4, 5, 15).exact is True
    assert ModelPrice("m", "p", *TEXT).cost(Usage(1, 1)).exact is True


def test_tiers_are_kept_in_threshold_order() -> None:
    high = PriceTier(272_000, 7_000_000, 28_000_000, 700_000, 7_000_000, 7_000_000)
    low = PriceTier(128_000, 5_000_000, 20_000_000, 500_000, 5_000_000, 5_000_000)
    price = ModelPrice("m", "p", *TEXT, tiers=(high, low))
    assert [tier.threshold for tier in price.tiers] == [128_000, 272_000]


def test_total_pico_writes_nothing_unless_told() -> None:
    """1,000 tokens × $2.50/M + 100 × $10/M = $0.0035; with 400 of them written for an hour
    at $6/M: 600 × $2.50/M + 400 × $6/M + $0.001 = $0.0049."""
    price = ModelPrice("m", "p", *TEXT)
    assert price.total_pico(1_000, 100) == 3_500_000_000
    assert price.total_pico(1_000, 100, cache_write=400) == 4_900_000_000
