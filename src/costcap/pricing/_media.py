"""Audio and image tokens: priced at their own rates where the price data has them.

genai-prices lists separate prices for audio and image tokens on some models (``input_audio_mtok``,
``cache_audio_read_mtok``, ``output_audio_mtok``, ``input_image_mtok``, ``cache_image_read_mtok``,
``output_image_mtok``). Each count is a part of a broader one: ``input_audio_tokens`` of
``input_tokens``, ``cache_audio_read_tokens`` of both ``input_audio_tokens`` and
``cache_read_tokens``, ``output_audio_tokens`` of ``output_tokens`` (images likewise).

:func:`media_amounts` prices such a usage as genai-prices' ``calc_price`` does, except for audio
the model has no price for:

* a modality's tokens cost its rate; its cached tokens its cache-read rate, or its input rate when
  the data lists none (no discount assumed);
* image tokens of a model with no image price are text tokens (OpenAI and Google bill images to
  their vision models at the text rates; genai-prices prices them so too);
* audio tokens of a model with no audio price for their direction are charged at the model's
  dearest token rate and the cost is flagged :data:`UNPRICED_AUDIO`: providers bill audio well
  above text (OpenAI's gpt-4o-audio-preview: $40/$80 per MTok of audio, $2.50/$10 of text), so
  text rates would under-count it, and the data cannot say by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._usage import Usage

__all__ = ["MEDIA_PRICE_KEYS", "UNPRICED_AUDIO", "MediaRates", "media_amounts"]

#: genai-prices' price keys of audio and image tokens, in :class:`MediaRates` field order.
MEDIA_PRICE_KEYS = (
    "input_audio_mtok",
    "cache_audio_read_mtok",
    "output_audio_mtok",
    "input_image_mtok",
    "cache_image_read_mtok",
    "output_image_mtok",
)

#: ``Cost.flag`` (and ``CostEvent.flag``) when audio tokens were charged at the dearest rate.
UNPRICED_AUDIO = "unpriced_audio"


@dataclass(frozen=True, slots=True)
class MediaRates:
    """A model's audio and image rates, per token in its :class:`ModelPrice`'s units
    (picodollars when ``scale`` is 0); ``None`` where the price data has no price."""

    input_audio_pico_per_token: int | None = None
    cache_audio_read_pico_per_token: int | None = None
    output_audio_pico_per_token: int | None = None
    input_image_pico_per_token: int | None = None
    cache_image_read_pico_per_token: int | None = None
    output_image_pico_per_token: int | None = None


_NO_MEDIA = MediaRates()


def _input_rates(rate: int | None, cached: int | None) -> tuple[int, int] | None:
    """A modality's (uncached, cached) input rates; ``None`` when it has no price."""
    if rate is None:
        return None
    return rate, rate if cached is None else cached


def media_amounts(
    u: Usage, text: tuple[int, int, int], media: MediaRates | None, dearest: int
) -> tuple[int, int, int, str | None]:
    """The uncached input, output and cache-read amounts of a usage with audio or image tokens
    (cache writes are priced by the caller, as for text), and the flag (``None`` or
    :data:`UNPRICED_AUDIO`). ``text`` holds the input, output and cache-read rates; ``dearest``
    is the model's dearest token rate, both at this usage's tier."""
    r_in, r_out, r_read = text
    m = media or _NO_MEDIA
    flag: str | None = None
    audio = _input_rates(m.input_audio_pico_per_token, m.cache_audio_read_pico_per_token)
    if audio is None and u.input_audio_tokens:
        audio, flag = (dearest, dearest), UNPRICED_AUDIO
    image = _input_rates(m.input_image_pico_per_token, m.cache_image_read_pico_per_token)
    uncached = u.input_tokens - u.cache_read_tokens - u.cache_write_tokens
    text_read = u.cache_read_tokens
    input_p = read_p = 0
    for total, cached, rates in (
        (u.input_audio_tokens, u.cache_audio_read_tokens, audio),
        (u.input_image_tokens, u.cache_image_read_tokens, image),  # None: priced as text
    ):
        if total and rates is not None:
            input_p += (total - cached) * rates[0]
            read_p += cached * rates[1]
            uncached -= total - cached
            text_read -= cached
    # Audio or image tokens also reported as cache writes are charged twice, never once too few.
    input_p += max(0, uncached) * r_in
    read_p += text_read * r_read
    output = u.output_tokens
    output_p = 0
    out_audio = m.output_audio_pico_per_token
    if out_audio is None and u.output_audio_tokens:
        out_audio, flag = dearest, UNPRICED_AUDIO
    for count, rate in (
        (u.output_audio_tokens, out_audio),
        (u.output_image_tokens, m.output_image_pico_per_token),  # None: priced as text
    ):
        if count and rate is not None:
            output_p += count * rate
            output -= count
    output_p += output * r_out
    return input_p, output_p, read_p, flag
