"""The report page in headless Chromium, offline: every family's section and every plot is there
and drawn, nothing is fetched, nothing fails in the console; a screenshot is kept under
reports/latest/screenshots/report.png for a person to look at."""

from __future__ import annotations

import json
from pathlib import Path

from bench import report, service_report
from impls import registry
from tests.report import synthetic

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "latest" / "screenshots" / "report.png"

#: Per plot: its size on the page, how many shapes it draws, and whether every <use> (a glyph,
#: a marker) finds what it refers to in the page.
DRAWN = """() => [...document.querySelectorAll('figure.plot')].map(f => {
  const svg = f.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const uses = svg ? [...svg.querySelectorAll('use')] : [];
  const broken = uses.filter(u => {
    const ref = u.getAttribute('href') || u.getAttribute('xlink:href') || '';
    return !document.getElementById(ref.slice(1));
  }).length;
  return {id: f.id, section: f.closest('section').id, width: box.width, height: box.height,
          shapes: svg ? svg.querySelectorAll('path, use, rect').length : 0, uses: uses.length, broken};
})"""


def test_report_renders_offline(tmp_path, offline_browser):
    folder = tmp_path / "latest"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(synthetic.document()))
    page_path = report.write(folder / "results.json", folder / "index.html")

    visit = offline_browser.visit(page_path.as_uri(), wait_for="section#service figure.plot svg")
    offline_browser.screenshot(visit, SCREENSHOT)

    assert visit.external == [], f"the page fetched from the network: {visit.external}"
    assert visit.requests == [page_path.as_uri()], f"the page fetched more than itself: {visit.requests}"
    assert visit.console_errors == []

    page = visit.page
    for family in registry.families() + [service_report.FAMILY]:
        section = page.locator(f"section#{family}")
        assert section.is_visible(), family
        assert section.locator("figure.plot").count() >= 1, f"{family}: no plot"
    drawn = page.evaluate(DRAWN)
    assert len(drawn) >= 5
    for plot in drawn:
        assert plot["width"] > 200 and plot["height"] > 50, plot
        assert plot["shapes"] > 10 and plot["uses"] > 0 and plot["broken"] == 0, plot
    assert {p["section"] for p in drawn} == set(registry.families()) | {service_report.FAMILY}
    assert SCREENSHOT.stat().st_size > 10_000
