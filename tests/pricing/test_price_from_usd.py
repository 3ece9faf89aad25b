"""Prices in USD per million tokens made integer rates, by hand: the smallest scale at which
every rate (the 1-hour cache write and the per-request fee too) is whole, audio and image rates
only when the data has some, and no price finer than 10⁻³⁰ USD per token."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costcap.pricing import ModelPrice, Usage
from costcap.pricing._cost import DecimalRates, price_from_usd
from costcap.pricing._media import MediaRates

D = Decimal


def build(base: DecimalRates, request_usd_per_k: Decimal | None = None) -> ModelPrice:
    return price_from_usd(model="m", provider="p", base=base, request_usd_per_k=request_usd_per_k)


def rates(price: ModelPrice) -> tuple[int, int | None, int, int, int]:
    return (price.input_pico_per_token, price.output_pico_per_token,
            price.cache_read_pico_per_token, price.cache_write_pico_per_token,
            price.cache_write_1h_pico_per_token)  # fmt: skip


def test_whole_picodollar_prices_need_no_scale() -> None:
    """$3 / $15 / $0.30 / $3.75 / $6 per MTok: 3,000,000 … 6,000,000 picodollars a token."""
    price = build((D(3), D(15), D("0.3"), D("3.75"), D(6), None))
    assert price.scale == 0
    assert rates(price) == (3_000_000, 15_000_000, 300_000, 3_750_000, 6_000_000)
    assert price.media is None


def test_round_tens_need_no_scale_either() -> None:
    """$10 per MTok is 1E+7 picodollars a token: scale 0, not below it."""
    price = build((D(10), D(20), D(10), D(10), D(10), None))
    assert price.scale == 0
    assert rates(price) == (10_000_000, 20_000_000, 10_000_000, 10_000_000, 10_000_000)


def test_a_fraction_of_a_picodollar_sets_the_scale() -> None:
    """$0.0000015 per MTok is 1.5 picodollars a token: scale 1, rates in tenths."""
    price = build((D("0.0000015"), D(0), D(0), D(0), D(0), None))
    assert (price.scale, price.input_pico_per_token) == (1, 15)


def test_the_one_hour_write_counts_for_the_scale() -> None:
    """$6.0000001 per MTok (a 1-hour write) is 6,000,000.1 picodollars: every rate in tenths."""
    price = build((D(3), D(15), D(3), D(3), D("6.0000001"), None))
    assert price.scale == 1
    assert rates(price) == (30_000_000, 150_000_000, 30_000_000, 30_000_000, 60_000_001)


def test_the_request_fee_counts_for_the_scale() -> None:
    """$0.0000000005 per 1,000 requests is half a picodollar a request: scale 1, a fee of 5
    tenths; one input token at $3/MTok costs 30,000,000 + 5 tenths of a picodollar, billed as
    3,000,001 picodollars (rounded up, not exact)."""
    price = build((D(3), D(15), D(3), D(3), D(3), None), request_usd_per_k=D("0.0000000005"))
    assert (price.scale, price.request_pico, price.input_pico_per_token) == (1, 5, 30_000_000)
    cost = price.cost(Usage(1, 0))
    assert (cost.total_pico, cost.exact) == (3_000_001, False)
    assert cost.total_usd == D("0.0000030000005")


def test_a_whole_request_fee() -> None:
    """$5 per 1,000 requests: $0.005 = 5,000,000,000 picodollars a request."""
    price = build((D(3), D(15), D(3), D(3), D(3), None), request_usd_per_k=D(5))
    assert (price.scale, price.request_pico) == (0, 5_000_000_000)


def test_the_finest_price() -> None:
    """10⁻²⁴ USD per MTok is 10⁻³⁰ per token: scale 18, a rate of 1."""
    price = build((D("1E-24"), D(0), D(0), D(0), D(0), None))
    assert (price.scale, price.input_pico_per_token) == (18, 1)


def test_a_finer_price_is_refused() -> None:
    with pytest.raises(ValueError, match=r"finer than 10\^-30 USD per token"):
        build((D("1E-25"), D(0), D(0), D(0), D(0), None))


def test_media_rates_only_where_the_data_has_some() -> None:
    """No audio or image price: no MediaRates; every one of them: all six rates."""
    none = build((D(3), D(15), D(3), D(3), D(3), (None,) * 6))
    assert none.media is None
    every = build((D(3), D(15), D(3), D(3), D(3), (D(32), D(16), D(64), D(5), D(1), D(40))))
    assert every.media == MediaRates(32_000_000, 16_000_000, 64_000_000, 5_000_000, 1_000_000,
                                     40_000_000)  # fmt: skip
