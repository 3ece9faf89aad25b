"""Audio and image tokens: their own prices (hand arithmetic from the published prices, and
equality with genai-prices' ``calc_price``), and audio with no price never priced as text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openai.types.realtime import RealtimeResponseUsage

from costcap.pricing import ModelPrice, PriceCatalog, Usage

from .conftest import data_prices, genai_total, genai_usage

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
REALTIME_AUDIO = Usage(10_000, 2_000, input_audio_tokens=8_000, output_audio_tokens=1_500)


def test_gpt_realtime_audio_by_hand(catalog: PriceCatalog) -> None:
    """gpt-realtime ($4 text / $32 audio in, $16 text / $64 audio out per MTok): 2,000 text +
    8,000 audio in, 500 text + 1,500 audio out = $0.008 + $0.256 + $0.008 + $0.096 = $0.368."""
    cost = catalog.cost("gpt-realtime", REALTIME_AUDIO)
    assert cost.total_usd == Decimal("0.368")
    assert (cost.input_pico, cost.output_pico) == (264_000_000_000, 104_000_000_000)
    assert cost.flag is None


def test_gpt_realtime_cached_audio_by_hand(catalog: PriceCatalog) -> None:
    """A Realtime response.done usage: 10,000 in, of which 8,000 audio; 4,000 cached, of which
    3,000 audio; 1,000 text out. 1,000 text x $4 + 5,000 audio x $32 + 3,000 cached audio x
    $0.40 + 1,000 cached text x $0.40 + 1,000 out x $16 = $0.1816."""
    usage = RealtimeResponseUsage.model_validate(
        {
            "input_tokens": 10_000,
            "output_tokens": 1_000,
            "input_token_details": {
                "cached_tokens": 4_000,
                "audio_tokens": 8_000,
                "text_tokens": 2_000,
                "cached_tokens_details": {"audio_tokens": 3_000, "text_tokens": 1_000},
            },
            "output_token_details": {"text_tokens": 1_000, "audio_tokens": 0},
        }
    )
    cost = catalog.cost("gpt-realtime", usage)
    assert cost.total_usd == Decimal("0.1816")
    assert cost.cache_read_pico == 4_000 * 400_000


def test_gpt_image_1_image_tokens_by_hand(catalog: PriceCatalog) -> None:
    """gpt-image-1 ($5 text, $10 image in, $40 out per MTok), an Images API usage: 1,000 text +
    5,000 image tokens in, 4,160 out = $0.005 + $0.05 + $0.1664 = $0.2214."""
    usage = {
        "input_tokens": 6_000,
        "input_tokens_details": {"text_tokens": 1_000, "image_tokens": 5_000},
        "output_tokens": 4_160,
        "total_tokens": 10_160,
    }
    assert catalog.cost("gpt-image-1", usage).total_usd == Decimal("0.2214")


def test_image_tokens_of_a_model_without_an_image_price_are_text(catalog: PriceCatalog) -> None:
    """gpt-4o lists no image price: its image tokens cost the text input rate ($2.50/MTok), as
    OpenAI bills them, unflagged."""
    with_images = catalog.cost("gpt-4o", Usage(3_000, 100, input_image_tokens=2_500))
    assert with_images.total_usd == Decimal("0.0085")  # 3,000 x $2.50 + 100 x $10
    assert with_images.flag is None


def test_audio_without_an_audio_price_is_charged_at_the_dearest_rate(
    catalog: PriceCatalog,
) -> None:
    """gpt-4o-audio-preview's data lists text prices only ($2.50 / $10): its audio is charged at
    the dearest, $10/MTok, and flagged. 2,000 text x $2.50 + 8,000 audio x $10 + 500 x $10 +
    1,500 audio x $10 = $0.005 + $0.08 + $0.005 + $0.015 = $0.105 (as text: $0.045)."""
    cost = catalog.cost("gpt-4o-audio-preview", REALTIME_AUDIO)
    assert cost.total_usd == Decimal("0.105")
    assert cost.flag == "unpriced_audio"


def test_cached_audio_without_a_cache_price_costs_the_audio_rate() -> None:
    """A configured model with an audio price and no cached-audio price: cached audio costs the
    audio input rate (no discount assumed). 1,000 cached audio x $40 + 1,000 text x $1."""
    catalog = PriceCatalog(overrides={"voice": {"input": "1", "output": "2", "input_audio": "40"}})
    usage = Usage(2_000, 0, cache_read_tokens=1_000, input_audio_tokens=1_000,
                  cache_audio_read_tokens=1_000)  # fmt: skip
    assert catalog.cost("voice", usage).total_usd == Decimal("0.041")


def _media_usages(price: ModelPrice) -> list[Usage]:
    """Usages with the audio the model prices, and images (priced or not, cached or not)."""
    media = price.media
    assert media is not None
    audio_in = media.input_audio_pico_per_token is not None
    audio_out = media.output_audio_pico_per_token is not None
    output = price.output_pico_per_token is not None
    usages = []
    for total, read, audio, audio_read, image, image_read, out, out_audio, out_image in (
        (20_000, 6_000, 8_000, 2_000, 4_000, 1_000, 3_000, 1_500, 500),
        (9_000, 0, 9_000, 0, 0, 0, 700, 700, 0),
        (250_000, 200_000, 100_000, 90_000, 50_000, 40_000, 9_000, 0, 9_000),
    ):
        usages.append(
            Usage(
                total,
                out if output else 0,
                cache_read_tokens=read,
                input_audio_tokens=audio if audio_in else 0,
                cache_audio_read_tokens=audio_read if audio_in else 0,
                output_audio_tokens=out_audio if audio_out and output else 0,
                input_image_tokens=image,
                cache_image_read_tokens=image_read,
                output_image_tokens=out_image if output else 0,
            )
        )
    return usages


def test_every_model_with_audio_or_image_prices_matches_genai_prices() -> None:
    """Every model (standard and batch) whose data has audio or image prices: usages with audio,
    cached audio, images and cached images cost what calc_price says."""
    checked = set()
    for prov, info, context, price in data_prices(AT):
        if price.media is None:
            continue
        for usage in _media_usages(price):
            expected = info.calc_price(
                genai_usage(usage), prov, genai_request_timestamp=AT, price_context=context
            ).total_price
            cost = price.cost(usage)
            assert (cost.total_usd, cost.flag) == (expected, None), (info.id, usage)
        checked.add((prov.id, info.id))
    assert len(checked) >= 30
    assert ("openai", "gpt-realtime") in checked


@pytest.mark.parametrize("model", ["gpt-realtime", "gemini-2.5-flash", "gpt-image-1.5"])
def test_catalog_prices_audio_and_images_like_genai_prices(
    catalog: PriceCatalog, model: str
) -> None:
    """Through the catalog too (audio, cached audio, images, image output)."""
    usage = Usage(20_000, 3_000, cache_read_tokens=6_000, input_audio_tokens=8_000,
                  cache_audio_read_tokens=2_000, input_image_tokens=4_000,
                  cache_image_read_tokens=1_000, output_image_tokens=500)  # fmt: skip
    if model == "gpt-image-1.5":  # no audio price: audio would be flagged, not compared
        usage = Usage(20_000, 3_000, cache_read_tokens=6_000, input_image_tokens=4_000,
                      cache_image_read_tokens=1_000, output_image_tokens=500)  # fmt: skip
    assert catalog.cost(model, usage, at=AT).total_usd == genai_total(model, usage, at=AT)
