"""Fixtures for the token tests: the shipped multilingual corpus and tiktoken references."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from costcap.tokens import EncodingName
from costcap.tokens._reference import reference_encoding

if TYPE_CHECKING:
    import tiktoken

CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS_NAMES = sorted(path.stem for path in CORPUS_DIR.glob("*.txt"))
ENCODINGS: tuple[EncodingName, ...] = ("o200k_base", "cl100k_base")


def name_of(reference: tiktoken.Encoding) -> EncodingName:
    """The encoding name of a reference tokenizer, typed for ``count_encoded``."""
    assert reference.name in ENCODINGS
    return reference.name


def read_corpus(name: str) -> str:
    """One corpus file, byte for byte (CRLF and trailing whitespace kept)."""
    with (CORPUS_DIR / f"{name}.txt").open(encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture(scope="session")
def corpus() -> dict[str, str]:
    """Every corpus file, by name."""
    return {name: read_corpus(name) for name in CORPUS_NAMES}


@pytest.fixture(scope="session", params=ENCODINGS)
def reference(request: pytest.FixtureRequest) -> tiktoken.Encoding:
    """tiktoken built offline from the bundled, hash-verified ranks (both encodings)."""
    name: str = request.param
    return reference_encoding(name)
