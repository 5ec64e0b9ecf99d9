"""What each family's section plots, picked from results.json.

Every family gets, from whatever its records hold: each tier's speed-up over `pure` and each of
our implementations against the best peer of the row (timings), peak memory, start-up. The
declarations below add what is particular to a family: which scalar case and batch case make a
per-item-cost-against-batch-size line (the point where a call's fixed cost -- Numba's dispatch,
above all -- stops mattering), which figures are plotted against a swept parameter (the ring's
balance and moved keys), the worker pool's throughput and latency, the service's CPU per
request. Nothing is plotted that results.json does not hold: a sweep with one value shows one
point, and the caption says which values the file has.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench import results, service_report, summary
from bench.cases.base import SPEC_SWEEP_MAX
from bench.formatting import fmt_bytes, params_text
from bench.report import plots
from bench.targets import family_targets

SPEC = summary.SPEC


@dataclass(frozen=True)
class Plot:
    name: str      # the <figure>'s id: unique in the page
    caption: str   # what it shows, and what results.json does not hold for it
    svg: str


@dataclass(frozen=True)
class BatchPair:
    """A case calling once per item and one calling once per batch, at the same configuration."""

    scalar: str
    batch: str
    size: str                      # the batch case's parameter holding the batch size
    match: tuple[str, ...] = ()    # parameters both cases hold that must agree
    hold: dict = field(default_factory=dict)  # the batch case's parameters fixed for the line
    #: a case timing the same batch call at many sizes (bench.cases.base: the `*_sweep` cases),
    #: whose points join the batch case's line where their other parameters agree; at a size
    #: both measured, the batch case's figure is the one drawn (the one the tables and targets use)
    sweep: str | None = None


@dataclass(frozen=True)
class Curve:
    """A reference drawn over a sweep's panel of `metric`: y(x, params) along the swept values."""

    metric: str
    label: str
    y: Callable[[float, dict], float]


@dataclass(frozen=True)
class Sweep:
    """Figures of one case plotted against a parameter: the first of `prefer` that takes more
    than one value in results.json (else the first present, as a single point)."""

    case: str
    metrics: tuple[str, ...]
    prefer: tuple[str, ...]
    #: who the points are, for the caption
    about: str = "every implementation (the tiers share one placement rule, so their points coincide)"
    curves: tuple[Curve, ...] = ()


