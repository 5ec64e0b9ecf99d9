"""Wall time, base against head, interleaved: reported beside the verdict, never blocking.

The base is the tree the accepted baseline was measured on: the commit that last changed
bench/gate/baseline.json (if the file has changes not committed yet, HEAD, and the report says
so), unpacked with `git archive` into build/gate/ (no worktree is registered in the
repository) and its Cython tiers built there -- or, when native/ and setup.py are the same as
in this tree, this tree's built extensions copied. Head is this tree. Both run the head's
probe (bench.gate.probe, the base's `impls` imported with --tree), so the same inputs and the
same checks drive both implementations.

Per cell, `rounds` rounds of one base and one head process, in alternating order (ABBA...), so
that a drift of the machine's speed lands on both sides alike; each process gives the median
of its samples. Head and base differ when Mann-Whitney U says p < ALPHA *and* the medians
differ by at least MIN_EFFECT (a significant 1 % would be noise of another kind: a process's
address layout). A flagged cell is measured again, as many rounds, and reported as changed
only if the second run agrees in direction; otherwise it is reported as not confirmed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from scipy.stats import mannwhitneyu

from bench.gate.cells import Key

ALPHA = 0.05
MIN_EFFECT = 0.05
ROUNDS = 5
SAMPLES = 5
SAMPLE_MS = 20.0
BASELINE_FILE = "bench/gate/baseline.json"


class WallUnavailable(RuntimeError):
    """No base tree to compare with (not a git checkout, no commit): said in the report."""


def _git(tree: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True)


def base_commit(tree: Path) -> tuple[str, str]:
    """(commit, why): the commit the accepted baseline belongs to."""
    if _git(tree, "rev-parse", "--git-dir").returncode != 0:
        raise WallUnavailable(f"{tree} is not a git checkout")
    last = _git(tree, "log", "-1", "--format=%H", "--", BASELINE_FILE).stdout.strip()
    changed = _git(tree, "status", "--porcelain", "--", BASELINE_FILE).stdout.strip()
    if last and not changed:
        return last, f"the commit that last changed {BASELINE_FILE}"
    head = _git(tree, "rev-parse", "HEAD").stdout.strip()
    if not head:
        raise WallUnavailable("the repository has no commit")
    return head, f"HEAD ({BASELINE_FILE} has changes not committed yet)"


def _same_native_sources(tree: Path, commit: str) -> bool:
    return _git(tree, "diff", "--quiet", commit, "--", "native", "setup.py").returncode == 0


def base_tree(tree: Path, commit: str, build_dir: Path, stream: TextIO) -> Path:
    """The base commit unpacked under build_dir with its extensions (kept for the next run)."""
    target = build_dir / f"wall-base-{commit[:12]}"
    ready = target / ".ready"
    if ready.exists():
        return target
    for old in build_dir.glob("wall-base-*"):  # one base at a time: each is a whole tree
        shutil.rmtree(old, ignore_errors=True)
    target.mkdir(parents=True)
    # Only what the base's implementations need: head's bench/ measures them (probe --tree).
    archive = subprocess.Popen(["git", "archive", commit, "impls", "native", "setup.py"], cwd=tree,
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise WallUnavailable(f"git archive {commit} failed")
    if _same_native_sources(tree, commit):
        for built in tree.glob("impls/*/_cy*.so"):
            shutil.copy2(built, target / built.relative_to(tree))
        stream.write(f"wall: base {commit[:12]} has this tree's native sources: its extensions copied\n")
    else:
        stream.write(f"wall: building the base's Cython tiers ({commit[:12]}) ...\n")
        done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=target,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise WallUnavailable(f"building the base's extensions failed:\n{done.stderr[-2000:]}")
    ready.touch()
    return target


def _median_ns(key: Key, head: Path, base: Path | None) -> float:
    command = [sys.executable, "-m", "bench.gate.probe", key.family, key.case, key.tier, "wall",
               "--samples", str(SAMPLES), "--sample-ms", str(SAMPLE_MS)]
    if base is not None:
        command += ["--tree", str(base)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=head, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{key} ({'base' if base else 'head'}) failed:\n{done.stderr[-1500:]}")
    return statistics.median(json.loads(done.stdout.strip().splitlines()[-1])["ns_per_call"])


def _interleaved(key: Key, head: Path, base: Path, rounds: int) -> tuple[list[float], list[float]]:
    base_ns, head_ns = [], []
    for r in range(rounds):
        for side in (("base", "head") if r % 2 == 0 else ("head", "base")):
            if side == "base":
                base_ns.append(_median_ns(key, head, base))
            else:
                head_ns.append(_median_ns(key, head, None))
    return base_ns, head_ns


@dataclass(frozen=True)
class WallRow:
    family: str
    case: str
    tier: str
    base_ns: float | None
    head_ns: float | None
    p: float | None
    #: "same", "slower", "faster", "not confirmed" (flagged once, not the second time) or an error
    verdict: str
    rounds: int

    @property
    def ratio(self) -> float | None:
        return None if not self.base_ns or self.head_ns is None else self.head_ns / self.base_ns


def p_value(head_ns: list[float], base_ns: list[float]) -> float:
    """Two-sided Mann-Whitney U: exact for the gate's few samples a side when nothing ties,
    the normal approximation with the tie correction otherwise (scipy's method="auto")."""
    return float(mannwhitneyu(head_ns, base_ns, alternative="two-sided").pvalue)


def _flag(base_ns: list[float], head_ns: list[float]) -> tuple[str, float, float]:
    """(direction or "same", ratio of medians, p)."""
    ratio = statistics.median(head_ns) / statistics.median(base_ns)
    p = p_value(head_ns, base_ns)
    if p < ALPHA and abs(ratio - 1) >= MIN_EFFECT:
        return ("slower" if ratio > 1 else "faster"), ratio, p
    return "same", ratio, p


def compare_cell(key: Key, head: Path, base: Path, rounds: int = ROUNDS) -> WallRow:
    base_ns, head_ns = _interleaved(key, head, base, rounds)
    first, _, p = _flag(base_ns, head_ns)
    verdict = first
    if first != "same":  # re-run a flagged cell before reporting it
        again_base, again_head = _interleaved(key, head, base, rounds)
        second, _, p2 = _flag(again_base, again_head)
        base_ns, head_ns = base_ns + again_base, head_ns + again_head
        p = p_value(head_ns, base_ns)
        verdict = first if second == first else "not confirmed"
    return WallRow(key.family, key.case, key.tier, statistics.median(base_ns), statistics.median(head_ns), p,
                   verdict, len(head_ns))


@dataclass
class WallReport:
    rows: list[WallRow]
    base: str
    note: str
    seconds: float

    def to_json(self) -> dict:
        return {"base": self.base, "note": self.note, "seconds": round(self.seconds, 1), "alpha": ALPHA,
                "min_effect": MIN_EFFECT, "cells": [asdict(r) | {"ratio": r.ratio} for r in self.rows]}


def compare(keys: list[Key], head: Path, build_dir: Path, stream: TextIO = sys.stderr) -> WallReport:
    """Interleaved wall time of every key, base against head (see the module doc)."""
    started = time.monotonic()
    commit, why = base_commit(head)
    base = base_tree(head, commit, build_dir, stream)
    rows = []
    for i, key in enumerate(keys, 1):
        try:
            row = compare_cell(key, head, base)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            row = WallRow(key.family, key.case, key.tier, None, None, None, f"error: {str(exc).splitlines()[0]}", 0)
        rows.append(row)
        ratio = "—" if row.ratio is None else f"{row.ratio:.3f}x"
        stream.write(f"[{i:>2}/{len(keys)}] {time.monotonic() - started:6.1f}s  wall {str(key):<34} {ratio} "
                     f"{row.verdict}\n")
        stream.flush()
    return WallReport(rows, commit, f"base = {commit[:12]}, {why}", time.monotonic() - started)


def table(report: WallReport) -> str:
    lines = [f"Wall time, not blocking: {report.note}; {ROUNDS} interleaved rounds a cell, each process's "
             f"median of {SAMPLES} samples; changed = Mann-Whitney p < {ALPHA} and >= {MIN_EFFECT:.0%} apart, "
             "confirmed by a second run.", "",
             "| family | case | tier | base ns/call | head ns/call | ratio | p | verdict |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in report.rows:
        def num(v, fmt):
            return "—" if v is None else format(v, fmt)
        lines.append(f"| {r.family} | {r.case} | {r.tier} | {num(r.base_ns, ',.1f')} | {num(r.head_ns, ',.1f')} | "
                     f"{num(r.ratio, '.3f')} | {num(r.p, '.3f')} | {r.verdict} |")
    return "\n".join(lines)
