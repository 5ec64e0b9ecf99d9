"""The asv site opens offline: a small site built with the lab's suites (one benchmark per family,
asv --quick, for HEAD), made offline by bench.web.offline, served on 127.0.0.1 and opened in
Chromium with the network cut off -- the summary and a graph of every family drawn by flot."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.web import offline
from impls import registry

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "reports" / "latest" / "screenshots"
#: One cheap benchmark per family: enough for a graph of each, in about a minute with --quick.
BENCHMARKS = {
    "hashring": "hashring.JumpHash.time_1000_jumps",
    "ratelimit": "ratelimit.BucketAcquire.time_acquire",
    "serial": "serial.OrderCodec.track_bytes_per_msg",
    "workerpool": "workerpool.Kernel.time_process_batch",
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _asv(*args: str, config: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "asv", *args, "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"asv {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def asv_site(tmp_path_factory) -> Path:
    """The published site (its html dir), built once for this module's tests."""
    tmp = tmp_path_factory.mktemp("asv")
    # The lab's own asv.conf.json (JSON with // comments), with results and html in tmp, so that
    # the lab's reports/asv history is left as it was.
    conf = json.loads(re.sub(r"^\s*//.*$", "", (ROOT / "asv.conf.json").read_text(), flags=re.M))
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "bench" / "asv"), env_dir=str(tmp / "env"),
                results_dir=str(tmp / "results"), html_dir=str(tmp / "html"),
                branches=[branch if branch != "HEAD" else "main"])
    config = tmp / "asv.conf.json"
    config.write_text(json.dumps(conf))
    _asv("machine", "--yes", config=config)
    # asv matches a parameterized benchmark as "name(param, ...)": anchor the name, then "(".
    bench_args = [arg for name in BENCHMARKS.values() for arg in ("-b", rf"^{re.escape(name)}\(")]
    # --quick: one call per cell; with --set-commit-hash asv keeps the figures, which is all a
    # page needs.
    _asv("run", "--python=same", "--quick", f"--set-commit-hash={_git('rev-parse', 'HEAD')}", *bench_args,
         config=config)
    # asv lists every benchmark it discovered, run or not, and the summary page would then ask for
    # graphs of 25 benchmarks that have none (404s): keep the listing to those run.
    listing = tmp / "results" / "benchmarks.json"
    discovered = json.loads(listing.read_text())
    listing.write_text(json.dumps({k: v for k, v in discovered.items()
                                   if k == "version" or k in BENCHMARKS.values()}))
    _asv("publish", config=config)
    html = tmp / "html"
    offline.make_site_offline(html)
    return html


def test_every_family_has_a_benchmark_here():
    assert sorted(BENCHMARKS) == sorted(registry.families())


def test_summary_draws_every_family(asv_site, serve_directory, offline_browser):
    base = serve_directory(asv_site)
    visit = offline_browser.visit(base + "index.html", wait_for="#summarygrid-display .benchmark-container")
    page = visit.page
    assert not page.url.endswith("error.html")  # where asv goes when a script fails to load
    for name in BENCHMARKS.values():
        thumbnail = page.locator(f'[id="summarygrid-{name}"]')
        thumbnail.scroll_into_view_if_needed()  # asv draws a thumbnail once it is in view
        # flot's plot on the thumbnail, holding this benchmark's summary point (one commit: a
        # line of one point, so the thumbnail itself shows no stroke to look for).
        page.wait_for_function("""id => {
            const plot = $(document.getElementById(id)).data('plot');
            return plot && plot.getData()[0].data.some(p => p && p[1] !== null);
        }""", arg=f"summarygrid-{name}", timeout=15_000)
    offline_browser.screenshot(visit, SCREENSHOTS / "asv.png")

    assert visit.external == []
    assert visit.console_errors == []
    assert any("/vendor/flot@0.8.3/jquery.flot.js" in url for url in visit.requests)


@pytest.mark.parametrize("family", sorted(BENCHMARKS))
def test_graph_of_each_family_is_drawn(asv_site, serve_directory, offline_browser, family):
    base = serve_directory(asv_site)
    name = BENCHMARKS[family]
    visit = offline_browser.visit(f"{base}index.html#{name}", wait_for="#main-graph canvas.flot-base")
    page = visit.page
    # flot keeps the plot on its placeholder: the series it drew, one per parameter combination.
    page.wait_for_function("() => { const p = $('#main-graph').data('plot');"
                           " return p && p.getData().length > 0; }", timeout=15_000)
    points = page.evaluate("() => $('#main-graph').data('plot').getData()"
                           ".map(s => s.data.filter(p => p && p[1] !== null).length)")
    offline_browser.screenshot(visit, SCREENSHOTS / f"asv-{family}.png")

    assert sum(points) >= 1, f"{name}: no point drawn ({points})"
    assert page.locator("#main-graph canvas.flot-base").bounding_box()["width"] > 200
    assert visit.external == []
    assert visit.console_errors == []
