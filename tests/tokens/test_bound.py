"""The text bound holds against the public Claude tokenizer, which NFKC-normalises first."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costcap.tokens import _nfkd_table as table
from costcap.tokens import upper_bound_text
from costcap.tokens._bound import nfkd_shrinking_ranges, parse_spans
from costcap.tokens._encodings import count_encoded

from .conftest import CORPUS_NAMES

Count = Callable[[str], int]


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("char", ["\ufdfa", "\u2a0c", "\u337f"])
def test_bound_covers_nfkc_expanders(char: str, claude_count: Count) -> None:
    """1,000 x U+FDFA, U+2A0C or U+337F (3 bytes each, 12-33 bytes after NFKC) stay under
    the bound: the tokenizer counts 15,000, 8,000 and 5,000 tokens."""
    text = char * 1000
    assert claude_count(text) <= upper_bound_text(text)


def test_bound_covers_characters_the_tokenizer_does_not_normalise(claude_count: Count) -> None:
    """U+A7F2 decomposes to "C" in Python's Unicode data but not in the tokenizer's older data,
    so mixed with U+FDFA the tokenizer reads more bytes than Python's NFKC form holds."""
    text = ("\ua7f2" * 15 + "\ufdfa") * 20
    assert claude_count(text) > _utf8(unicodedata.normalize("NFKC", text)) + 1
    assert claude_count(text) <= upper_bound_text(text)


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("héllo", 6 + 1),  # NFKC leaves it unchanged: its 6 bytes + 1
        ("\ud800", 3 + 1),  # a lone surrogate: 3 bytes, never an error
        ("e\u0301", 1 + 2 + 1),  # NFKC composes it; NFKD keeps e + U+0301 (2 bytes)
        ("\ufdfa", 33 + 1),  # NFKD: 15 Arabic letters (2 bytes each) and 3 spaces
        ("\uff0c", 3 + 1),  # FULLWIDTH COMMA: NFKD "," is shorter, it counts as itself
        ("가\uff0c", 3 + 3 + 1),  # a Hangul syllable counts as itself, not as 2 jamo
    ],
)
def test_bound_is_bytes_of_the_longest_form(text: str, bound: int) -> None:
    """Per code point the larger of its UTF-8 bytes and its NFKD's, + 1 (hand counts)."""
    assert upper_bound_text(text) == bound


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_bound_covers_every_tokenizer_on_the_corpus(
    name: str, corpus: dict[str, str], claude_count: Count
) -> None:
    """The bound is at least the o200k, cl100k and Claude counts of every corpus file."""
    text = corpus[name]
    bound = upper_bound_text(text)
    assert bound >= count_encoded(text, "o200k_base")
    assert bound >= count_encoded(text, "cl100k_base")
    assert bound >= claude_count(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=64))
def test_bound_covers_any_text(claude_count: Count, text: str) -> None:
    """Any text over the whole Unicode range (combining marks included) stays under it."""
    assert claude_count(text) <= upper_bound_text(text)


@functools.cache
def _hard_points() -> tuple[int, ...]:
    """Code points that stress normalisation: the 48 largest NFKC expanders (by UTF-8 growth
    and by ratio), every character the tokenizer's NFKC treats differently from Python's,
    shrinking ones, Hangul, kana, combining marks that reorder or compose, and ASCII."""
    from tokenizers import normalizers  # dev-only dependency

    nfkc = normalizers.NFKC()
    growth: list[tuple[int, float, int]] = []
    lagging: list[int] = []
    for point in range(0x110000):
        char = chr(point)
        if not unicodedata.decomposition(char):
            continue
        normal = unicodedata.normalize("NFKC", char)
        growth.append((_utf8(normal) - _utf8(char), _utf8(normal) / _utf8(char), point))
        if nfkc.normalize_str(char) != normal:
            lagging.append(point)
    by_growth = sorted(growth, reverse=True)[:48]
    by_ratio = sorted(growth, key=lambda item: item[1], reverse=True)[:48]
    chosen = {point for _, _, point in (*by_growth, *by_ratio)} | set(lagging)
    chosen |= {0xA0, 0xFF0C, 0xFB01, 0x1D400, 0x0E33, 0xAC00, 0xB098, 0xD7A3}
    chosen |= {0x1100, 0x1161, 0x11A8, 0x304B, 0x304C, 0x3099, 0x309B}
    chosen |= {0x0300, 0x0301, 0x0307, 0x0323, 0x0327, 0x0334, 0x05B0, 0x093C}
    chosen |= {0x0F73, 0x0F75, 0x0F81, 0x1E69, 0x1E0B}
    chosen |= {ord(char) for char in " aesC"}
    return tuple(sorted(chosen))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=80))
def test_bound_covers_worst_normalisation_cases(claude_count: Count, picks: list[int]) -> None:
    """Strings of the worst NFKC expanders, lagging and shrinking characters, Hangul and
    combining sequences stay under the bound."""
    points = _hard_points()
    text = "".join(chr(points[pick % len(points)]) for pick in picks)
    assert claude_count(text) <= upper_bound_text(text)


def test_composition_never_adds_bytes() -> None:
    """Every canonical pair composes into at most the UTF-8 bytes of its two parts (what the
    bound's argument rests on), in this Python's Unicode database. Singleton decompositions
    (U+037E → ";") never compose."""
    grown = []
    for point in range(0x110000):
        codes = unicodedata.decomposition(chr(point)).split()
        if len(codes) != 2 or codes[0].startswith("<"):
            continue
        parts = "".join(chr(int(code, 16)) for code in codes)
        if _utf8(chr(point)) > _utf8(parts):
            grown.append(hex(point))
    assert grown == []


def test_shrinking_table_matches_the_unicode_database() -> None:
    """The shipped table of NFKD-shrinking code points is this Python's (else regenerate it:
    ``python -m tests.tokens.nfkd_table``)."""
    if unicodedata.unidata_version != table.UNICODE_VERSION:
        pytest.skip(f"table is for Unicode {table.UNICODE_VERSION}; the bound scans this one")
    assert parse_spans(table.NFKD_SHRINKING) == nfkd_shrinking_ranges()
