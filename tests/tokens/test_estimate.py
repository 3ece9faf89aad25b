"""Estimates and guaranteed upper bounds for models without a public tokenizer."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from costcap.tokens import (
    count_messages,
    count_text,
    upper_bound_messages,
    upper_bound_text,
)
from costcap.tokens._encodings import count_encoded

from .conftest import CORPUS_NAMES, HELDOUT_NAMES

OTHER_MODELS = ["claude-sonnet-4-5", "anthropic/claude-3-5-haiku", "gemini-2.5-pro", "mistral-x"]


@pytest.mark.parametrize("model", OTHER_MODELS)
@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_text_bound_covers_estimate(name: str, model: str, corpus: dict[str, str]) -> None:
    """The estimate never exceeds the bound, on every corpus file and model family."""
    text = corpus[name]
    assert 0 < count_text(text, model) <= upper_bound_text(text)


def test_claude_estimate_uses_documented_factor() -> None:
    """The Claude estimate of English text is ceil(o200k tokens x 1.25)."""
    text = "Budgets are promises that software makes on behalf of people."
    assert count_text(text, "claude-sonnet-4-5") == -(-count_encoded(text, "o200k_base") * 5 // 4)


def _target(corpus: dict[str, str], claude_count: Callable[[str], int]) -> float:
    """Estimate / Claude count the calibration aims at for every script: the documented
    English factor 1.25 over the reference tokenizer's English count / o200k_base's."""
    english = corpus["english"]
    return 1.25 / (claude_count(english) / count_encoded(english, "o200k_base"))


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_claude_estimate_is_calibrated_per_script(
    name: str, corpus: dict[str, str], claude_count: Callable[[str], int]
) -> None:
    """On every corpus file the estimate is within 15 % of the target ratio (1.18x) to the
    public Claude tokenizer's count — Thai, Greek, Tamil and Hindi included."""
    ratio = count_text(corpus[name], "claude-sonnet-4-5") / claude_count(corpus[name])
    assert 0.85 <= ratio / _target(corpus, claude_count) <= 1.15


@pytest.mark.parametrize("name", HELDOUT_NAMES)
def test_claude_estimate_holds_on_heldout_text(
    name: str, corpus: dict[str, str], heldout: dict[str, str], claude_count: Callable[[str], int]
) -> None:
    """On text the calibration never saw, alone and after an English paragraph, the estimate
    stays within 15 % of the target ratio."""
    target = _target(corpus, claude_count)
    english = corpus["english"].split("\n\n")[0]
    for text in (heldout[name], f"{english}\n\n{heldout[name]}"):
        ratio = count_text(text, "claude-sonnet-4-5") / claude_count(text)
        assert 0.85 <= ratio / target <= 1.15


def test_gemini_estimate_keeps_its_flat_factor(corpus: dict[str, str]) -> None:
    """Gemini is not calibrated per script: ceil(o200k_base tokens x 1.05), Greek included."""
    text = corpus["greek"]
    expected = math.ceil(count_encoded(text, "o200k_base") * 1.05)
    assert count_text(text, "gemini-2.5-pro") == expected


@pytest.mark.parametrize("model", OTHER_MODELS)
def test_message_bound_covers_estimate(model: str, corpus: dict[str, str]) -> None:
    """For a multilingual conversation, estimate <= bound and bound >= text bytes."""
    messages = [{"role": "user", "content": text} for text in corpus.values()]
    result = count_messages(messages, model, system="Be brief.")
    total_bytes = sum(len(text.encode()) for text in corpus.values())
    assert result.method == "estimate"
    assert result.tokens <= result.upper_bound
    assert result.upper_bound >= total_bytes
    assert upper_bound_messages(messages, model, system="Be brief.") == result.upper_bound


def test_prefer_upper_bound_reports_the_bound() -> None:
    """``prefer="upper-bound"`` returns the bound as ``tokens`` with method "upper-bound"."""
    messages = [{"role": "user", "content": "Hello"}]
    result = count_messages(messages, "claude-sonnet-4-5", prefer="upper-bound")
    assert result.method == "upper-bound"
    assert result.tokens == result.upper_bound
    # 16 (request) + 16 x 1 (message) + "user" 5 + "Hello" 6
    assert result.upper_bound == 16 + 16 + 5 + 6


def test_openai_exact_count_is_its_own_bound(corpus: dict[str, str]) -> None:
    """For an OpenAI model without tools or images, the bound equals the exact count."""
    messages = [{"role": "user", "content": text} for text in corpus.values()]
    result = count_messages(messages, "gpt-4o")
    assert result.exact
    assert result.upper_bound == result.tokens
    assert upper_bound_messages(messages, "gpt-4o") == result.tokens


def test_openai_bound_with_tools_covers_byte_count() -> None:
    """With tools, an OpenAI bound covers the tools' JSON bytes (their rendering is unknown)."""
    tools = [{"type": "function", "function": {"name": "f", "description": "日本語の説明"}}]
    result = count_messages([{"role": "user", "content": "Hello"}], "gpt-4o", tools=tools)
    assert result.upper_bound >= 8 + len(str(tools).encode())
