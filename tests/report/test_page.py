"""The report page: every family's section and plots, inline SVG only, no fetch of anything,
escaped text, links only to files that exist, and the same bytes from the same results.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from bench import report, results, service_report, summary
from impls import registry

SECTIONS = registry.families() + [service_report.FAMILY]
#: The plots a full run's results.json gives each section (bench.report.sections).
PLOTS = {
    "hashring": ["vs-pure", "vs-peer", "batch", "balance", "moved", "balance_vnodes", "moved_vnodes", "memory",
                 "startup"],
    "ratelimit": ["vs-pure", "vs-peer", "batch", "memory", "startup", "values-0"],
    "serial": ["vs-pure", "vs-peer", "batch", "memory", "startup", "values-0"],
    "workerpool": ["vs-pure", "drain", "latency", "memory", "startup"],
    "service": ["cpu"],
}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the section each one is in."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict, str | None]] = []
        self.section: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
        self.tags.append((tag, attrs, self.section))


def tags(html: str) -> list[tuple[str, dict, str | None]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def section_html(html: str, family: str) -> str:
    found = re.search(rf'<section id="{family}">(.*?)</section>', html, re.S)
    assert found, f"no section {family}"
    return found.group(1)


def test_every_family_has_its_section_and_plots(synthetic_page):
    _, html = synthetic_page
    for family in SECTIONS:
        body = section_html(html, family)
        for plot in PLOTS[family]:
            figure = re.search(rf'<figure class="plot" id="fig-{family}-{plot}">(.*?)</figure>', body, re.S)
            assert figure, f"{family}: no plot {plot}"
            assert figure.group(1).count("<svg") == 1 and "</svg>" in figure.group(1)
            assert "<figcaption>" in figure.group(1)
            assert re.search(r"<path d=", figure.group(1)), f"{family}-{plot}: an empty SVG"


def test_the_page_fetches_nothing(synthetic_page):
    _, html = synthetic_page
    assert not re.search(r"https?:|//[a-z0-9]", html, re.I), "a URL in the page"
    assert not re.search(r"@import|url\(\s*['\"]?[a-z]+:", html, re.I)
    for tag, attrs, _ in tags(html):
        assert tag not in ("script", "link", "img", "iframe", "object", "embed", "video", "audio", "source")
        for name in ("src", "srcset", "data", "poster", "action"):
            assert name not in attrs, f"<{tag} {name}=...>"
        href = attrs.get("href") or attrs.get("xlink:href")
        if href is not None:
            assert not re.match(r"[a-z][a-z0-9+.-]*:", href, re.I), f"<{tag} href={href}> leaves the folder"
    csp = [a for t, a, _ in tags(html) if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_ids_are_unique_across_the_inline_svgs(synthetic_page):
    _, html = synthetic_page
    ids = [a["id"] for _, a, _ in tags(html) if "id" in a]
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:5]
    # every in-page reference (glyphs, clip paths) points at an id of the page
    for ref in set(re.findall(r'(?:href="|url\()#([^")]+)', html)):
        assert ref in ids, ref


def test_environment_at_the_top(synthetic_page, synthetic_doc):
    _, html = synthetic_page
    top = html[:html.index("<main>")]
    env = synthetic_doc["env"]
    git = synthetic_doc["git"]
    for text in (env["cpu"], env["python"], str(env["cores"]), git["commit"], synthetic_doc["created"]):
        assert text in top
    for name, version in env["packages"].items():
        assert f"<td>{name}</td><td>{version}</td>" in top


def test_tables_are_the_readmes(synthetic_page, synthetic_doc):
    """The README's table rows (bench.summary) and the service's (bench.service_report), cell by cell."""
    _, html = synthetic_page
    for family, _, rows in summary.rows(synthetic_doc):
        body = section_html(html, family)
        for row in rows[:10]:
            assert all(f">{cell}</td>" in body for cell in row), row
    head, rows = service_report.table_rows(synthetic_doc["results"])
    body = section_html(html, service_report.FAMILY)
    assert all(f"<th>{h}</th>" in body for h in head)
    assert all(f">{cell}</td>" in body for row in rows for cell in row)
    # the markdown table the README prints is built from the same rows
    markdown = service_report.table(synthetic_doc["results"]).splitlines()
    assert len(markdown) == 2 + len(rows) and markdown[2] == "| " + " | ".join(rows[0]) + " |"


def test_text_from_results_is_escaped(tmp_path):
    """In the tables, the environment, and the plots (whose labels matplotlib also writes into
    SVG comments: a parameter value that closes a comment must not open a tag)."""
    hostile = "--><script>alert(1)</script>"
    records = [{"family": "hashring", "case": "lookup", "impl": impl, "role": "tier", "params": {"note": hostile},
                "metric": "time", "unit": "ns/op", "value": v, "q1": v, "q3": v, "n": 3, "better": "lower"}
               for impl, v in (("pure", 100.0), ("cython", 10.0))]
    doc = results.new_document(records, [{"family": "serial", "impl": "peer:x", "reason": "<script>x</script>"}])
    doc["env"]["cpu"] = "<b>Evil & Co</b>"
    (tmp_path / "results.json").write_text(json.dumps(doc))
    html = report.write(tmp_path / "results.json", tmp_path / "index.html").read_text()
    assert 'id="fig-hashring-vs-pure"' in html  # the hostile label is drawn
    assert "<script" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in html
    assert [t for t, _, _ in tags(html) if t == "script"] == []


def test_links_go_to_the_files_found_beside_the_page(tmp_path):
    folder = tmp_path / "latest"
    files = ["memray/hashring-memory-cython-nodes100.html", "profiles/hashring-cython.html",
             "profiles/workerpool-drain-cython.svg", "profiles/serial-native-cython.txt",
             "load/cython-rest-orders-json.html", "load/cython-rest-orders-json_stats.csv",
             "profiles/unowned & odd.html"]
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    (tmp_path / "asv" / "html").mkdir(parents=True)
    (tmp_path / "asv" / "html" / "index.html").write_text("x")
    records = [{"family": "hashring", "case": "lookup", "impl": "pure", "role": "tier", "params": {"nodes": 10},
                "metric": "time", "unit": "ns/op", "value": 100.0, "q1": 99.0, "q3": 101.0, "n": 5, "better": "lower"}]
    (folder / "results.json").write_text(json.dumps(results.new_document(records)))
    html = report.write(folder / "results.json", folder / "index.html").read_text()
    hrefs = {a["href"]: section for tag, a, section in tags(html) if tag == "a" and not a["href"].startswith("#")}
    assert hrefs == {
        "../asv/html/index.html": None, "profiles/unowned & odd.html": None,
        "memray/hashring-memory-cython-nodes100.html": "hashring", "profiles/hashring-cython.html": "hashring",
        "profiles/workerpool-drain-cython.svg": "workerpool", "profiles/serial-native-cython.txt": "serial",
        "load/cython-rest-orders-json.html": "service", "load/cython-rest-orders-json_stats.csv": "service"}
    assert 'href="profiles/unowned &amp; odd.html"' in html
    # nothing there, nothing linked (and no asv site beside it)
    bare = tmp_path / "elsewhere" / "latest"
    bare.mkdir(parents=True)
    (bare / "results.json").write_text(json.dumps(results.new_document(records)))
    html = report.write(bare / "results.json", bare / "index.html").read_text()
    assert not [a for tag, a, _ in tags(html) if tag == "a" and not a["href"].startswith("#")]


def test_a_real_run_renders_the_same_bytes_twice(real_results, tmp_path):
    """Rendered by the CLI in a process of its own and in this one: byte for byte the same."""
    out = tmp_path / "a.html"
    done = subprocess.run([sys.executable, "-m", "bench", "report", "--results", str(real_results / "results.json"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    again = report.write(real_results / "results.json", tmp_path / "b.html")
    assert out.read_bytes() == again.read_bytes()
    html = out.read_text()
    body = section_html(html, "hashring")
    for plot in ("vs-pure", "batch", "balance"):
        assert f'id="fig-hashring-{plot}"' in body
    # the quick run holds one node count: the caption says what was not swept
    assert "no sweep over nodes was measured" in body
    for family in SECTIONS[1:]:
        assert "No figures of" in section_html(html, family)
    assert not re.search(r"https?:", html)


@pytest.mark.parametrize("family", ["hashring"])
def test_batch_plot_pairs_the_scalar_call_with_the_batch(real_results, family):
    doc = results.load(real_results / "results.json")
    from bench.report import sections

    plots = {p.name: p for p in sections.family_plots(doc, family)}
    batch = plots[f"{family}-batch"]
    sizes = sorted({r["params"]["keys"] for r in doc["results"] if r["case"] == "lookup_many"})
    assert f"({', '.join(f'{s:,}' for s in sizes)})" in batch.caption
    assert "<!-- lookup → lookup_many -->" in batch.svg  # a panel's title (glyphs drawn as paths, text in a comment)
