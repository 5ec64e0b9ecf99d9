"""The accepted baseline: refused with other tools, written whole, read back."""

import json
import subprocess
import sys
from pathlib import Path

from bench.gate import baseline, verdict
from bench.gate.callgrind import Count
from bench.gate.cells import all_keys

ROOT = Path(__file__).resolve().parents[2]


def _baseline_file(tmp_path: Path, **tool_changes: str) -> Path:
    counts = {k: Count(k, 100.0, {}, 1, "abc") for k in all_keys()}
    tools = baseline.toolchain() | tool_changes
    path = tmp_path / "baseline.json"
    baseline.save(baseline.accepted(counts, ROOT, tools), path)
    return path


def test_another_toolchain_is_refused_before_anything_is_counted(tmp_path):
    path = _baseline_file(tmp_path, numpy="1.0.0", valgrind="valgrind-0.1")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "bench.gate", "check", "--baseline", str(path), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == verdict.CANNOT_COMPARE, done.stdout + done.stderr
    assert "CANNOT COMPARE" in done.stdout
    assert "numpy: baseline '1.0.0', now" in done.stdout and "valgrind: baseline 'valgrind-0.1'" in done.stdout
    assert "make gate-accept" in done.stdout
    assert "callgrind" not in done.stderr  # no cell was counted
    doc = json.loads((out / "verdict.json").read_text())
    assert doc["status"] == "cannot compare" and doc["cells"] == []


def test_a_missing_baseline_cannot_be_compared(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.gate", "check", "--baseline", str(tmp_path / "none.json"),
                           "--no-wall", "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == verdict.CANNOT_COMPARE
    assert "no accepted baseline" in done.stdout and "make gate-accept" in done.stdout


def test_a_baseline_round_trips_and_covers_every_cell(tmp_path):
    path = _baseline_file(tmp_path)
    loaded = baseline.load(path)
    assert set(loaded.counts) == {str(k) for k in all_keys()}
    assert loaded.differences(baseline.toolchain()) == []
    assert loaded.toolchain["valgrind"].startswith("valgrind-")


def test_the_committed_baseline_covers_every_gated_cell():
    accepted = baseline.load()
    assert set(accepted.counts) == {str(k) for k in all_keys()}
    assert all(v > 0 for v in accepted.counts.values())
