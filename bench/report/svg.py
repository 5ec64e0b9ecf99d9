"""matplotlib figures as inline SVG, byte for byte the same on every render of the same data.

What makes a render repeatable: the style reset to matplotlib's defaults (no user matplotlibrc
reaches the page), a fixed `svg.hashsalt` (ids are otherwise random), no creation date or other
metadata, and glyphs drawn as paths (`svg.fonttype = "path"`), so the page looks the same on a
machine without DejaVu Sans and fetches no font. Figures are made with `matplotlib.figure.Figure`,
never pyplot: no GUI backend, no global figure registry between renders.

Several SVGs inline in one HTML page share one id space, and matplotlib names its groups
`figure_1`, `axes_1`, ... in every file: each SVG's ids are prefixed with its figure's name.
The XML prologue, the DOCTYPE (which names a DTD by its URL) and the namespace declarations are
dropped: an HTML parser places <svg> and `xlink:href` in their namespaces by itself, and the
page then holds no URL at all.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from html import escape

import matplotlib
import matplotlib.style
from matplotlib.figure import Figure

#: The page's look, on top of matplotlib's defaults; every plot is drawn inside `style()`.
RC = {
    "svg.fonttype": "path",
    "svg.hashsalt": "hotpath-lab-report",
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "legend.fontsize": 7.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 72.0,  # SVG is vector: dpi only sets the pt -> px size the page shows
}
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}

_ID = re.compile(r'\bid="([^"]+)"')


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib's default style plus RC, undone on exit (the caller's rcParams are kept)."""
    with matplotlib.rc_context():
        matplotlib.style.use("default")
        matplotlib.rcParams.update(RC)
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches with constrained layout (call inside `style()`)."""
    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Figure, name: str, title: str) -> str:
    """`fig` as an <svg> element for inline HTML: ids prefixed with `name`, a <title> for screen
    readers and tooltips."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=NO_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
    ids = _ID.findall(text)
    if ids:
        prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name) + "-"
        alternatives = "|".join(re.escape(i) for i in sorted(set(ids), key=len, reverse=True))
        # an id where it is defined (id="..."), and where it is used (href="#...", url(#...))
        text = re.sub(r'(\bid="|href="#|url\(#)(' + alternatives + r')(?=["\)])',
                      lambda m: m.group(1) + prefix + m.group(2), text)
    opening = text.index(">") + 1
    head = text[:opening].replace("<svg", f'<svg role="img" aria-label="{escape(title)}"', 1)
    return head + f"\n <title>{escape(title)}</title>" + text[opening:].rstrip() + "\n"