BATCH_PAIRS: dict[str, tuple[BatchPair, ...]] = {
    "hashring": (BatchPair("lookup", "lookup_many", "keys", ("nodes", "vnodes"), sweep="lookup_many_sweep"),
                 BatchPair("jump", "jump_many", "keys", ("nodes", "vnodes"), sweep="jump_many_sweep")),
    "ratelimit": (BatchPair("keyed_acquire", "acquire_many_sweep", "batch", ("kind", "keys", "key_type")),
                  BatchPair("keyed_acquire", "acquire_many", "pairs", ("kind", "key_type")),
                  BatchPair("redis_acquire", "redis_acquire_many", "batch", ("redis",))),
    "serial": tuple(BatchPair(f"{fmt}_{op}", f"{fmt}_{op}_batch", "batch", (),
                              {"gc": "off"} if op == "decode" else {},
                              sweep=f"{fmt}_{op}_batch_sweep" if fmt == "proto" else None)
                    for fmt in ("proto", "msgpack", "json") for op in ("encode", "decode")),
}
#: balance_vnodes and moved_vnodes: pure's alone (bench/cases/hashring.py says why).
_PURE_ONLY = "pure alone: every tier's owners are checked equal to pure's, so these are the placement rule's figures"
SWEEPS: dict[str, tuple[Sweep, ...]] = {
    "hashring": (Sweep("balance", ("std_over_mean", "max_over_mean"), ("nodes",)),
                 Sweep("moved", ("moved_fraction_add", "moved_over_ideal"), ("nodes",)),
                 Sweep("balance_vnodes", ("std_over_mean", "max_over_mean"), ("vnodes",), _PURE_ONLY,
                       (Curve("std_over_mean", "1.2/√vnodes: the issue's bound", lambda v, p: 1.2 / v ** 0.5),)),
                 Sweep("moved_vnodes", ("moved_fraction_add", "moved_over_ideal"), ("vnodes",), _PURE_ONLY,
                       (Curve("moved_fraction_add", "1/(nodes+1): the ideal", lambda v, p: 1 / (p["nodes"] + 1)),
                        Curve("moved_over_ideal", "1.3: the issue's bound", lambda v, p: 1.3)))),
}
#: Figures beside the timings, as bars per implementation: (case or None for any, metrics, title).
VALUES: dict[str, tuple[tuple[str | None, tuple[str, ...], str], ...]] = {
    "ratelimit": (("redis_server_time", ("ping_p50", "acquire_p50", "acquire_minus_ping_p50",
                                         "server_time_per_acquire", "server_time_per_decision_batched"),
                   "Redis: round trips and the server's own time per decision"),),
    "serial": (("bytes_per_msg", ("bytes_per_msg",), "bytes per order, in each implementation's own format"),),
}
#: The worker pool's drains and paced latency (bench/cases/workerpool.py): split by the log.
POOL_FACET = "backend"
POOL_DRAIN = ("drain", ("throughput", "cpu_per_msg"), ("messages", "repeats"))
POOL_LATENCY = ("latency", "latency_p99", "redis_rtt_floor")
#: Time units, in nanoseconds, to put a floor measured in one unit on an axis in another.
NS_PER = {"ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}


# --- reading the cells ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    case: str
    params: dict
    metric: str
    by_impl: dict[str, dict]

    def label(self, with_metric: bool = False) -> str:
        text = f"{self.case} {params_text(self.params)}".strip()
        return f"{text} · {self.metric}" if with_metric else text


def family_rows(doc: dict, family: str) -> list[Row]:
    """The family's rows as results.cells groups them (in the order first measured), each with
    its parameters as measured, in the case's own order (as the tables show them)."""
    return [Row(case, next(iter(by_impl.values()))["params"], metric, by_impl)
            for (case, _, metric), by_impl in results.cells(doc).get(family, {}).items()]


def impl_order(rows: Iterable[Row], family: str) -> list[str]:
    return summary.impl_order({i for row in rows for i in row.by_impl}, family)


def _target_lines(family: str, case: str, metric: str) -> list[tuple[float, str]]:
    lines = []
    for t in family_targets(family):
        if t.case == case and t.metric == metric:
            for bound in (t.at_most, t.at_least):
                if bound is not None:
                    lines.append((bound, f"target: {t.text}"))
    return lines


# --- every family --------------------------------------------------------------------------------

def speedups(family: str, rows: list[Row], order: list[str], palette: dict) -> list[Plot]:
    """Timings: each tier over pure, and ours (tiers, or backends) over the row's best peer."""
    timed = [r for r in rows if r.metric == "time"]
    over_pure = []
    for row in timed:
        pure = row.by_impl.get(SPEC)
        ratios = {i: results.advantage(r, pure) for i, r in row.by_impl.items()
                  if pure is not None and i != SPEC and r["role"] == "tier"}
        ratios = {i: v for i, v in ratios.items() if v is not None}
        if ratios:
            over_pure.append((row.label(), ratios))
    versus = summary.versus_by_case(family)
    over_peer = []
    for row in timed:
        ours, peers = summary.ours_and_peers(row.by_impl, versus.get(row.case, ()))
        if not ours or not peers:
            continue
        best_peer = results.best(peers)
        ratios = {r["impl"]: results.advantage(r, best_peer) for r in ours}
        ratios = {i: v for i, v in ratios.items() if v is not None}
        if ratios:
            over_peer.append((f"{row.label()} vs {best_peer['impl']}", ratios))
    out = []
    if over_pure:
        out.append(Plot(f"{family}-vs-pure", "Each tier's speed-up over pure, per timed row (median against "
                        "median, log scale; right of the line is faster than pure).",
                        plots.hbars(f"{family}-vs-pure", f"{family}: speed-up over pure", over_pure, order, palette,
                                    "times faster than pure (log)", reference=1.0)))
    if over_peer:
        out.append(Plot(f"{family}-vs-peer", "Each of our implementations against the best peer of the row (the "
                        "peers the case sets us against), in the metric's direction; right of the line is faster.",
                        plots.hbars(f"{family}-vs-peer", f"{family}: against the best peer", over_peer, order,
                                    palette, "times faster than the row's best peer (log)", reference=1.0)))
    return out


def _value_plot(family: str, name: str, title: str, rows: list[Row], order: list[str], palette: dict,
                caption: str) -> Plot | None:
    if not rows:
        return None
    with_metric = len({r.metric for r in rows}) > 1
    data = [(r.label(with_metric), {i: rec["value"] for i, rec in r.by_impl.items() if rec["value"] > 0})
            for r in rows]
    data = [d for d in data if d[1]]
    if not data:
        return None
    unit = rows[0].by_impl[next(iter(rows[0].by_impl))]["unit"]
    label = fmt_bytes if unit == "bytes" else (lambda v: f"{v:.3g} {unit}")
    return Plot(f"{family}-{name}", caption,
                plots.hbars(f"{family}-{name}", f"{family}: {title}", data, order, palette, f"{unit} (log)",
                            label=label, tick=fmt_bytes if unit == "bytes" else plots.plain,
                            base=2 if unit == "bytes" else 10))


def values(family: str, rows: list[Row], order: list[str], palette: dict) -> list[Plot]:
    """Peak memory, start-up, and the family's own figures (VALUES) as bars per implementation."""
    out = [
        _value_plot(family, "memory", "peak memory (memray, each implementation in a fresh process)",
                    [r for r in rows if r.metric == "peak_memory"], order, palette,
                    "Peak heap while building (memray), per memory case; the retained bytes are in the table."),
        _value_plot(family, "startup", "start-up: import and warm-up in a fresh process",
                    [r for r in rows if r.case == "startup"], order, palette,
                    "Seconds from the first import to the end of warmup(): Numba's compilation (cold: an empty "
                    "cache; cached: the project's), Cython's extension load."),
    ]
    for k, (case, metrics, title) in enumerate(VALUES.get(family, ())):
        chosen = [r for r in rows if (case is None or r.case == case) and r.metric in metrics]
        out.append(_value_plot(family, f"values-{k}", title, chosen, order, palette,
                               f"{title}: {', '.join(metrics)}, as measured."))
    return [p for p in out if p is not None]


# --- particular to a family ----------------------------------------------------------------------

def _size_text(sizes: list[float]) -> str:
    return ", ".join(f"{s:,.0f}" for s in sorted(set(sizes)))


def _batch_series(impl: str, colour: str, scalar: dict | None, batch: list[tuple[float, dict]]) -> list[plots.Series]:
    """One implementation's line: its batch call at the sizes measured (solid), and the scalar
    call at 1 (a hollow diamond). With the batch call at one size only, a dashed line joins
    the two points, which is no measurement in between."""
    def series(points, **style) -> plots.Series:
        return plots.Series(impl, [x for x, _ in points], [r["value"] for _, r in points], colour,
                            lows=[r.get("q1", r["value"]) for _, r in points],
                            highs=[r.get("q3", r["value"]) for _, r in points], **style)

    if len(batch) < 2:
        return [series(([(1, scalar)] if scalar else []) + batch, dashed=True)]
    out = [series(batch)]
    if scalar is not None:
        out.append(series([(1, scalar)], linestyle="none", marker="D", filled=False))
    return out


def batch_sizes(family: str, rows: list[Row], order: list[str], palette: dict) -> list[Plot]:
    """Per item cost against batch size: the scalar call at 1, the batch case (and its sweep)
    at their sizes."""
    panels, sizes, swept, dashed = [], [], False, False
    for pair in BATCH_PAIRS.get(family, ()):
        scalars = [r for r in rows if r.case == pair.scalar and r.metric == "time"]
        # the batch case's rows first: at a size both measured, its figure is the one drawn
        batches = [r for case in (pair.batch, pair.sweep) for r in rows if case and r.case == case
                   and r.metric == "time" and all(r.params.get(k) == v for k, v in pair.hold.items())
                   and pair.size in r.params]
        groups: dict[str, dict[float, Row]] = {}
        for r in batches:
            fixed = {k: v for k, v in r.params.items() if k != pair.size and k not in pair.hold}
            groups.setdefault(json.dumps(fixed, sort_keys=True), {}).setdefault(r.params[pair.size], r)
        for fixed_json, by_size in groups.items():
            fixed = json.loads(fixed_json)
            match = {k: fixed[k] for k in pair.match if k in fixed}
            scalar = next((r for r in scalars if all(r.params.get(k) == v for k, v in match.items())), None)
            points: dict[str, list[tuple[float, dict]]] = {}
            for size in sorted(by_size):
                sizes.append(size)
                for impl, rec in by_size[size].by_impl.items():
                    points.setdefault(impl, []).append((size, rec))
            series = []
            for impl in order:
                at_one = scalar.by_impl.get(impl) if scalar is not None else None
                if impl in points or at_one is not None:
                    series += _batch_series(impl, palette[impl], at_one, points.get(impl, []))
                    swept = swept or len(points.get(impl, [])) > 1
                    dashed = dashed or (len(points.get(impl, [])) == 1 and at_one is not None)
            unit = next(iter(next(iter(by_size.values())).by_impl.values()))["unit"]
            title = f"{pair.scalar} → {pair.batch}" + (f"\n{params_text(match)}" if match else "")
            panels.append(plots.Panel(title, "items per call (1 = the scalar call)", f"{unit}, median (q1–q3)",
                                      series))
    if not panels:
        return []
    name = f"{family}-batch"
    caption = (f"Cost per item against batch size, at the sizes results.json holds ({_size_text(sizes)}); the "
               f"scalar call, one item a call on the same configuration, at 1.")
    if swept:
        caption += (f" Solid lines: the batch call measured at several sizes (the *_sweep cases: our tiers, pure up "
                    f"to {SPEC_SWEEP_MAX:,} items a call) beside the scalar call's hollow diamond; only the points "
                    f"are measured, not the lines between them.")
    if dashed:
        caption += (" Dashed lines join the scalar call to a batch call measured at one size only, and are no "
                    "measurement in between: where a tier's fixed cost per call stops mattering lies somewhere "
                    "along them.")
    caption += " Error bars: q1–q3."
    return [Plot(name, caption, plots.lines(name, f"{family}: cost per item against batch size", panels))]


def _sort_key(value) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _curve_series(curve: Curve, xs: list, params: dict) -> plots.Series:
    """`curve` from the first swept value to the last, smooth on a log axis."""
    low, high = min(xs), max(xs)
    steps = 48
    grid = [low * (high / low) ** (k / steps) for k in range(steps + 1)] if low > 0 else list(xs)
    return plots.Series(curve.label, grid, [curve.y(x, params) for x in grid], "#000000", marker="none",
                        linestyle=":")


def sweeps(family: str, rows: list[Row], order: list[str], palette: dict) -> list[Plot]:
    """Figures of a case against the parameter swept: the first of the sweep's `prefer` that
    results.json varies; where it varies none, one point per implementation, and the caption
    says which sweep is missing."""
    out = []
    for sweep in SWEEPS.get(family, ()):
        chosen = [r for r in rows if r.case == sweep.case and r.metric in sweep.metrics]
        if not chosen:
            continue

        def values_of(param: str) -> list:
            return sorted({r.params[param] for r in chosen if param in r.params}, key=_sort_key)

        present = [p for p in sweep.prefer if values_of(p)]
        varying = [p for p in present if len(values_of(p)) > 1]
        x = (varying or present or [None])[0]
        xs = values_of(x) if x else []
        single = len(xs) <= 1  # then a category axis: one point per implementation
        # parameters other than x that differ between rows make series of their own
        split = [k for r in chosen for k in r.params if k != x and len(values_of(k)) > 1]
        panels, drawn = [], []
        for metric in sweep.metrics:
            here = [r for r in chosen if r.metric == metric]
            points: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for r in here:
                rest = params_text({k: v for k, v in r.params.items() if k in split})
                for impl, rec in r.by_impl.items():
                    points.setdefault((impl, rest), []).append((0 if single else r.params[x], rec["value"]))
            series = []
            for k, impl in enumerate(order):
                for (name, rest), pts in sorted(points.items()):
                    if name == impl:
                        pts.sort()
                        series.append(plots.Series(f"{impl} {rest}".strip(), [p[0] for p in pts],
                                                   [p[1] for p in pts], palette[impl],
                                                   marker=plots.MARKERS[k % len(plots.MARKERS)]))
            hlines = _target_lines(family, sweep.case, metric)
            drawn += [label for _, label in hlines]
            if not single and here:
                for curve in (c for c in sweep.curves if c.metric == metric):
                    line = _curve_series(curve, xs, here[0].params)
                    if len(set(line.ys)) == 1:  # a constant: a labelled horizontal line
                        hlines.append((line.ys[0], curve.label))
                    else:
                        series.append(line)
                    drawn.append(curve.label)
            panels.append(plots.Panel(metric, x or "", "", series, log_x=True, log_y=False, hlines=hlines,
                                      xticklabels=[f"{x}={v}" for v in xs] if single else None))
        first = sweep.prefer[0]
        note = ""
        if first not in varying:
            held = ", ".join(map(str, values_of(first))) or "none"
            note = f" results.json holds one value of {first} ({held}): no sweep over {first} was measured"
            others = list(sweep.prefer[1:])
            if not single:
                note += f"; the figures are plotted against {x}, which it does vary."
            elif others:
                note += f", nor over {', '.join(others)}: one point per implementation."
            else:
                note += "; one point per implementation."
        lines = f" Dotted: {'; '.join(dict.fromkeys(drawn))}." if drawn else ""
        caption = (f"{sweep.case}: {', '.join(sweep.metrics)} against {x} ({', '.join(map(str, xs))}), "
                   f"{sweep.about}.{lines}{note}")
        name = f"{family}-{sweep.case}"
        out.append(Plot(name, caption, plots.lines(name, f"{family}: {sweep.case} against {x}", panels, columns=2)))
    return out


def _facet_values(rows: list[Row], facet: str) -> list[str]:
    return sorted({str(r.params.get(facet)) for r in rows})


def _drain_setting(row: Row) -> str:
    """A drain's settings but its log (the panel) and its size (the caption): workers, work_us."""
    return params_text({k: v for k, v in row.params.items() if k != POOL_FACET and k not in POOL_DRAIN[2]})


def pool(family: str, rows: list[Row], order: list[str], palette: dict) -> list[Plot]:
    """The worker pool: drain throughput and CPU per message against workers, per log; the paced
    latency's percentiles per log beside the Redis round trip measured in the same run."""
    out = []
    case, metrics, _ = POOL_DRAIN
    drains = [r for r in rows if r.case == case and r.metric in metrics]
    if drains:
        panels = []
        for metric in metrics:
            for facet in _facet_values(drains, POOL_FACET):
                here = [r for r in drains if r.metric == metric and str(r.params.get(POOL_FACET)) == facet]
                if not here:
                    continue
                categories = list(dict.fromkeys(_drain_setting(r) for r in here))
                series = []
                for impl in order:
                    cells = {_drain_setting(r): r.by_impl[impl] for r in here if impl in r.by_impl}
                    if cells:
                        column = [cells.get(c, {}) for c in categories]
                        series.append(plots.BarSeries(impl, [c.get("value") for c in column], palette[impl],
                                                      lows=[c.get("q1") for c in column],
                                                      highs=[c.get("q3") for c in column]))
                unit = here[0].by_impl[next(iter(here[0].by_impl))]["unit"]
                panels.append(plots.BarPanel(f"{metric} · {POOL_FACET} {facet}", categories, unit, series))
        name = f"{family}-drain"
        messages = sorted({r.params.get("messages") for r in drains if "messages" in r.params})
        workers = sorted({r.params["workers"] for r in drains if "workers" in r.params})
        logs = _facet_values(drains, POOL_FACET)
        out.append(Plot(name, f"Drains of {_size_text(messages)} messages, exactly once into Redis: throughput "
                        f"(first fetch to last effect; error bars q1–q3 of the repeats) and the consumer's CPU per "
                        f"message, per log, against workers and compiled work per message. results.json holds "
                        f"workers = {', '.join(map(str, workers)) or 'none'} on the log(s) {', '.join(logs)}.",
                        plots.vbars(name, f"{family}: drain throughput and CPU against workers", panels)))
    case, metric, floor_metric = POOL_LATENCY
    latencies = [r for r in rows if r.case == case and r.metric == metric]
    if latencies:
        panels = []
        for facet in _facet_values(latencies, POOL_FACET):
            here = [r for r in latencies if str(r.params.get(POOL_FACET)) == facet]
            keys = sorted({p for r in here for rec in r.by_impl.values() for p in rec.get("percentiles", {})},
                          key=lambda p: float(p[1:]))
            series = []
            for k, impl in enumerate(order):
                for r in here:
                    rec = r.by_impl.get(impl)
                    if rec is None or not rec.get("percentiles"):
                        continue
                    spread = rec["percentiles"]
                    xs = [keys.index(p) for p in keys if p in spread]
                    series.append(plots.Series(f"{impl} rate={r.params.get('rate', '?'):,}/s", xs,
                                               [spread[p] for p in keys if p in spread], palette[impl],
                                               marker=plots.MARKERS[k % len(plots.MARKERS)]))
            floors = [rec for r in rows if r.case == case and r.metric == floor_metric
                      and str(r.params.get(POOL_FACET)) == facet for rec in r.by_impl.values()]
            unit = here[0].by_impl[next(iter(here[0].by_impl))]["unit"]
            hlines = []
            if floors and unit in NS_PER and all(f["unit"] in NS_PER for f in floors):
                floor = statistics.median(f["value"] * NS_PER[f["unit"]] / NS_PER[unit] for f in floors)
                hlines.append((floor, f"Redis PING round trip (median of {len(floors)} in this run)"))
            panels.append(plots.Panel(f"produce → effect · {POOL_FACET} {facet}", "percentile", unit, series,
                                      hlines=hlines, xticklabels=keys))
        name = f"{family}-latency"
        out.append(Plot(name, "Latency from produce to applied effect under a paced producer, by percentile, per "
                        "log and offered rate; the dotted line is a Redis round trip measured in the same run.",
                        plots.lines(name, f"{family}: produce-to-effect latency percentiles", panels, columns=2)))
    return out


def service(doc: dict, palette_order: list[str]) -> list[Plot]:
    """The gateway's CPU per request per tier and transport (and the embedded servers'), floors
    and peers beside; runs where Locust saturated its core hatched."""
    records = [r for r in doc["results"] if r["family"] == service_report.FAMILY
               and r["params"].get("kind") in (None, "total")]
    if not records:
        return []
    palette = plots.colours(palette_order)
    backends = [r["params"].get("backend") for r in records]
    usual = max(sorted(set(backends), key=str), key=backends.count)
    panels = []
    for metric, title in (("service_cpu", "the gateway's CPU per request"),
                          ("backend_cpu", "the embedded Redis and log's CPU per request")):
        here = [r for r in records if r["metric"] == metric]
        if not here:
            continue
        categories, units = [], {}
        for r in here:
            if r["case"] not in categories:
                categories.append(r["case"])
                units[r["case"]] = r["unit"]
        by_series: dict[str, dict[str, dict]] = {}
        for r in here:
            backend = r["params"].get("backend")
            label = r["impl"] + (f" · log {backend}" if backend != usual else "")
            by_series.setdefault(label, {})[r["case"]] = r
        series = []
        for label in sorted(by_series, key=lambda s: (palette_order.index(s.split(" · ")[0])
                                                        if s.split(" · ")[0] in palette_order else 99, s)):
            cells = by_series[label]
            series.append(plots.BarSeries(label, [cells[c]["value"] if c in cells else None for c in categories],
                                          palette.get(label.split(" · ")[0], "#000000"),
                                          flagged=[bool(cells[c].get("loadgen_saturated")) if c in cells else False
                                                   for c in categories],
                                          alpha=1.0 if " · " not in label else 0.5))
        labels = [c if units[c] == "cpu_us/req" else f"{c}\n({units[c]})" for c in categories]
        panels.append(plots.BarPanel(title, labels, "CPU µs per request", series))
    name = "service-cpu"
    caption = (f"CPU per request of the gateway's process (and, apart, of the embedded Redis and log) per tier and "
               f"transport, the floors (rest-ping, grpc-echo) and the peers' servers measured in the same run; log "
               f"{usual} unless the legend says otherwise. SubmitMany is per order. Hatched: Locust saturated its "
               f"core in that run, so its rate measured Locust.")
    return [Plot(name, caption, plots.vbars(name, "service: CPU per request, per tier and transport", panels,
                                            columns=1, height=3.2, flag_note="Locust saturated"))]


def family_plots(doc: dict, family: str) -> list[Plot]:
    """Every plot of one family's section, in the page's order."""
    if family == service_report.FAMILY:
        # the gateway runs the serial family's tiers (and every other family's of the same name)
        impls = {r["impl"] for r in doc["results"] if r["family"] == family}
        return service(doc, summary.impl_order(impls, "serial"))
    rows = family_rows(doc, family)
    if not rows:
        return []
    order = impl_order(rows, family)
    palette = plots.colours(order)
    return (speedups(family, rows, order, palette) + batch_sizes(family, rows, order, palette)
            + sweeps(family, rows, order, palette) + pool(family, rows, order, palette)
            + values(family, rows, order, palette))
