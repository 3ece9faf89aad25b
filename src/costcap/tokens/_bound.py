"""The most tokens a text can become in a byte-level tokenizer, Unicode normalisation included.

A byte-level BPE (or a SentencePiece model with byte fallback) emits at least one byte per
token, so *n* bytes are at most *n* tokens. But the bytes it splits are those of the text
*after* its normaliser ran, and a normaliser can expand text: the public Claude tokenizer
applies NFKC first, which turns U+FDFA (ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM, 3
bytes) into 18 letters and spaces (33 bytes). So the bound is taken on the worst form:

* ASCII text, and any text that NFKC leaves unchanged (``unicodedata.is_normalized``), is
  its own normal form: the bound is its UTF-8 byte count + 1 (the +1 covers a SentencePiece
  dummy-prefix piece).
* Any other text is bounded by the sum, over its code points, of the larger of its own UTF-8
  bytes and those of its NFKD (full compatibility) decomposition; a Hangul syllable counts as
  itself. Why this covers NFKC, and NFKC as implemented on an older Unicode version than
  Python's (the ``tokenizers`` package normalises with Unicode data older than Python's):
  NFKC is NFKD followed by canonical composition; a composition never makes the text longer
  in UTF-8 (every primary composite takes at most the bytes of its two parts — checked for
  every composite by the tests); Unicode's stability policy freezes a character's
  decomposition once assigned, so an older version decomposes each character either exactly
  as Python does or not at all (keeping its own bytes); and Hangul syllables, decomposed
  algorithmically, are always composed back. It covers a tokenizer that does not normalise
  too. Characters Python's Unicode database does not know yet count as themselves.

The sum is computed without a loop over characters: the code points whose NFKD is *shorter*
than themselves (fullwidth forms, NBSP, ligatures, mathematical letters — 2,562 in Unicode
14) and the Hangul syllables are cut out and counted as themselves; NFKD of the rest is
counted as a whole (decomposition is per code point, so its length adds up). Only text that
NFKC would change takes this path: NFKC text costs one ``unicodedata.is_normalized`` (which
runs a full normalisation when the text holds composing marks: Bengali or Tamil vowel
signs, conjoining jamo).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

from costcap.tokens import _nfkd_table

__all__ = ["nfkd_shrinking_ranges", "parse_spans", "upper_bound_text"]

_HANGUL_SYLLABLES: Final = (0xAC00, 0xD7A3)


def upper_bound_text(text: str) -> int:
    """Tokens ``text`` can never exceed in a byte-level tokenizer that normalises with NFKC
    (or not at all): the UTF-8 bytes of its longest normal form, + 1.

    Holds for every model (OpenAI's exact counts are always lower). Empty text is 0; text that
    NFKC leaves unchanged (all ASCII text) is its UTF-8 byte count + 1.
    """
    if not text:
        return 0
    if text.isascii():
        return len(text) + 1
    utf8 = text.encode("utf-8", "surrogatepass")
    if unicodedata.is_normalized("NFKC", text):
        return len(utf8) + 1
    rest = _kept_as_is(astral=False).sub("", text)
    size = len(utf8) - _utf8_size(rest) + _nfkd_size(rest)
    if utf8.translate(None, _BELOW_ASTRAL_LEAD):  # some code point above U+FFFF
        # NFKD counted the ones that shrink under it at their NFKD size: count them as
        # themselves. Cut out first (one range: fast), the text's few astral code points.
        astral = "".join(_kept_as_is(astral=True).findall(rest))
        kept = "".join(_kept_as_is(astral=True, shrinking=True).findall(astral))
        size += _utf8_size(kept) - _nfkd_size(kept)
    return size + 1


_BELOW_ASTRAL_LEAD: Final = bytes(range(0xF0))  # UTF-8 lead bytes of U+10000 and up: F0-F4


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _nfkd_size(text: str) -> int:
    if unicodedata.is_normalized("NFKD", text):  # a quick check with no "maybe": fast
        return _utf8_size(text)
    return _utf8_size(unicodedata.normalize("NFKD", text))


@functools.cache
def _kept_as_is(*, astral: bool, shrinking: bool = False) -> re.Pattern[str]:
    """Runs of code points counted as themselves: NFKD-shrinking ones and Hangul syllables
    below U+10000; every code point above (``astral``), or only the shrinking ones there.
    Split so, because ``re`` tests a class of code points below U+10000 with one table
    lookup, but walks a list of ranges, at every position, for a class that reaches above."""
    if astral and not shrinking:
        return re.compile("[\U00010000-\U0010ffff]+")
    if unicodedata.unidata_version == _nfkd_table.UNICODE_VERSION:
        ranges = parse_spans(_nfkd_table.NFKD_SHRINKING)
    else:  # another Python's database: scan it once (~0.2 s) rather than trust the table
        ranges = nfkd_shrinking_ranges()
    chosen = [
        (max(low, 0x10000), high) if astral else (low, min(high, 0xFFFF))
        for low, high in (*ranges, _HANGUL_SYLLABLES)
        if (high > 0xFFFF if astral else low <= 0xFFFF)
    ]
    spans = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in chosen)
    return re.compile(f"[{spans}]+")


def parse_spans(spans: str) -> tuple[tuple[int, int], ...]:
    """``"A0 B2-B3"`` → ``((0xA0, 0xA0), (0xB2, 0xB3))``: the table's hex spans as ranges."""
    ranges = []
    for span in spans.split():
        low, _, high = span.partition("-")
        ranges.append((int(low, 16), int(high or low, 16)))
    return tuple(ranges)


def nfkd_shrinking_ranges() -> tuple[tuple[int, int], ...]:
    """Ranges of the code points whose NFKD has fewer UTF-8 bytes than they have, in this
    Python's Unicode database (what ``_nfkd_table.NFKD_SHRINKING`` holds)."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x110000):
        char = chr(point)
        if not unicodedata.decomposition(char):
            continue  # no decomposition (Hangul syllables decompose algorithmically: longer)
        if _utf8_size(unicodedata.normalize("NFKD", char)) >= _utf8_size(char):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return tuple(ranges)
