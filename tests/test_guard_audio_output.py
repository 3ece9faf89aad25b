"""A call asking for audio output (``modalities=["text", "audio"]``) is reserved at the model's
audio output rate, or refused before sending when the model has no audio price.

gpt-audio-mini per million tokens (genai-prices, OpenAI's published prices): text input $0.60,
text output $2.40, audio output $20.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from costcap import Budget, Guard
from costcap.errors import UnpricedModality
from costcap.tokens import count_messages

MESSAGES = [{"role": "user", "content": "Read this sentence aloud, please."}]


def make_guard() -> Guard:
    return Guard("memory://", budgets=[Budget(scope="global", period="day", limit_usd=10)],
                 notifiers=[])  # fmt: skip


def test_audio_output_is_reserved_at_the_audio_rate() -> None:
    """input x $0.60/M + 500 x $20/M, in micro-dollars rounded up."""
    guard = make_guard()
    ticket = guard.admit(model="gpt-audio-mini", messages=MESSAGES, max_tokens=500,
                         modalities=["text", "audio"])  # fmt: skip
    counted = count_messages(MESSAGES, "gpt-audio-mini").tokens
    assert ticket.reserved_micros == math.ceil(counted * Decimal("0.6") + 500 * 20)
    guard.close()


def test_text_output_is_reserved_at_the_text_rate() -> None:
    """input x $0.60/M + 500 x $2.40/M."""
    guard = make_guard()
    ticket = guard.admit(model="gpt-audio-mini", messages=MESSAGES, max_tokens=500)
    counted = count_messages(MESSAGES, "gpt-audio-mini").tokens
    assert ticket.reserved_micros == math.ceil(counted * Decimal("0.6") + 500 * Decimal("2.4"))
    guard.close()


def test_audio_output_from_a_model_without_an_audio_price_is_refused() -> None:
    guard = make_guard()
    with pytest.raises(UnpricedModality):
        guard.admit(model="gpt-4o-mini", messages=MESSAGES, max_tokens=500,
                    modalities=["text", "audio"])  # fmt: skip
    assert guard.status()[0]["reserved_usd"] == 0
    guard.close()
