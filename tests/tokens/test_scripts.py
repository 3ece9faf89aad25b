"""Characters per script class, read off UTF-8 lead bytes (hand-counted expectations)."""

from __future__ import annotations

import pytest

from costcap.tokens._scripts import CLASSES, class_counts


def _counts(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for code, count in class_counts(text.encode("utf-8", "surrogatepass")).items():
        found[CLASSES[code]] = found.get(CLASSES[code], 0) + count
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ASCII, no class", {}),
        ("café crème", {"latin": 2}),
        ("Tiếng Việt", {"latin-additional": 2}),  # ế and ệ: U+1EBF, U+1EC7
        ("Ελλάδα", {"greek": 6}),
        ("Москва", {"cyrillic": 6}),
        ("שלום", {"hebrew": 4}),
        ("سلام", {"arabic": 4}),
        ("नमस्ते", {"devanagari": 6}),
        ("বাংলা", {"bengali": 5}),
        ("தமிழ்", {"tamil": 5}),
        ("ภาษาไทย", {"thai": 7}),
        ("漢字，", {"cjk": 3}),  # the fullwidth comma counts with CJK
        ("ひらがなカタカナ", {"cjk": 8}),
        ("한국어", {"hangul": 3}),
        ("ok 👍🏽", {"emoji": 2}),
        ("a\u00a0b — c", {"symbol": 2}),  # NBSP and an em dash
        ("Հայաստան", {"other": 8}),  # Armenian: unmeasured
        ("ગુજરાતી", {"other": 7}),  # Gujarati: in the Indic block, unmeasured
        ("हिन्दी தமிழ் ไทย", {"devanagari": 6, "tamil": 5, "thai": 3}),  # one block, split
        ("हिन्दी — தமிழ்", {"devanagari": 6, "tamil": 5, "symbol": 1}),
        # Mixed with other non-ASCII text, the scripts of the first and last are counted;
        # a third one in between counts as "other".
        ("हिन्दी — ไทย — தமிழ்", {"devanagari": 6, "tamil": 5, "other": 3, "symbol": 2}),
        ("𝐀𐌰", {"emoji": 2}),  # mathematical bold A, Gothic ahsa: above U+FFFF
    ],
)
def test_class_counts(text: str, expected: dict[str, int]) -> None:
    """Each non-ASCII character counts once, in the class of its script."""
    assert _counts(text) == expected
