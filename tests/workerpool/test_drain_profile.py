"""The drain's profile (`bench profile --family workerpool`): py-spy samples every thread of a
child process that drains a small log with the pool, so the flamegraph shows the pool's worker
threads -- which pyinstrument, sampling only its own thread, never sees.

Skipped, with py-spy's reason, only where py-spy cannot run or trace its child here."""

import re
import subprocess
import sys

import pytest

from bench import lineup, profiling
from bench.cases.workerpool import thread_profile_workload
from impls import registry

#: What a flamegraph must not load from elsewhere to open offline: an href or src to a URL, a
#: CSS url() or @import of one (the SVG namespace and DTD identifiers are names, never fetched).
FETCHED = re.compile(r"""(?:\b(?:href|src)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)(?:https?:)?//""", re.I)


def _preferred():
    return lineup.get("workerpool", registry.preferred("workerpool"))


def _pool_frames(svg_text: str) -> bool:
    """Whether the flamegraph names the pool's work: a worker's batch or the kernel it calls."""
    return "WorkerPool._process" in svg_text or "process_batch" in svg_text


def test_the_drain_flamegraph_shows_the_pool_threads(tmp_path):
    impl = _preferred()
    svg = tmp_path / "drain.svg"
    try:
        # At the command's own rate and with its native frames. The drain must outweigh the
        # child's start-up (imports, the kernel's warm-up), or the flame graph prunes the
        # workers' frames as too narrow to draw: 3000 messages were a few tenths of a second, and
        # on a slower day under 1 % of the samples. (At 1000 samples/s with --native, py-spy's
        # pauses stretched this drain to 100 s; at its default 250, 4 s.)
        with thread_profile_workload(impl, messages=20_000) as (what, command):
            profiling.thread_profile(command, svg)
    except profiling.ThreadProfileUnavailable as exc:
        pytest.skip(f"py-spy cannot profile here: {exc}")
    text = svg.read_text()
    assert what == "drain"
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    assert "lab-pool-worker" in text, "no sample of a pool worker thread"
    assert _pool_frames(text)
    assert not FETCHED.search(text), FETCHED.search(text).group(0)


def test_the_profile_command_writes_the_drain_flamegraph_beside_the_html(tmp_path):
    tier = registry.preferred("workerpool")
    done = subprocess.run([sys.executable, "-m", "bench", "profile", "--family", "workerpool", "--impl", tier,
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    profiles = tmp_path / "profiles"
    assert (profiles / f"workerpool-{tier}.html").exists()  # the pyinstrument profile is written either way
    if "no thread profile (py-spy)" in done.stderr:
        pytest.skip(done.stderr.strip().splitlines()[-1])
    svg = profiles / f"workerpool-drain-{tier}.svg"
    assert svg.exists(), done.stdout + done.stderr[-2000:]
    assert _pool_frames(svg.read_text())
