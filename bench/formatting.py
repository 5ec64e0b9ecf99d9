"""How figures read in tables and progress lines: times with their scale, bytes, ratios."""

from __future__ import annotations


def fmt_time(ns: float, unit: str) -> str:
    per = unit.split("/", 1)[1] if "/" in unit else "op"
    for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{ns / scale:.3g} {name}/{per}"
    return f"{ns:.3g} ns/{per}"


def fmt_bytes(n: float) -> str:
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.3g} {name}"
    return f"{n:.0f} B"


def fmt_value(metric: str, unit: str, value: float) -> str:
    if metric == "time":
        return fmt_time(value, unit)
    if unit == "bytes":
        return fmt_bytes(value)
    if unit == "s":
        return f"{value:.3g} s"
    if unit in ("ratio", ""):
        return f"{value:.4g}"
    return f"{value:.4g} {unit}"


def fmt_record(record: dict) -> str:
    return fmt_value(record["metric"], record["unit"], record["value"])


def fmt_figure(figure) -> str:
    """A bench.measurement.Figure as a progress line shows it."""
    text = fmt_value(figure.metric, figure.unit, figure.value)
    return text if figure.metric == "time" else f"{figure.metric}={text}"


def params_text(params: dict) -> str:
    def short(v):
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1000 and v % 1000 == 0:
            return f"{v // 1_000_000}M" if v % 1_000_000 == 0 else f"{v // 1000}k"
        return str(v)

    return " ".join(f"{k}={short(v)}" for k, v in params.items())
