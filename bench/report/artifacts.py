"""The other pages and files a run left beside results.json, found when the report is written
(only what exists is linked): memray flamegraphs, CPU profiles (pyinstrument HTML, py-spy SVG,
native profiles: every file under profiles/), Locust's HTML and CSV reports, and the asv site.

Each file is given to the family its name starts with (`<family>-...`, as bench.memory and
bench.profiling name them); Locust's reports belong to the service. Links are relative to the
report's folder, so the folder can be moved or archived whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench import service_report

#: (group, glob under the report's folder, what the files are): the order the page lists them in.
#: profiles/ holds what `make profile` writes -- pyinstrument pages, py-spy and native flame
#: graphs, folded stacks -- whatever its name: every file is listed, by its suffix.
GROUPS = (
    ("memray", "memray/*.html", "memray flame graph"),
    ("profiles", "profiles/*", None),
    ("load", "load/*.html", "Locust report"),
    ("load", "load/*.csv", "Locust CSV"),
)
BY_SUFFIX = {".html": "profile page", ".svg": "flame graph", ".txt": "text"}
#: `make asv` publishes next to the run folders: reports/asv/html/index.html.
ASV_INDEX = Path("..") / "asv" / "html" / "index.html"


@dataclass(frozen=True)
class Link:
    href: str    # relative to the report's folder, "/"-separated
    text: str    # the file name
    kind: str    # what it is, for the reader


def _owner(name: str, families: list[str], group: str) -> str | None:
    if group == "load":
        return service_report.FAMILY
    return next((f for f in families if name.startswith(f"{f}-")), None)


def find(folder: Path, families: list[str]) -> tuple[dict[str, list[Link]], list[Link]]:
    """(family -> its links, links of no family: the asv site and unclaimed files), sorted by name."""
    folder = Path(folder)
    by_family: dict[str, list[Link]] = {}
    other: list[Link] = []
    asv = folder / ASV_INDEX
    if asv.is_file():
        other.append(Link(ASV_INDEX.as_posix(), "asv: every benchmark over the commit history", "asv site"))
    for group, pattern, kind in GROUPS:
        for path in sorted(p for p in folder.glob(pattern) if p.is_file()):
            link = Link(path.relative_to(folder).as_posix(), path.name, kind or BY_SUFFIX.get(path.suffix, "file"))
            owner = _owner(path.name, families, group)
            (by_family.setdefault(owner, []) if owner else other).append(link)
    return by_family, other
