"""Rendering a matplotlib figure to SVG or PNG bytes, safely from any thread.

Only matplotlib's object API is used (a ``Figure`` and the SVG or Agg backend's canvas): pyplot
keeps a registry of open figures in global state. rcParams are process-global too, and
``rc_context`` swaps them for the whole process while it is open, so renders take a lock: a
second thread entering its own ``rc_context`` would otherwise restore the first one's settings
mid-render (and leave ours behind when they finish in the other order).

SVG output draws text as paths (a browser never asks for a font), carries no external reference
(no metadata block, no DOCTYPE naming a DTD by URL) and is the same bytes on every render of the
same rows (no date, a fixed salt for the ids of clip paths and glyphs).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

from costcap._extras import missing_extra

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EMPTY_TEXT",
    "FORMATS",
    "OTHER_COLOR",
    "SIZE",
    "Format",
    "palette",
    "render",
    "render_empty",
    "shortened",
]

Format = Literal["svg", "png"]
FORMATS: tuple[Format, ...] = ("svg", "png")
SIZE = (10.0, 4.5)  # inches: 1000 × 450 px in PNG
_DPI = 100
_EMPTY_SIZE = (6.0, 1.2)
EMPTY_TEXT = "no calls in this range"
OTHER_COLOR = "#b4b4b4"  # "(other)": a neutral grey, lighter than any palette colour
_TAB10_GREY = 7  # tab10 and tab20 (x2) hold a grey: left to "(other)"

_STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "costcap",
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#8c8c8c",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#595959",
    "ytick.color": "#595959",
    "legend.frameon": False,
    "text.parse_math": False,  # names and dollars are plain text: "$a$" is not TeX
}
_SVG_METADATA = {"Date": None, "Creator": None, "Type": None, "Format": None}
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>]*>\s*")
_SVG_OPEN = re.compile(rb"<svg\b[^>]*>")
_LOCK = threading.Lock()


def _import_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise missing_extra(extra="dashboard", what="charts") from None
    return matplotlib


def palette(count: int) -> list[str]:
    """``count`` colours for ranked groups: matplotlib's tab10 (designed to stay apart for
    colour-blind readers), then its lighter tab20 partners, greys left out for "(other)";
    repeated beyond 18."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab20 = colormaps["tab20"].colors  # type: ignore[attr-defined]  # a ListedColormap
    dark = [c for n, c in enumerate(tab20[0::2]) if n != _TAB10_GREY]
    light = [c for n, c in enumerate(tab20[1::2]) if n != _TAB10_GREY]
    colours = [to_hex(c) for c in (*dark, *light)]
    return [colours[n % len(colours)] for n in range(count)]


def shortened(name: str, chars: int) -> str:
    """``name`` cut to ``chars`` characters with an ellipsis: a legend or an axis keeps its
    room for the chart."""
    return name if len(name) <= chars else name[: chars - 1] + "…"


def render(
    draw: Callable[[Figure], None],
    fmt: Format,
    *,
    label: str,
    size: tuple[float, float] = SIZE,
) -> bytes:
    """A new figure of ``size`` inches, drawn by ``draw``, as SVG or PNG bytes. An SVG's text
    is paths, so ``label`` goes in its ``<title>``: the chart's words for screen readers and
    for a search of the page."""
    if fmt not in FORMATS:
        raise ValueError(f"a chart is svg or png, not {fmt!r}")
    matplotlib = _import_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    out = io.BytesIO()
    with _LOCK, matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=size, dpi=_DPI, layout="constrained")
        draw(figure)
        if fmt == "svg":
            FigureCanvasSVG(figure)  # attaches itself: savefig draws with it
            figure.savefig(out, format="svg", metadata=_SVG_METADATA)
        else:
            FigureCanvasAgg(figure)  # attaches itself: savefig draws with it
            figure.savefig(out, format="png")
    data = out.getvalue()
    if fmt == "png":
        return data
    title = f"<title>{escape(label)}</title>".encode()
    return _SVG_OPEN.sub(lambda tag: tag[0] + b"\n " + title, _DOCTYPE.sub(b"", data, count=1), 1)


def render_empty(fmt: Format, title: str) -> bytes:
    """A small chart that says there is nothing to draw."""

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.set_title(title)
        axes.text(0.5, 0.4, EMPTY_TEXT, ha="center", va="center", color="#595959", fontsize=11)

    return render(draw, fmt, label=f"{title}: {EMPTY_TEXT}", size=_EMPTY_SIZE)
