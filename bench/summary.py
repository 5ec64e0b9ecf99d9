"""The human table: one row per (family, case, params, metric), one column per implementation.

Time cells read `median (speed-up over pure)`; the last column is the best tier against the
best peer measured in the same run (a ratio is what survives a noisy shared machine).
"""

from __future__ import annotations

from bench import lineup, results, targets
from bench.cases import cases


def _fmt_time(ns: float, unit: str) -> str:
    per = unit.split("/", 1)[1] if "/" in unit else "op"
    for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{ns / scale:.3g} {name}/{per}"
    return f"{ns:.3g} ns/{per}"


def _fmt_bytes(n: float) -> str:
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.3g} {name}"
    return f"{n:.0f} B"


def fmt_value(record: dict) -> str:
    if record["metric"] == "time":
        return _fmt_time(record["value"], record["unit"])
    if record["unit"] == "bytes":
        return _fmt_bytes(record["value"])
    if record["unit"] == "s":
        return f"{record['value']:.3g} s"
    return f"{record['value']:.4g}"


def _params_text(params: dict) -> str:
    def short(v):
        if isinstance(v, int) and v >= 1000 and v % 1000 == 0:
            return f"{v // 1_000_000}M" if v % 1_000_000 == 0 else f"{v // 1000}k"
        return str(v)

    return " ".join(f"{k}={short(v)}" for k, v in params.items())


def _impl_order(impls: set[str], family: str) -> list[str]:
    known = lineup.all_impls(family)
    return [i for i in known if i in impls] + sorted(impls - set(known))


def _versus_by_case(family: str) -> dict[str, tuple[str, ...]]:
    try:
        return {case.name: case.versus for case in cases(family)}
    except ModuleNotFoundError:  # a results file of a family this checkout does not have
        return {}


def rows(doc: dict, families: list[str] | None = None) -> list[tuple[str, list[str], list[list[str]]]]:
    """(family, header, rows) per family."""
    tables = []
    for family, cells in results.cells(doc).items():
        if families and family not in families:
            continue
        impls = _impl_order({i for by_impl in cells.values() for i in by_impl}, family)
        versus = _versus_by_case(family)
        header = ["case", "params", "metric"] + impls + ["best tier vs best peer"]
        body = []
        for (case, _, metric), by_impl in cells.items():
            params = next(iter(by_impl.values()))["params"]  # as measured, in the case's own order
            line = [case, _params_text(params), metric]
            pure = by_impl.get("pure")
            for impl in impls:
                r = by_impl.get(impl)
                if r is None:
                    line.append("—")
                    continue
                text = fmt_value(r)
                if metric == "time" and pure and impl != "pure" and r["value"] > 0:
                    text += f" ({pure['value'] / r['value']:.1f}×)"
                line.append(text)
            line.append(_versus_peer(by_impl, versus.get(case, ())) if metric == "time" else "")
            body.append(line)
        tables.append((family, header, body))
    return tables


def _versus_peer(by_impl: dict[str, dict], versus: tuple[str, ...] = ()) -> str:
    tiers = [r for i, r in by_impl.items() if not lineup.is_peer(i)]
    peers = [r for i, r in by_impl.items() if lineup.is_peer(i) and (not versus or i in versus)]
    if not tiers or not peers:
        return ""
    best_tier = min(tiers, key=lambda r: r["value"])
    best_peer = min(peers, key=lambda r: r["value"])
    ratio = best_peer["value"] / best_tier["value"]
    if ratio >= 1:
        return f"{best_tier['impl']} {ratio:.1f}× faster than {best_peer['impl']}"
    return f"{best_tier['impl']} {1 / ratio:.1f}× slower than {best_peer['impl']}"


def markdown(doc: dict, families: list[str] | None = None) -> str:
    parts = []
    for family, header, body in rows(doc, families):
        parts.append(f"### {family}\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "---|" * len(header))
        parts += ["| " + " | ".join(line) + " |" for line in body]
        parts.append("")
    return "\n".join(parts)


def provenance(doc: dict) -> str:
    git = doc["git"]
    commit = (git["commit"] or "unknown")[:10] + (" (dirty)" if git["dirty"] else "")
    env = doc["env"]
    return (f"Measured {doc['created']} at commit {commit}, Python {env['python']}, "
            f"{env['cores']} cores ({env['cpu']}). Times are medians per call or per item, "
            "× is the speed-up over `pure` in the same run.")


def document(doc: dict, extra: str = "") -> str:
    """summary.md: provenance, skipped implementations, the tables."""
    lines = ["# Results\n", provenance(doc), ""]
    if extra:
        lines += [extra, ""]
    for s in doc.get("skipped", []):
        lines.append(f"- skipped {s['family']}/{s['impl']}: {s['reason']}")
    lines.append("")
    lines.append(markdown(doc))
    checked = targets.markdown(doc)
    if checked:
        lines += ["## Targets", "", checked, ""]
    return "\n".join(lines)
