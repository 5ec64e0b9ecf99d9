"""Memory figures with memray, each implementation in a fresh subprocess of its own.

A fresh process per implementation keeps one library's allocations (and import-time caches)
out of another's figure. Inside it, inputs are made and the implementation warmed up (Numba
compiles) before tracking starts, so the capture holds only what building costs. Python's
own allocator is traced too (`trace_python_allocators`), so pure-Python objects are counted
one by one rather than as pymalloc arenas.

Figures: `peak_memory` (the high-water mark while building) and `retained_memory` (what is
still allocated when building is done: the structure itself).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import lineup
from bench.cases import Case, cases
from bench.measurement import LOWER
from bench.web import offline


def _capture_path(directory: Path, case: str, index: int) -> Path:
    return directory / f"{case}-{index}.bin"


def run_child(family: str, impl_name: str, case_name: str, grid: list[dict], directory: Path) -> None:
    """In the subprocess: one memray capture per parameter set."""
    import memray

    from bench.harness import measuring

    impl = lineup.get(family, impl_name)
    impl.warmup()
    case = next(c for c in cases(family) if c.name == case_name)
    for index, params in enumerate(grid):
        with measuring(case, impl, params) as probe:
            path = _capture_path(directory, case_name, index)
            path.unlink(missing_ok=True)
            with memray.Tracker(path, trace_python_allocators=True):
                kept = probe.build()
            del kept


def _figures(path: Path) -> tuple[int, int]:
    import memray

    reader = memray.FileReader(path)
    retained = sum(r.size for r in reader.get_leaked_allocation_records(merge_threads=True))
    return reader.metadata.peak_memory, retained


#: Beside the flamegraphs: the vendored scripts and stylesheets their pages load (bench/web/offline.py).
FLAMEGRAPH_ASSETS = "assets"


def _flamegraph(capture: Path, html: Path) -> None:
    """memray's flamegraph of `capture` at `html`, made to open offline.

    memray's page loads Bootstrap, jQuery, lodash, plotly, d3, d3-scale-chromatic and
    d3-flame-graph from CDNs; offline it shows no flame graph. Its own `--no-web` inlines them
    all, about 4.4 MB in every page (plotly alone is 3.6 MB), while a `make mem` writes one page
    per implementation and parameter set: instead the pages share one copy of each asset in
    `assets/` beside them, which bench.web.offline points them at (and fails if one is missing).
    """
    html.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "memray", "flamegraph", "--force", "-o", str(html), str(capture)],
                   check=True, capture_output=True)
    offline.make_offline([html], html.parent / FLAMEGRAPH_ASSETS)


def measure(impl: lineup.Impl, case: Case, grid: list[dict], flamegraph_dir: Path | None = None) -> list[dict]:
    """Peak and retained bytes for each parameter set, as results.json records."""
    family, case_name = impl.family, case.name
    with tempfile.TemporaryDirectory(prefix="lab-memray-") as tmp:
        directory = Path(tmp)
        cmd = [sys.executable, "-m", "bench.memory", "--family", family, "--impl", impl.name, "--case", case_name,
               "--grid", json.dumps(grid), "--dir", str(directory)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"memory child for {family}/{impl.name} failed:\n{done.stderr[-2000:]}")
        records = []
        for index, params in enumerate(grid):
            capture = _capture_path(directory, case_name, index)
            peak, retained = _figures(capture)
            base = {"family": family, "case": case_name, "impl": impl.name, "role": impl.role, "params": params,
                    "unit": "bytes", "better": LOWER}
            records += [{**base, "metric": "peak_memory", "value": peak},
                        {**base, "metric": "retained_memory", "value": retained}]
            if flamegraph_dir is not None:
                label = "-".join(f"{k}{v}" for k, v in params.items())
                name = impl.name.replace(":", "-")
                _flamegraph(capture, flamegraph_dir / f"{family}-{case_name}-{name}-{label}.html")
        return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memray child: build each parameter set under a Tracker")
    parser.add_argument("--family", required=True)
    parser.add_argument("--impl", required=True)
    parser.add_argument("--case", required=True)
    parser.add_argument("--grid", required=True, help="JSON list of parameter sets")
    parser.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    run_child(args.family, args.impl, args.case, json.loads(args.grid), args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
