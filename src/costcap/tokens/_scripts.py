"""Which scripts a text is written in: characters per class, read off its UTF-8 bytes.

Tokenizers differ most on non-Latin scripts: for the same text the public Claude tokenizer
emits 1.1x the o200k_base tokens on English but 2-5x on Greek, Hindi, Tamil or Thai. The
estimate for a model without a public tokenizer therefore adds, per character of each
class, the tokens that tokenizer emits beyond o200k_base (``_estimate.py``).

A character's class is read off its UTF-8 lead byte (one block of 64, 4,096 or 262,144 code
points) and, where one lead byte spans several scripts (U+0800-U+0FFF holds every Indic
script and Thai), off the lead and second byte. So the count is one ``bytes.translate`` of the
encoded text (ASCII and continuation bytes dropped, each lead byte replaced by its class
code) and one ``bytes.count`` per class present — no Python loop over characters.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLASSES", "class_counts"]

# Class codes, one byte each, in the translated text. Each class is named for the script
# (or the kind of character) that fills most of its code points.
CLASSES: Final[dict[bytes, str]] = {
    b"l": "latin",  # U+00C0-U+036F: accented Latin letters, IPA, combining marks
    b"L": "latin-additional",  # U+1000-U+1FFF: Vietnamese letters (and Georgian, Khmer, …)
    b"s": "symbol",  # U+0080-U+00BF, U+2000-U+2FFF: punctuation, symbols, NBSP
    b"g": "greek",
    b"c": "cyrillic",
    b"h": "hebrew",
    b"a": "arabic",
    b"d": "devanagari",
    b"b": "bengali",
    b"t": "tamil",
    b"T": "thai",
    b"k": "cjk",  # U+3000-U+9FFF, U+F000-U+FFFF: ideographs, kana, fullwidth forms
    b"K": "hangul",  # U+A000-U+DFFF: Hangul syllables (from U+AC00)
    b"e": "emoji",  # U+10000 and up: emoji, and rarer ideographs and symbols
    b"2": "other",  # unmeasured scripts, by UTF-8 length: 2 or 3 bytes
    b"3": "other",
}

# U+0800-U+0FFF (lead byte E0) holds every Indic script and Thai; its own code, split by
# the second byte (one 64-code-point block each) into these, the rest "other".
_E0: Final = b"0"
_E0_SCRIPTS: Final[dict[int, bytes]] = {
    0xA4: b"d",
    0xA5: b"d",
    0xA6: b"b",
    0xA7: b"b",
    0xAE: b"t",
    0xAF: b"t",
    0xB8: b"T",
    0xB9: b"T",
}


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
        ((0xE1,), b"L"),
        ((0xE2,), b"s"),
        (range(0xE3, 0xEA), b"k"),
        (range(0xEA, 0xEE), b"K"),
        ((0xEE,), b"3"),
        ((0xEF,), b"k"),
        (range(0xF0, 0xF5), b"e"),
    ):
        for byte in lead:
            table[byte] = code[0]
    return bytes(table)


def _second_table() -> bytes:
    table = bytearray(b"3" * 256)
    for second, code in _E0_SCRIPTS.items():
        table[second] = code[0]
    return bytes(table)


_TABLE: Final = _lead_table()
_SECOND_TABLE: Final = _second_table()
_DROP: Final = bytes(range(0xC0))  # ASCII and continuation bytes: one code per character
_ASCII: Final = bytes(range(0x80))


def class_counts(utf8: bytes) -> dict[bytes, int]:
    """Characters per class code (see ``CLASSES``) of UTF-8 text; ASCII is not counted.

    Lone surrogates encoded with ``surrogatepass`` count as Hangul (their lead byte is
    U+D000-U+DFFF's); any other byte sequence counts once per lead byte.
    """
    codes = utf8.translate(_TABLE, _DROP)
    counts = _tally(codes)
    e0 = counts.pop(_E0, 0)
    if e0 == len(codes):
        # Only U+0800-U+0FFF beyond ASCII (text in one Indic script or Thai, with ASCII
        # punctuation): without its ASCII the text is a run of 3-byte sequences, so every
        # third byte from the second is a second byte.
        seconds = utf8.translate(None, _ASCII)[1::3]
        return _tally(seconds.translate(_SECOND_TABLE))
    if e0:
        _split_e0(utf8, counts, e0)
    return counts


def _tally(codes: bytes) -> dict[bytes, int]:
    """How often each byte occurs in ``codes``: one count and one deletion per distinct byte
    (a text holds a few classes), each on what the previous ones left."""
    counts: dict[bytes, int] = {}
    while codes:
        code = codes[:1]
        counts[code] = codes.count(code)
        codes = codes.translate(None, code)
    return counts


def _split_e0(utf8: bytes, counts: dict[bytes, int], left: int) -> None:
    """Add ``left`` characters of U+0800-U+0FFF to ``counts`` by script: one ``bytes.count``
    per 64-code-point block of the scripts of the first and last such characters (text is
    mostly in one script); what is left (a third script in between) counts as "other"."""
    ends = {
        _E0_SCRIPTS.get(utf8[utf8.index(0xE0) + 1]),
        _E0_SCRIPTS.get(utf8[utf8.rindex(0xE0) + 1]),
    }
    for second, code in _E0_SCRIPTS.items():
        if code in ends:
            found = utf8.count(bytes((0xE0, second)))
            if found:
                counts[code] = counts.get(code, 0) + found
                left -= found
    if left:
        counts[b"3"] = counts.get(b"3", 0) + left
