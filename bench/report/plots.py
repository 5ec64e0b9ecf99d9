"""The report's chart kinds, over data already picked from results.json (bench.report.sections
picks it): horizontal bars per row of a table, lines over a parameter, vertical bars per
category. Each returns an inline <svg> (bench.report.svg), so the page holds its figures.

Colours follow the implementation, the same on every chart of the page: the tiers and backends
have fixed ones, peers take the palette's next colours in the family's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.report.svg import new_figure, style, to_svg

#: Tiers and backends keep their colour across families (tab10's first colours); peers follow.
FIXED_COLOURS = {"pure": "#7f7f7f", "cython": "#1f77b4", "numba": "#ff7f0e", "redis": "#d62728"}
PEER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#ad494a",
                "#637939", "#7b4173", "#3182bd", "#e6550d")
WIDTH = 11.0  # inches: the page's column (1056 px: SVG sizes are in points, 72 to the inch)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def colours(names: Sequence[str]) -> dict[str, str]:
    """name -> colour: fixed for the tiers and backends, the peer palette in `names`' order."""
    out, spare = {}, iter(PEER_COLOURS * (1 + len(names) // len(PEER_COLOURS)))
    for name in names:
        out[name] = FIXED_COLOURS.get(name) or next(spare)
    return out


def times(value: float) -> str:
    return f"{value:.3g}×"


def plain(value: float) -> str:
    """A tick label: 0.01, 1, 1,000, 1,000,000 -- never 1e+06."""
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _log_axis(axis, label: Callable[[float], str] = plain, base: int = 10) -> None:
    """A log axis with ticks at powers of `base` (2 for bytes: 256 KiB, 1 MiB rather than 977 KiB),
    labelled by `label` (plain numbers by default)."""
    axis.set_major_locator(LogLocator(base=base, numticks=6))  # at most ~6 labels: none run together
    axis.set_major_formatter(FuncFormatter(lambda v, _: label(v)))
    axis.set_minor_formatter(NullFormatter())


def _legend(fig, axes, extra: Sequence[tuple] = ()) -> None:
    """One legend for the figure, right of the plots: an implementation has one colour on
    every panel, so it is named once (and no legend covers a bar or a point)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    for handle, label in extra:
        seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside right upper", framealpha=0.9)


# --- horizontal bars: one group per table row --------------------------------------------------

def hbars(name: str, title: str, rows: list[tuple[str, dict[str, float]]], order: Sequence[str],
          palette: dict[str, str], xlabel: str, *, reference: float | None = None,
          label: Callable[[float], str] = times, tick: Callable[[float], str] = plain, base: int = 10) -> str:
    """Per row (top to bottom) a bar per implementation present, in `order`, centred on the row's
    label, on a log axis (ratios and sizes span decades); `label` writes each bar's figure at its
    end; `reference` draws a vertical line (1 for ratios: "as good as the baseline")."""
    per_row = max(1, max(len(values) for _, values in rows))
    bar = 0.8 / per_row
    with style():
        fig = new_figure(WIDTH, 0.7 + len(rows) * max(0.28, 0.13 * per_row))
        ax = fig.add_subplot()
        labelled = set()
        for row_index, (_, values) in enumerate(rows):
            shown = [i for i in order if i in values]
            for k, impl in enumerate(shown):
                y = row_index + bar * (k + 0.5 - len(shown) / 2)
                value = values[impl]
                ax.barh(y, value, height=bar * 0.9, color=palette[impl], label=None if impl in labelled else impl)
                labelled.add(impl)
                ax.text(value, y, " " + label(value), va="center", ha="left", fontsize=6)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
        everything = [v for _, values in rows for v in values.values()]
        ax.set_xscale("log")
        _log_axis(ax.xaxis, tick, base)
        low, high = min(everything), max(everything)
        # room for the value labels right of the longest bar; the reference line in view
        ax.set_xlim(min(low, reference or low) / 2, max(high, reference or high) * 6)
        if reference is not None:
            ax.axvline(reference, color="black", linewidth=0.8)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        _legend(fig, [ax])
        return to_svg(fig, name, title)


# --- lines over a parameter, in small multiples -------------------------------------------------

@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    colour: str
    lows: list[float] | None = None   # q1 per point, drawn as an error bar with `highs`
    highs: list[float] | None = None
    dashed: bool = False
    marker: str = "o"
    #: the line between points: "-", "--", ":", or "none" (points alone); None: "--" if dashed else "-"
    linestyle: str | None = None
    #: False: hollow markers (another kind of point than the series' filled ones)
    filled: bool = True


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    log_x: bool = True
    log_y: bool = True
    #: horizontal lines: (y, label), e.g. a target's bound or a floor measured in the same run
    hlines: list[tuple[float, str]] = field(default_factory=list)
    #: categorical x: the labels of x = 0, 1, ... (then log_x is ignored)
    xticklabels: list[str] | None = None


def _panel_grid(title: str, count: int, columns: int, height: float):
    """(figure, its `count` axes): small multiples `columns` to a row under one title; the grid's
    unused cells are hidden. Called inside `style()`."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig = new_figure(WIDTH, 0.4 + rows * height)
    fig.suptitle(title, x=0.01, ha="left", fontsize=9)
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def lines(name: str, title: str, panels: list[Panel], columns: int = 3, height: float = 2.6) -> str:
    """Small multiples: one axes per panel, `columns` to a row, one legend for them all."""
    with style():
        fig, axes = _panel_grid(title, len(panels), columns, height)
        for ax, panel in zip(axes, panels):
            for s in panel.series:
                line = s.linestyle if s.linestyle is not None else "--" if s.dashed else "-"
                style_kw = {"linestyle": line, "linewidth": 1.0, "marker": s.marker, "markersize": 4,
                            "color": s.colour, "label": s.label}
                if not s.filled:
                    style_kw["markerfacecolor"] = "white"
                if s.lows is not None and s.highs is not None:
                    errors = [[y - lo for y, lo in zip(s.ys, s.lows)], [hi - y for y, hi in zip(s.ys, s.highs)]]
                    ax.errorbar(s.xs, s.ys, yerr=errors, capsize=2, elinewidth=0.8, **style_kw)
                else:
                    ax.plot(s.xs, s.ys, **style_kw)
            for y, label in panel.hlines:
                ax.axhline(y, color="black", linestyle=":", linewidth=0.9)
                ax.annotate(label, (0, y), xycoords=("axes fraction", "data"), xytext=(2, 2),
                            textcoords="offset points", fontsize=6)
            if panel.xticklabels is not None:
                ax.set_xticks(range(len(panel.xticklabels)), panel.xticklabels)
                ax.set_xlim(-0.3, len(panel.xticklabels) - 0.7)
            elif panel.log_x:
                ax.set_xscale("log")
                _log_axis(ax.xaxis)
            if panel.log_y:
                ax.set_yscale("log")
                _log_axis(ax.yaxis)
            ax.set_title(panel.title, loc="left")
            ax.set_xlabel(panel.xlabel)
            ax.set_ylabel(panel.ylabel)
        _legend(fig, axes)
        return to_svg(fig, name, title)


# --- vertical bars: categories on x, a bar per series ------------------------------------------

@dataclass
class BarSeries:
    label: str
    values: list[float | None]       # per category; None: not measured there
    colour: str
    lows: list[float | None] | None = None
    highs: list[float | None] | None = None
    flagged: list[bool] | None = None  # hatched bars (a run that measured its load generator)
    alpha: float = 1.0                 # lighter: a variant of an implementation (another log, say)


@dataclass
class BarPanel:
    title: str
    categories: list[str]
    ylabel: str
    series: list[BarSeries]


def vbars(name: str, title: str, panels: list[BarPanel], columns: int = 2, height: float = 3.0,
          flag_note: str = "") -> str:
    """Grouped bars per panel; `flag_note` explains the hatched bars in the legend."""
    with style():
        fig, axes = _panel_grid(title, len(panels), columns, height)
        for ax, panel in zip(axes, panels):
            width = 0.8 / max(1, len(panel.series))
            for k, s in enumerate(panel.series):
                at = [c for c, v in enumerate(s.values) if v is not None]  # the categories measured
                xs = [c - 0.4 + width * (k + 0.5) for c in at]
                bars = ax.bar(xs, [s.values[c] for c in at], width=width * 0.9, color=s.colour, alpha=s.alpha,
                              label=s.label)
                for patch, c in zip(bars, at):
                    if s.flagged and s.flagged[c]:
                        patch.set_hatch("//")
                if s.lows is not None and s.highs is not None:
                    spread = [(x, s.values[c], s.lows[c], s.highs[c]) for x, c in zip(xs, at)
                              if s.lows[c] is not None and s.highs[c] is not None]
                    if spread:
                        ax.errorbar([x for x, *_ in spread], [y for _, y, _, _ in spread],
                                    yerr=[[y - lo for _, y, lo, _ in spread], [hi - y for _, y, _, hi in spread]],
                                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            ax.set_xticks(range(len(panel.categories)), panel.categories)
            ax.grid(axis="x", visible=False)
            ax.set_title(panel.title, loc="left")
            ax.set_ylabel(panel.ylabel)
        flagged = flag_note and any(any(s.flagged or []) for p in panels for s in p.series)
        hatched = Patch(facecolor="white", edgecolor="black", hatch="//")
        _legend(fig, axes, [(hatched, flag_note)] if flagged else [])
        return to_svg(fig, name, title)
