"""CPU profiles with pyinstrument: one HTML per implementation of a family.

Each family's cases module has `profile_workload(impl, quick)`: a short, representative life
of the structure (build, lookups, churn). Compiled tiers show as a few opaque frames -- that
is the point: the time left in Python frames is what a tier did not take away.
"""

from __future__ import annotations

from pathlib import Path

from pyinstrument import Profiler

from bench.cases import family_module
from bench.lineup import Impl


def profile(impl: Impl, out_dir: Path, quick: bool = False) -> Path | None:
    """The HTML profile of the family's workload on `impl`; None for an implementation the
    workload does not run (a backend: its time is the server's, profiled by the server)."""
    if impl.is_backend:
        return None
    workload = family_module(impl.family).profile_workload
    impl.warmup()  # compile time is not what a profile of the hot path should show
    profiler = Profiler(interval=0.0005)
    profiler.start()
    workload(impl, quick)
    profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{impl.family}-{impl.name.replace(':', '-')}.html"
    path.write_text(profiler.output_html())
    return path
