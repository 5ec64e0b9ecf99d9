"""The report page: one HTML file with its style and figures inline, and nothing else.

It opens offline and fetches nothing: no script, no stylesheet, font or image from anywhere
(the figures are inline SVG, the fonts the reader's own), and a Content-Security-Policy that
forbids every fetch should anything slip in. Links go only to files beside it (relative), and
only to those that existed when it was written. Every text that comes from results.json or a
file name is escaped. The same results.json and files give the same bytes: nothing here reads
the clock.

The tables are the README's (bench.summary.rows, bench.service_report.table_rows, the targets'
verdicts from bench.targets): the page and the README come from the same results.json.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from impls import registry

from bench import service_report, summary, targets
from bench.cases import cases
from bench.report import artifacts
from bench.report.sections import Plot, family_plots

CSS = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #5a5a5a; --rule: #d8d8d8; --band: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 16px; border-bottom: 1px solid var(--rule); }
h1 { font-size: 26px; margin: 8px 0; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-top: 8px; border-top: 3px solid var(--ink); }
h3 { font-size: 16px; margin: 22px 0 6px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--band); padding: 0 3px; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.env dt { color: var(--muted); }
dl.env dd { margin: 0; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
figure.plot { margin: 16px 0; }
figure.plot svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; max-width: 80ch; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--band); position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.no { color: #b00020; font-weight: 600; }
.empty, .skipped { color: var(--muted); }
footer { color: var(--muted); font-size: 13px; padding: 24px 20px; }
"""
#: No fetch of any kind is allowed: styles are inline, figures inline SVG, no script at all.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
#: What writes a section's figures when results.json has none of its family.
MAKES = {service_report.FAMILY: "make load"}


def inline_markdown(text: str) -> str:
    """Escaped text with the markdown the lab's generated prose uses: `code` and **bold**."""
    out, parts = [], escape(text).split("`")
    for k, part in enumerate(parts):
        if k % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def table(header: list[str], rows: list[list[str]], numeric: range = range(0)) -> str:
    """An HTML table; cells of the columns in `numeric` are figures: right-aligned, unbroken."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for k, cell in enumerate(row):
            cls = ' class="num"' if k in numeric else ""
            cells.append(f"<td{cls}>{inline_markdown(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + \
        "\n</tbody></table></div>"


def families_of(doc: dict) -> list[str]:
    """The sections: every family of this checkout, the service, then any other in results.json."""
    known = registry.families() + [service_report.FAMILY]
    seen = []
    for r in doc["results"]:
        if r["family"] not in known and r["family"] not in seen:
            seen.append(r["family"])
    return known + seen


def header(doc: dict, families: list[str], other_links: list[artifacts.Link]) -> str:
    git, env = doc["git"], doc["env"]
    commit = git.get("commit") or "unknown"
    dirty = " (uncommitted changes)" if git.get("dirty") else ""
    facts = [("measured", doc["created"]), ("git commit", commit + dirty),
             ("CPU", env["cpu"]), ("cores", str(env["cores"])), ("Python", env["python"]),
             ("results schema", str(doc.get("schema", "")))]
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    packages = sorted(env.get("packages", {}).items())
    package_table = table(["package", "version"], [[k, v] for k, v in packages]) if packages else ""
    nav = "".join(f'<li><a href="#{escape(f)}">{escape(f)}</a></li>' for f in families)
    parts = ["<header>", "<h1>The hot-path lab: results</h1>",
             f"<p>{inline_markdown(summary.provenance(doc))}</p>", f'<dl class="env">{dl}</dl>']
    if package_table:
        parts.append(f"<details><summary>package versions ({len(packages)})</summary>{package_table}</details>")
    parts.append(f"<nav><ul>{nav}</ul></nav>")
    if other_links:
        parts.append("<p>Other pages of this run:</p>" + links(other_links))
    parts.append("</header>")
    return "\n".join(parts)


def links(found: list[artifacts.Link]) -> str:
    items = "".join(f'<li><a href="{escape(link.href)}">{escape(link.text)}</a> <span class="empty">'
                    f"({escape(link.kind)})</span></li>" for link in found)
    return f"<ul>{items}</ul>"


def figure(plot: Plot) -> str:
    return (f'<figure class="plot" id="fig-{escape(plot.name)}">\n{plot.svg}'
            f"<figcaption>{inline_markdown(plot.caption)}</figcaption></figure>")


def _case_docs(family: str) -> list[tuple[str, str]]:
    try:
        return [(c.name, c.doc) for c in cases(family) if c.doc]
    except ModuleNotFoundError:  # a family this checkout does not have
        return []


def section(doc: dict, family: str, found: list[artifacts.Link]) -> str:
    parts = [f'<section id="{escape(family)}">', f"<h2>{escape(family)}</h2>"]
    records = [r for r in doc["results"] if r["family"] == family]
    if not records:
        parts.append(f'<p class="empty">No figures of {escape(family)} in this results.json '
                     f"(<code>{escape(MAKES.get(family, 'make bench'))}</code> measures them).</p>")
    documented = _case_docs(family)
    if documented:
        items = "".join(f"<dt><code>{escape(n)}</code></dt><dd>{inline_markdown(d)}</dd>" for n, d in documented)
        parts.append(f'<details><summary>what each case measures</summary><dl class="env">{items}</dl></details>')
    skipped = [s for s in doc.get("skipped", []) if s["family"] == family]
    if skipped:
        parts.append('<ul class="skipped">' + "".join(
            f"<li>skipped {escape(s['impl'])}: {escape(s['reason'])}</li>" for s in skipped) + "</ul>")
    parts += [figure(p) for p in family_plots(doc, family)]
    if family == service_report.FAMILY and records:
        head, rows = service_report.table_rows(records)
        parts += ["<h3>Load runs</h3>", table(head, rows, numeric=range(4, len(head)))]
        reach = service_report.reach(doc)
        if reach:
            parts.append(f"<p>{inline_markdown(reach)}</p>")
    verdicts = targets.evaluate(doc, family)
    if verdicts:
        rows = [[v.target.text, " ".join(f"{k}={x}" for k, x in v.params.items()), v.measured,
                 "yes" if v.met else "**no**"] for v in verdicts]
        parts += ["<h3>Targets</h3>", table(["target", "params", "measured (same run)", "met"], rows)]
    for _, head, rows in summary.rows(doc, [family]):
        parts += ["<h3>Every figure</h3>",
                  "<p>Medians per call or per item; × is the speed-up over pure in the same run.</p>",
                  table(head, rows, numeric=range(3, len(head) - 1))]  # the last: a sentence
    if found:
        parts += ["<h3>Profiles, flamegraphs and load reports</h3>", links(found)]
    parts.append("</section>")
    return "\n".join(parts)


def render(doc: dict, folder: Path) -> str:
    """The page for `doc`, linking the files found under `folder` (where the page is written)."""
    families = families_of(doc)
    by_family, other = artifacts.find(folder, families)
    commit = (doc["git"].get("commit") or "unknown")[:10]
    body = [header(doc, families, other), "<main>"]
    body += [section(doc, f, by_family.get(f, [])) for f in families]
    body += ["</main>", "<footer>Written by <code>python -m bench report</code> from results.json; every figure, "
             "table and plot comes from it.</footer>"]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hot-path lab results, {escape(doc['created'])}, {escape(commit)}</title>",
        f"<style>{CSS}</style>", "</head>", "<body>", *body, "</body>", "</html>", ""])
