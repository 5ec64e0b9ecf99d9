"""The human table: one row per (family, case, params, metric), one column per implementation.

Cells read `figure (× over pure)`, where × is how many times better than pure the figure is in
the metric's own direction (lower time, higher throughput); the last column is the best tier
against the best peer measured in the same run (a ratio is what survives a noisy shared machine).
Backends (the Redis limiter) have columns of their own, after the tiers.
"""

from __future__ import annotations

from bench import lineup, results, service_report, targets
from bench.cases import cases
from bench.formatting import fmt_record, params_text

SPEC = "pure"


def impl_order(impls: set[str], family: str) -> list[str]:
    """`impls` in the family's order (tiers, backends, peers), unknown names last."""
    try:
        known = lineup.all_names(family)
    except ValueError:  # a results file of a family this checkout does not have
        known = []
    return [i for i in known if i in impls] + sorted(impls - set(known))


def versus_by_case(family: str) -> dict[str, tuple[str, ...]]:
    """case -> the peers it is set against (Case.versus; empty: every peer)."""
    try:
        return {case.name: case.versus for case in cases(family)}
    except ModuleNotFoundError:  # a results file of a family this checkout does not have
        return {}


def rows(doc: dict, families: list[str] | None = None) -> list[tuple[str, list[str], list[list[str]]]]:
    """(family, header, rows) per family."""
    tables = []
    for family, cells in results.cells(doc).items():
        if families and family not in families or family == service_report.FAMILY:
            continue  # the service's load runs have a table of their own (service_report)
        impls = impl_order({i for by_impl in cells.values() for i in by_impl}, family)
        versus = versus_by_case(family)
        header = ["case", "params", "metric"] + impls + ["best tier vs best peer"]
        body = []
        for (case, _, metric), by_impl in cells.items():
            params = next(iter(by_impl.values()))["params"]  # as measured, in the case's own order
            line = [case, params_text(params), metric]
            pure = by_impl.get(SPEC)
            for impl in impls:
                r = by_impl.get(impl)
                if r is None:
                    line.append("—")
                    continue
                text = fmt_record(r)
                if "p99" in r.get("percentiles", {}):
                    text += f", p99 {r['percentiles']['p99']:.4g}"
                ratio = results.advantage(r, pure) if metric == "time" and pure and impl != SPEC else None
                if ratio is not None:
                    text += f" ({ratio:.1f}×)"
                line.append(text)
            line.append(versus_peer(by_impl, versus.get(case, ())) if metric == "time" else "")
            body.append(line)
        tables.append((family, header, body))
    return tables


def ours_and_peers(by_impl: dict[str, dict], versus: tuple[str, ...] = ()) -> tuple[list[dict], list[dict]]:
    """A row's figures of ours -- the tiers, or in a row only backends take part in (Redis), the
    backends -- and of the peers it is set against (`versus`; empty: every peer)."""
    tiers = [r for r in by_impl.values() if r["role"] == lineup.TIER] or \
        [r for r in by_impl.values() if r["role"] == lineup.BACKEND]
    peers = [r for i, r in by_impl.items() if r["role"] == lineup.PEER and (not versus or i in versus)]
    return tiers, peers


def versus_peer(by_impl: dict[str, dict], versus: tuple[str, ...] = ()) -> str:
    tiers, peers = ours_and_peers(by_impl, versus)
    if not tiers or not peers:
        return ""
    best_tier, best_peer = results.best(tiers), results.best(peers)
    ratio = results.advantage(best_tier, best_peer)
    if ratio is None:
        return ""
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
    if not families or service_report.FAMILY in families:
        parts.append(service_report.markdown(doc))
    return "\n".join(parts)


def provenance(doc: dict) -> str:
    git = doc["git"]
    commit = (git["commit"] or "unknown")[:10] + (" (dirty)" if git["dirty"] else "")
    env = doc["env"]
    return (f"Measured {doc['created']} at commit {commit}, Python {env['python']}, "
            f"{env['cores']} cores ({env['cpu']}). Times are medians per call or per item, "
            "× is the speed-up over `pure` in the same run.")


def document(doc: dict, extra: str = "") -> str:
    """summary.md: provenance, skipped implementations, the tables, the targets."""
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
