"""Long text: counts of multi-megabyte inputs, and chunking that never changes a count."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcap.tokens._encodings import _CHUNK_CHARS, count_encoded, split_safely

from .conftest import ENCODINGS, name_of, read_corpus

if TYPE_CHECKING:
    import tiktoken


def _multilingual_megabytes(target_chars: int) -> str:
    names = ["english", "code", "chinese", "japanese", "arabic", "hindi", "russian", "emoji"]
    block = "\n".join(read_corpus(name) for name in names)
    return (block * (target_chars // len(block) + 1))[:target_chars]


def test_several_megabytes_match_tiktoken(reference: tiktoken.Encoding) -> None:
    """A ~3M-character multilingual text (~7 MB UTF-8) counts exactly as tiktoken does."""
    text = _multilingual_megabytes(3_000_000)
    assert len(text.encode()) > 5_000_000
    assert count_encoded(text, name_of(reference)) == len(reference.encode_ordinary(text))


def test_text_past_bpe_openai_encode_limit_is_counted() -> None:
    """Text over bpe-openai's 1,000,000-character ``encode`` limit is counted, not refused."""
    text = _multilingual_megabytes(1_200_000)
    pieces = split_safely(text)
    assert len(pieces) > 1
    assert count_encoded(text, "o200k_base") == sum(count_encoded(p, "o200k_base") for p in pieces)


def test_split_pieces_rejoin_to_the_text() -> None:
    """Chunks concatenate back to the original and none exceeds the chunk size."""
    text = _multilingual_megabytes(1_000_000)
    pieces = split_safely(text)
    assert "".join(pieces) == text
    assert max(len(p) for p in pieces) <= _CHUNK_CHARS


def test_split_cuts_only_between_an_alnum_and_a_space() -> None:
    """Every cut falls right after a letter or digit and right before an ASCII space."""
    text = _multilingual_megabytes(600_000)
    pieces = split_safely(text, size=10_000)
    for left, right in itertools.pairwise(pieces):
        assert left[-1].isalnum()
        assert right[0] == " "


def test_text_without_safe_cut_is_counted_whole(reference: tiktoken.Encoding) -> None:
    """A long run with no alnum-space pair is not split, and is still counted exactly."""
    text = "7" * 300_000
    assert split_safely(text, size=10_000) == [text]
    assert count_encoded(text, name_of(reference)) == len(reference.encode_ordinary(text))


def test_long_unbroken_run_is_followed_by_normal_cuts() -> None:
    """After a run with no cut, splitting resumes at the next safe space."""
    text = "-" * 100_000 + " word" * 50_000
    pieces = split_safely(text, size=10_000)
    assert len(pieces) > 10
    assert len(pieces[0]) == 100_000 + len(" word") * ((10_000 - 1) // 5) or pieces[0].endswith(
        "word"
    )
    assert "".join(pieces) == text


@pytest.mark.parametrize("name", ["english", "whitespace", "code", "repeated", "arabic"])
def test_small_chunks_sum_to_tiktoken_count(name: str, reference: tiktoken.Encoding) -> None:
    """Cutting corpus text into tiny pieces keeps the sum equal to tiktoken's whole count."""
    text = read_corpus(name) * 3
    pieces = split_safely(text, size=40)
    assert len(pieces) > 3
    total = sum(count_encoded(piece, name_of(reference)) for piece in pieces)
    assert total == len(reference.encode_ordinary(text))


_ALPHABET = st.sampled_from(
    [*"aZé ß  \t\n\r'’.,!?-_/0123456789", "的", "ش", "क", "ि", "🙂", "\u200d", "ё", "ǅ"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, min_size=1, max_size=200).map("".join), st.integers(2, 30))
def test_random_text_chunks_sum_to_tiktoken_count(text: str, size: int) -> None:
    """For random tricky text and any chunk size, piece counts add up to tiktoken's count."""
    from costcap.tokens._reference import reference_encoding

    for name in ENCODINGS:
        pieces = split_safely(text, size=size)
        total = sum(count_encoded(piece, name) for piece in pieces)
        assert total == len(reference_encoding(name).encode_ordinary(text))
