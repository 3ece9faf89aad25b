"""Writes ``src/costcap/tokens/_nfkd_table.py`` from the running Python's Unicode database.

Run: ``.venv/bin/python -m tests.tokens.nfkd_table > src/costcap/tokens/_nfkd_table.py``
"""

from __future__ import annotations

import sys
import textwrap
import unicodedata

from costcap.tokens._bound import nfkd_shrinking_ranges

_HEAD = '''"""Code points whose NFKD is shorter in UTF-8 than they are, as inclusive hex ranges.

GENERATED — DO NOT EDIT. Regenerate with
``.venv/bin/python -m tests.tokens.nfkd_table > src/costcap/tokens/_nfkd_table.py``;
``tests/tokens/test_bound.py`` checks it against the running Python's Unicode database.
"""

from typing import Final

'''


def spans(ranges: tuple[tuple[int, int], ...]) -> str:
    """The ranges as space-separated ``LOW-HIGH`` (or ``POINT``) hex spans."""
    return " ".join(f"{low:X}" if low == high else f"{low:X}-{high:X}" for low, high in ranges)


def render(version: str, ranges: tuple[tuple[int, int], ...]) -> str:
    """The module text for ``ranges`` of Unicode ``version``."""
    lines = textwrap.fill(spans(ranges), width=96)
    return (
        f'{_HEAD}UNICODE_VERSION: Final = "{version}"\nNFKD_SHRINKING: Final = """\n{lines}\n"""\n'
    )


def main() -> int:
    """Print the module for this Python's Unicode database."""
    sys.stdout.write(render(unicodedata.unidata_version, nfkd_shrinking_ranges()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
