"""Which rates the worst case prices a request at, by hand on prices built for the test: a cache
write only when it is dearer than plain input (either write, 5-minute or 1-hour), audio output
at the output audio rate and refused without one, the estimate unless ``strict``, and what the
helpers that decide it say about a request."""

from __future__ import annotations

import pytest

from costcap.errors import UnpricedModality
from costcap.pricing import ModelPrice
from costcap.pricing._media import MediaRates
from costcap.tokens import TokenCount
from costcap.worst_case import (
    cache_write_possible,
    dearer_cache_writes,
    has_audio_input,
    has_cache_control,
    worst_case_for,
)

# per token, in picodollars: $4/M in, $20/M out, $0.40/M cache read
PLAIN = ModelPrice("plain", "test", 4_000_000, 20_000_000, 400_000, 4_000_000, 4_000_000)
# a 5-minute write at the input rate, a 1-hour write at twice it
HOURLY = ModelPrice("hourly", "test", 4_000_000, 20_000_000, 400_000, 4_000_000, 8_000_000)
# audio in one direction only: $32/M audio in, or $64/M audio out
TEXT = (2_500_000, 10_000_000, 1_250_000, 2_500_000, 2_500_000)
LISTENER = ModelPrice(
    "listener", "test", *TEXT, media=MediaRates(input_audio_pico_per_token=32_000_000)
)
SPEAKER = ModelPrice(
    "speaker", "test", *TEXT, media=MediaRates(output_audio_pico_per_token=64_000_000)
)

ESTIMATED = TokenCount(100, False, "estimate", 130)
EXACT = TokenCount(100, True, "o200k_base", 100)
HELLO = [{"role": "user", "content": "Hello"}]


def test_a_cache_write_at_the_input_rate_is_not_dearer() -> None:
    assert dearer_cache_writes(PLAIN) is False
    assert cache_write_possible(PLAIN, HELLO) is False


def test_a_dearer_one_hour_write_is_dearer() -> None:
    """The 5-minute write costs what input does, the 1-hour one more: dearer."""
    assert dearer_cache_writes(HOURLY) is True
    assert cache_write_possible(HOURLY, HELLO) is True  # not Claude: any prompt may be written


def test_defaults_price_the_estimate_as_plain_input_and_text_output() -> None:
    """100 estimated tokens × $4/M + 10 × $20/M = $0.0006; no write, no audio, no bound."""
    worst = worst_case_for(HOURLY, ESTIMATED, max_tokens=10)
    assert (worst.input_tokens, worst.input_method) == (100, "estimate")
    assert (worst.pico, worst.cost.cache_write_pico) == (600_000_000, 0)


def test_a_possible_write_prices_the_input_at_the_dearest_write() -> None:
    """100 tokens × $8/M (the 1-hour write) + 10 × $20/M = $0.001."""
    worst = worst_case_for(HOURLY, ESTIMATED, max_tokens=10, cache_write=True)
    assert (worst.pico, worst.cost.cache_write_pico) == (1_000_000_000, 800_000_000)


def test_a_write_no_dearer_than_input_is_priced_as_input() -> None:
    worst = worst_case_for(PLAIN, ESTIMATED, max_tokens=10, cache_write=True)
    assert (worst.pico, worst.cost.cache_write_pico) == (600_000_000, 0)


@pytest.mark.parametrize(
    ("counted", "strict", "tokens", "method"),
    [
        (ESTIMATED, True, 130, "upper-bound"),  # strict: the guaranteed bound
        (ESTIMATED, False, 100, "estimate"),
        (EXACT, True, 100, "o200k_base"),  # an exact count is its own bound
    ],
)
def test_strict_prices_the_bound_of_an_estimate_only(
    counted: TokenCount, strict: bool, tokens: int, method: str
) -> None:
    worst = worst_case_for(PLAIN, counted, max_tokens=10, strict=strict)
    assert (worst.input_tokens, worst.input_method) == (tokens, method)
    assert worst.pico == tokens * 4_000_000 + 10 * 20_000_000


def test_audio_output_is_priced_at_the_output_audio_rate() -> None:
    """100 tokens × $2.50/M + 10 audio tokens × $64/M = $0.00089, all input uncached."""
    worst = worst_case_for(SPEAKER, EXACT, max_tokens=10, audio_output=True)
    assert worst.pico == 890_000_000


def test_audio_output_needs_an_output_audio_price() -> None:
    """An input audio price does not price audio output."""
    with pytest.raises(UnpricedModality, match="output_audio"):
        worst_case_for(LISTENER, EXACT, max_tokens=10, audio_output=True)


def test_audio_in_messages() -> None:
    """An input_audio part or an assistant's earlier audio answer is audio input; a key named
    ``audio`` elsewhere (a tool's schema, metadata) is not."""
    answer = [{"role": "assistant", "content": None, "audio": {"id": "audio_1"}}]
    part = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]
    schema = [{"role": "user", "content": "hi", "metadata": {"audio": "wav"}}]
    assert (has_audio_input(answer), has_audio_input(part)) == (True, True)
    assert (has_audio_input(schema), has_audio_input(HELLO)) == (False, False)


def test_no_cache_control_in_a_plain_prompt() -> None:
    assert has_cache_control(HELLO, None, None) is False
