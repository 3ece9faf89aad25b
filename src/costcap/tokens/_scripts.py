"""Which scripts a text is written in: characters per class, read off its UTF-8 bytes.

Tokenizers differ most on non-Latin scripts: for the same text the public Claude tokenizer
emits 1.1x the o200k_base tokens on English but 2-5x on Greek, Hindi, Tamil or Thai. The
estimate for a model without a public tokenizer therefore adds, per character of each
class, the tokens that tokenizer emits beyond o200k_base (``_estimate.py``).

A character's class is read off its UTF-8 lead byte (one block of 64, 4,096 or 262,144 code
points) and, where one lead byte spans several scripts (U+0800-U+0FFF holds every Indic
script and Thai), off the lead and second byte. So the count is one ``bytes.translate`` of the
encoded text (ASCII and continuation bytes dropped, each lead byte replaced by its class
code) and one ``bytes.count`` per class — no Python loop over characters.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLASSES", "class_counts"]

# Class codes, one byte each, in the translated text. Each class is named for the script
# (or the kind of character) that fills its code points.
CLASSES: Final[dict[bytes, str]] = {
    b"l": "latin",  # U+00C0-U+036F: accented Latin letters, IPA, combining marks
    b"L": "latin-additional",  # U+1E00-U+1EFF: Vietnamese and other stacked diacritics
    b"s": "symbol",  # U+0080-U+00BF, U+2000-U+2FFF: punctuation, symbols, NBSP
    b"g": "greek",
    b"c": "cyrillic",
    b"h": "hebrew",
    b"a": "arabic",
    b"d": "devanagari",
    b"b": "bengali",
    b"t": "tamil",
    b"T": "thai",
    b"k": "cjk",  # CJK ideographs, CJK punctuation, fullwidth forms
    b"j": "kana",
    b"K": "hangul",
    b"e": "emoji",  # U+1F000-U+1FFFF
    b"2": "other",  # unmeasured scripts, by UTF-8 length: 2, 3 or 4 bytes
    b"3": "other",
    b"4": "other",
}

# Lead bytes that need their second byte: their own codes, split by ``_SPLITS`` below.
_E0, _E1, _E3, _F0 = b"0", b"1", b"5", b"6"


def _lead_table() -> bytes:
    table = bytearray(b"2" * 256)
    for lead, code in (
        ((0xC2,), b"s"),
        (range(0xC3, 0xCE), b"l"),
        ((0xCE, 0xCF), b"g"),
        (range(0xD0, 0xD5), b"c"),
        ((0xD6, 0xD7), b"h"),
        (range(0xD8, 0xDC), b"a"),
        ((0xE0,), _E0),
        ((0xE1,), _E1),
        ((0xE2,), b"s"),
        ((0xE3,), _E3),
        (range(0xE4, 0xEA), b"k"),
        (range(0xEA, 0xEE), b"K"),  # U+A000-U+DFFF: Hangul syllables start at U+AC00
        ((0xEE,), b"3"),
        ((0xEF,), b"k"),
        ((0xF0,), _F0),
        (range(0xF1, 0xF5), b"4"),
    ):
        for byte in lead:
            table[byte] = code[0]
    return bytes(table)


_TABLE: Final = _lead_table()
_DROP: Final = bytes(range(0xC0))  # ASCII and continuation bytes: one code per character

# (lead code, class code of the rest, ((second-byte prefix, class code), ...)).
_SPLITS: Final = (
    (
        _E0,
        b"3",
        (
            (b"\xe0\xa4", b"d"),
            (b"\xe0\xa5", b"d"),
            (b"\xe0\xa6", b"b"),
            (b"\xe0\xa7", b"b"),
            (b"\xe0\xae", b"t"),
            (b"\xe0\xaf", b"t"),
            (b"\xe0\xb8", b"T"),
            (b"\xe0\xb9", b"T"),
        ),
    ),
    (_E1, b"3", tuple((bytes((0xE1, second)), b"L") for second in range(0xB8, 0xBC))),
    (_E3, b"k", ((b"\xe3\x81", b"j"), (b"\xe3\x82", b"j"), (b"\xe3\x83", b"j"))),
    (_F0, b"4", ((b"\xf0\x9f", b"e"),)),
)


def class_counts(utf8: bytes) -> dict[bytes, int]:
    """Characters per class code (see ``CLASSES``) of UTF-8 text; ASCII is not counted.

    Lone surrogates encoded with ``surrogatepass`` count as Hangul (their lead byte is
    U+D000-U+DFFF's); any other byte sequence counts once per lead byte.
    """
    codes = utf8.translate(_TABLE, _DROP)
    counts: dict[bytes, int] = {}
    if not codes:
        return counts
    for code in CLASSES:
        found = codes.count(code)
        if found:
            counts[code] = found
    for lead, rest, prefixes in _SPLITS:
        left = codes.count(lead)
        for prefix, code in prefixes:
            if not left:
                break
            found = utf8.count(prefix)
            if found:
                counts[code] = counts.get(code, 0) + found
                left -= found
        if left:
            counts[rest] = counts.get(rest, 0) + left
    return counts
