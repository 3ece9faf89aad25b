"""The reference tokenizer: tiktoken built offline from bpe-openai's bundled ranks."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from costcap.tokens._reference import bundled_ranks_bytes, reference_encoding, reference_spec

from .conftest import ENCODINGS, read_corpus


@pytest.mark.parametrize("name", ENCODINGS)
def test_bundled_ranks_match_tiktoken_expected_hash(name: str) -> None:
    """The decompressed bundled file has the sha256 that tiktoken's source expects."""
    expected = reference_spec(name).expected_hash
    assert re.fullmatch(r"[0-9a-f]{64}", expected)
    assert hashlib.sha256(bundled_ranks_bytes(name)).hexdigest() == expected


@pytest.mark.parametrize("name", ENCODINGS)
def test_expected_hash_is_read_from_tiktoken_source(name: str) -> None:
    """The hash we compare with is literally the one written in tiktoken_ext/openai_public.py."""
    source = resources.files("tiktoken_ext").joinpath("openai_public.py").read_text("utf-8")
    spec = reference_spec(name)
    assert f'"{spec.url}",\n        expected_hash="{spec.expected_hash}"' in source


def test_reference_encodes_known_tokens() -> None:
    """The reference reproduces well-known o200k_base / cl100k_base token ids."""
    assert reference_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert reference_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_reference_round_trips_corpus() -> None:
    """Decoding the reference's tokens gives back the text (the ranks parsed correctly)."""
    text = read_corpus("emoji")
    encoding = reference_encoding("o200k_base")
    assert encoding.decode(encoding.encode_ordinary(text)) == text
