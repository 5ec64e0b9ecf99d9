"""The gate's two flows: `check` (count, judge, report; wall time beside) and `accept`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from bench.gate import baseline as baselines
from bench.gate import verdict, wall
from bench.gate.callgrind import MEASURE, GateError
from bench.gate.cells import Key, all_keys
from bench.gate.counting import count_all

#: This tree: where the probe runs and the extensions and the baseline are.
ROOT = Path(__file__).resolve().parents[2]
#: Where the wall-time comparison unpacks and builds its base tree.
BUILD = ROOT / "build" / "gate"


def _write_reports(out: Path, judgement: verdict.Judgement, walls: wall.WallReport | None, wall_note: str,
                   seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = judgement.to_json() | {"seconds": round(seconds, 1),
                                 "wall": walls.to_json() if walls else {"skipped": wall_note}}
    (out / "verdict.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    parts = ["# Performance gate", "", "```", verdict.summary(judgement), "```", ""]
    if judgement.rows:
        parts += [f"Blocking measure: {MEASURE}; a cell fails at {verdict.THRESHOLD:.2f}x its accepted baseline.",
                  "", verdict.table(judgement), ""]
    parts += [wall.table(walls) if walls else f"Wall time: {wall_note}", "", f"Gate time: {seconds:.0f} s", ""]
    (out / "verdict.md").write_text("\n".join(parts))


def _judge(keys: list[Key], baseline_path: Path, jobs: int | None, stream: TextIO) -> verdict.Judgement:
    try:
        accepted = baselines.load(baseline_path)
    except (baselines.BaselineMissing, ValueError) as exc:
        return verdict.no_baseline(str(exc))
    try:
        differences = accepted.differences(baselines.toolchain())
    except GateError as exc:
        return verdict.no_baseline(str(exc))
    if differences:
        return verdict.other_toolchain(differences)
    counts, errors = count_all(keys, ROOT, jobs, stream)
    return verdict.judge(list(counts.values()), accepted, errors)


def check(keys: list[Key] | None, out: Path, with_wall: bool = True, baseline_path: Path = baselines.PATH,
          jobs: int | None = None, stream: TextIO = sys.stderr) -> int:
    """Count the cells, judge them against the baseline, time them against the base; exit status."""
    started = time.monotonic()
    keys = keys or all_keys()
    judgement = _judge(keys, baseline_path, jobs, stream)
    walls, wall_note = None, "not run (--no-wall)"
    if with_wall and judgement.rows:
        try:
            walls = wall.compare(keys, ROOT, BUILD, stream)
        except (wall.WallUnavailable, OSError, subprocess.SubprocessError) as exc:
            wall_note = f"not run: {exc}"
    elif with_wall:
        wall_note = "not run: nothing was counted"
    seconds = time.monotonic() - started
    if judgement.rows:
        print(f"\nBlocking measure: {MEASURE}; fails at {verdict.THRESHOLD:.2f}x the accepted baseline.\n")
        print(verdict.table(judgement))
    print()
    print(wall.table(walls) if walls else f"Wall time: {wall_note}")
    print()
    print(verdict.summary(judgement))
    _write_reports(out, judgement, walls, wall_note, seconds)
    print(f"gate took {seconds:.0f} s; verdict in {out / 'verdict.md'} and {out / 'verdict.json'}")
    return judgement.status


def accept(baseline_path: Path = baselines.PATH, jobs: int | None = None, stream: TextIO = sys.stderr) -> int:
    """Count every cell and write them as the accepted baseline."""
    tools = baselines.toolchain()
    counts, errors = count_all(all_keys(), ROOT, jobs, stream)
    if errors:
        print("nothing accepted: some cells could not be counted\n" + "\n".join(errors), file=sys.stderr)
        return verdict.CANNOT_COMPARE
    new = baselines.accepted(counts, ROOT, tools)
    try:
        old = baselines.load(baseline_path)
    except (baselines.BaselineMissing, ValueError):
        old = None
    baselines.save(new, baseline_path)
    print(f"accepted {len(new.counts)} cells into {baseline_path}:")
    for name, value in new.counts.items():
        before = old.counts.get(name) if old else None
        change = f"  (was {before:,.1f}: {value / before:.3f}x)" if before else ""
        print(f"  {name:<36} {value:>14,.1f} Ir/call{change}")
    print("\nCommit bench/gate/baseline.json with the reason for the new baseline in the commit message "
          "(what changed, and why the new counts are the ones to keep).")
    return 0
