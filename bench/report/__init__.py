"""`python -m bench report`: results.json as one self-contained HTML page (bench.report.page),
its plots drawn by matplotlib into inline SVG (bench.report.plots, .sections, .svg); and
`python -m bench compare`: two results.json files cell by cell (bench.report.compare).

The page's modules are imported when a page is written, so that `compare` and the CLI's other
commands never pay for importing matplotlib."""

from __future__ import annotations

from pathlib import Path

from bench import results


def write(results_path: Path, out: Path) -> Path:
    """Render `results_path` into `out` (linking the files found beside `out`); returns `out`."""
    from bench.report.page import render

    out = Path(out)
    doc = results.load(Path(results_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(doc, out.parent), encoding="utf-8")
    return out
