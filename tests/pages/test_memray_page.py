"""A memray flamegraph written by the lab's own code path (bench.memory, as `make mem` runs it)
opens offline: its scripts load from the assets beside it and the flame graph is drawn."""

from pathlib import Path

from bench import lineup, memory
from bench.cases import cases

SCREENSHOT = Path(__file__).resolve().parents[2] / "reports" / "latest" / "screenshots" / "memray.png"


def test_memray_flamegraph_renders_offline(tmp_path, offline_browser):
    impl = lineup.get("hashring", "pure")
    case = next(c for c in cases("hashring") if c.kind == "memory")
    memory.measure(impl, case, case.grid(True)[:1], flamegraph_dir=tmp_path)
    [page] = sorted(tmp_path.glob("*.html"))
    html = page.read_text()
    assert "cdn.jsdelivr.net" not in html
    assert (tmp_path / memory.FLAMEGRAPH_ASSETS / "d3-flame-graph@4.1.3" / "LICENSE").is_file()

    visit = offline_browser.visit(page.as_uri(), wait_for="#chart svg g.frame")
    offline_browser.screenshot(visit, SCREENSHOT)

    assert visit.external == []
    assert visit.console_errors == []
    assert any("/assets/d3-flame-graph@4.1.3/" in url for url in visit.requests)
    # The flame graph itself: d3-flame-graph draws one <g class="frame"> per stack frame shown,
    # named by its source line; the lab's build call (bench/memory.py) is on every stack.
    names = visit.page.eval_on_selector_all("#chart svg g.frame", "frames => frames.map(f => f.getAttribute('name'))")
    assert len(names) >= 5, names
    assert any("probe.build()" in name for name in names), names
    widths = visit.page.eval_on_selector_all("#chart svg g.frame rect", "rects => rects.map(r => r.getBBox().width)")
    assert max(widths) > 100  # the root spans the chart, not a collapsed 0-width graph
    # plotly drew the memory-over-time graph in the header.
    assert visit.page.locator("#smallMemoryGraph .main-svg").count() >= 1
    # memray 1.20's "Total number of frames seen" (Stats) reads 0 even with the JS loaded: its
    # writer no longer counts Python frames (memray.FileReader(...).metadata.total_frames is 0 for
    # any capture here), so the frames are checked in the drawn graph above instead.
