"""Model → encoding mapping and exact text counts against tiktoken."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from costcap.tokens import count_text, encoding_for_model
from costcap.tokens._encodings import count_encoded

from .conftest import CORPUS_NAMES, name_of

if TYPE_CHECKING:
    import tiktoken


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini-2025-08-07", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("azure/gpt-4.1", "o200k_base"),
        ("openrouter/openai/o3", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("GPT-4O", "o200k_base"),
        ("o200k_base", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("cl100k_base", "cl100k_base"),
    ],
)
def test_encoding_for_openai_models(model: str, expected: str) -> None:
    """OpenAI model names, snapshots, prefixes and fine-tunes map to their encoding."""
    assert encoding_for_model(model) == expected


@pytest.mark.parametrize(
    "model",
    ["claude-sonnet-4-5", "anthropic/claude-3-5-haiku-latest", "gemini-2.5-pro", "o1x", "llama-3"],
)
def test_encoding_for_other_models_is_none(model: str) -> None:
    """Models without a public OpenAI tokenizer have no encoding (not a wrong guess)."""
    assert encoding_for_model(model) is None


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus_counts_match_tiktoken(
    name: str, corpus: dict[str, str], reference: tiktoken.Encoding
) -> None:
    """The runtime counter equals tiktoken on every corpus file, for both encodings."""
    text = corpus[name]
    assert count_encoded(text, name_of(reference)) == len(reference.encode_ordinary(text))


def test_count_text_uses_the_model_encoding() -> None:
    """count_text counts with the model's own encoding (cl100k and o200k differ on Hindi)."""
    from .conftest import read_corpus

    hindi = read_corpus("hindi")
    assert count_text(hindi, "gpt-4o") == count_encoded(hindi, "o200k_base")
    assert count_text(hindi, "gpt-4") == count_encoded(hindi, "cl100k_base")
    assert count_text(hindi, "gpt-4o") != count_text(hindi, "gpt-4")


def test_special_token_text_is_counted_as_plain_text(reference: tiktoken.Encoding) -> None:
    """'<|endoftext|>' in user text counts as ordinary text, as the API treats it."""
    text = "before <|endoftext|> after <|endofprompt|>"
    assert count_encoded(text, name_of(reference)) == len(reference.encode_ordinary(text))
    assert count_encoded(text, name_of(reference)) > 4


def test_lone_surrogates_are_counted_like_tiktoken(reference: tiktoken.Encoding) -> None:
    """A lone surrogate (invalid UTF-8) counts as U+FFFD, the same as tiktoken."""
    text = "ok \ud800 fine \udfff"
    assert count_encoded(text, name_of(reference)) == len(reference.encode(text))


def test_empty_text_is_zero_tokens() -> None:
    """The empty string is 0 tokens for every model."""
    assert count_text("", "gpt-4o") == 0
    assert count_text("", "claude-sonnet-4-5") == 0


def test_nothing_is_loaded_at_import_time() -> None:
    """Importing costcap.tokens in a fresh process loads no tokenizer and not bpe_openai."""
    import subprocess
    import sys

    code = (
        "import sys, costcap.tokens, costcap.tokens._encodings as e;"
        "assert not e._counters, e._counters;"
        "assert not any(m.startswith(('bpe_openai', 'tiktoken')) for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_remembered_counts_equal_fresh_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text counted twice (the second time from memory) gets the counter's own count."""
    from costcap.tokens import _encodings

    text = "You are a helpful assistant. Answer in one sentence."
    first = count_encoded(text, "o200k_base")
    assert _encodings._short_counts["o200k_base"][text] == first
    monkeypatch.setitem(_encodings._short_counts, "o200k_base", {})
    assert count_encoded(text, "o200k_base") == first


def test_remembered_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo never holds more than its limit of texts; long texts are never kept."""
    from costcap.tokens import _encodings

    monkeypatch.setitem(_encodings._short_counts, "cl100k_base", {})
    for i in range(_encodings._SHORT_ENTRIES + 10):
        count_encoded(f"text number {i}", "cl100k_base")
    count_encoded("x " * _encodings._SHORT_CHARS, "cl100k_base")
    assert len(_encodings._short_counts["cl100k_base"]) <= _encodings._SHORT_ENTRIES
    assert all(len(t) <= _encodings._SHORT_CHARS for t in _encodings._short_counts["cl100k_base"])
