"""Fixtures for the token tests: the shipped multilingual corpus, tiktoken references and the
public Claude tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from costcap.tokens import EncodingName
from costcap.tokens._reference import reference_encoding

if TYPE_CHECKING:
    import tiktoken

CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS_NAMES = sorted(path.stem for path in CORPUS_DIR.glob("*.txt"))
# Texts in the same scripts as the corpus, in another register, not used to calibrate.
HELDOUT_DIR = Path(__file__).parent / "heldout"
HELDOUT_NAMES = sorted(path.stem for path in HELDOUT_DIR.glob("*.txt"))
CLAUDE_TOKENIZER = Path(__file__).parent / "data" / "claude-2-tokenizer.json"
ENCODINGS: tuple[EncodingName, ...] = ("o200k_base", "cl100k_base")


def name_of(reference: tiktoken.Encoding) -> EncodingName:
    """The encoding name of a reference tokenizer, typed for ``count_encoded``."""
    assert reference.name in ENCODINGS
    return reference.name


def read_corpus(name: str, directory: Path = CORPUS_DIR) -> str:
    """One corpus file, byte for byte (CRLF and trailing whitespace kept)."""
    with (directory / f"{name}.txt").open(encoding="utf-8", newline="") as handle:
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


@pytest.fixture(scope="session")
def heldout() -> dict[str, str]:
    """Every held-out text, by name."""
    return {name: read_corpus(name, HELDOUT_DIR) for name in HELDOUT_NAMES}


@pytest.fixture(scope="session")
def claude_count() -> Callable[[str], int]:
    """Token count by the public Claude tokenizer (tests/tokens/data), run offline."""
    from tokenizers import Tokenizer  # dev-only dependency

    tokenizer = Tokenizer.from_file(str(CLAUDE_TOKENIZER))

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
