"""The panels' charts: :mod:`costcap.charts`'s SVG, made fit to sit inside the page.

An SVG file becomes an element of the page: its XML prolog and namespace declarations go (the
HTML parser puts ``<svg>`` in the SVG namespace itself, and the page then names no other
origin, not even a namespace URI), its fixed size gives way to the card's width (the viewBox
keeps the proportions), and its ids — matplotlib's ``figure_1``, glyph and clip-path ids — get
the panel's prefix, so two charts on one page never point at each other's definitions.

Drawing a chart takes tens of milliseconds, much more than reading its rows from the rollups,
and the live refresh asks for the same figures every few seconds: the last charts drawn are
kept by their rows and options, and drawn again only when those change.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["ChartCache", "inline_svg"]

_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*")
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_ROOT_SIZE = re.compile(r'(<svg\b[^>]*?)\s+(?:width|height)="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'\b((?:xlink:)?href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


def inline_svg(svg: bytes, *, prefix: str, label: str) -> str:
    """``svg`` (a chart's bytes) as markup to put inside the page: no prolog, no namespace
    declarations, no fixed size, every id prefixed with ``prefix``, ``label`` as what it
    shows to a screen reader."""
    from html import escape

    text = _PROLOG.sub("", svg.decode())
    text = _NAMESPACE.sub("", text)
    for _ in range(2):  # width and height, in either order
        text = _ROOT_SIZE.sub(r"\1", text, count=1)
    text = _ID.sub(lambda m: f'id="{prefix}-{m[1]}"', text)
    text = _HREF.sub(lambda m: f'{m[1]}="#{prefix}-{m[2]}"', text)
    text = _URL.sub(lambda m: f"url(#{prefix}-{m[1]})", text)
    return text.replace("<svg", f'<svg role="img" aria-label="{escape(label)}"', 1)


class ChartCache:
    """The last ``size`` charts drawn, by what they were drawn from (thread-safe)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._drawn: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, draw: Callable[[], str]) -> str:
        """The chart drawn from ``key``: kept, or drawn now by ``draw``."""
        with self._lock:
            if key in self._drawn:
                self._drawn.move_to_end(key)
                return self._drawn[key]
        chart = draw()  # outside the lock: costcap.charts serializes the drawing itself
        with self._lock:
            self._drawn[key] = chart
            while len(self._drawn) > self._size:
                self._drawn.popitem(last=False)
        return chart
