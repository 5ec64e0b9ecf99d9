"""Pages that open with no network: every CDN <script>/<link> of a generated page is pointed at the
lab's vendored copy (bench/web/vendor, listed in its MANIFEST.json), copied next to the page.

asv's site and memray's flamegraphs are written by the tools themselves, with jQuery, flot,
Bootstrap, d3... loaded from CDNs: offline, asv's page only says "Can not determine continental
origin of swallow" and memray's has no flame graph. The lab rewrites each page after the tool
wrote it. URLs stay relative (`vendor/jquery@3.3.1/dist/jquery.min.js`), so a site still opens
after it is moved or copied elsewhere.

A page that would still fetch anything from the network after the rewrite -- a CDN URL the
manifest does not know, say after a tool upgrade -- raises OnlineAssetError naming the page and
the URLs: vendor that file (see vendor/README.md) rather than publish a page that breaks offline.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

VENDOR = Path(__file__).with_name("vendor")
#: The folder an asv site's assets are copied into, beside its index.html.
SITE_ASSETS = "vendor"


class OnlineAssetError(RuntimeError):
    """A page still loads something from the network after the rewrite."""


@functools.cache
def manifest() -> dict:
    return json.loads((VENDOR / "MANIFEST.json").read_text())


# A whole <script>/<style> element (its body is code or CSS, not markup: a URL inside a JS string is
# not a request the page makes as it loads, and must not be rewritten), else any opening tag.
_ELEMENT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|<[a-zA-Z][^>]*>", re.I | re.S)
_OPENING_TAG = re.compile(r"<[a-zA-Z][^>]*>", re.S)
_TAG_NAME = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)")
_URL_ATTR = re.compile(r"""(\s(?:src|href)\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
# What a CDN tag carries for the CDN's sake: the integrity hashes are of the CDN's bytes (flot's
# copy here is the unminified source of the same release, so its hash differs), and crossorigin
# on a file:// page makes Chromium refuse the script.
_CDN_ATTRS = re.compile(r"""\s(?:integrity|crossorigin|referrerpolicy)(?:\s*=\s*(["']).*?\1)?""", re.I | re.S)
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
_SRC = re.compile(r"""\s(?:src|srcset|poster|data)\s*=\s*(["']?)\s*((?:https?:)?//[^"'\s>]+)""", re.I)
_HREF = re.compile(r"""\shref\s*=\s*(["']?)\s*((?:https?:)?//[^"'\s>]+)""", re.I)
_CSS_URL = re.compile(r"""(?:url\(\s*|@import\s+)(["']?)\s*((?:https?:)?//[^"')\s]+)""", re.I)


def rewrite(html: str, local_url: Callable[[str], str | None]) -> tuple[str, set[str]]:
    """`html` with the src of each <script> and the href of each <link> that `local_url` maps
    replaced by the local URL (and the CDN-only attributes dropped); the remote URLs replaced."""
    replaced: set[str] = set()

    def tag(match: re.Match) -> str:
        text = match.group(0)
        name = _TAG_NAME.match(text).group(1).lower()
        if name not in ("script", "link"):
            return text
        opening = _OPENING_TAG.match(text).group(0)

        def attribute(attr: re.Match) -> str:
            url = attr.group(3)
            local = local_url(url) if _REMOTE.match(url) else None
            if local is None:
                return attr.group(0)
            replaced.add(url)
            return f"{attr.group(1)}{attr.group(2)}{local}{attr.group(2)}"

        new_opening = _URL_ATTR.sub(attribute, opening)
        if new_opening != opening:
            new_opening = _CDN_ATTRS.sub("", new_opening)
        return new_opening + text[len(opening):]

    return _ELEMENT.sub(tag, html), replaced


def remote_assets(html: str) -> list[str]:
    """Every URL the page would fetch from the network as it loads: src (and srcset, poster,
    data) of any element, href of a <link>, url() and @import in <style> and style attributes.
    Links a reader may follow (<a href>) are not fetched, so not listed."""
    found = []
    for match in _ELEMENT.finditer(html):
        text = match.group(0)
        name = _TAG_NAME.match(text).group(1).lower()
        if name == "style":
            found += [m.group(2) for m in _CSS_URL.finditer(text)]
            continue
        opening = _OPENING_TAG.match(text).group(0)
        found += [m.group(2) for m in _SRC.finditer(opening)]
        if name == "link":
            found += [m.group(2) for m in _HREF.finditer(opening)]
        found += [m.group(2) for m in _CSS_URL.finditer(opening)]
    return found


def _copy_package(package: str, assets: Path) -> None:
    """Copy a vendored package's files (its licence among them) under `assets`, checking each
    against the manifest's sha256; a file already there with those bytes is left alone."""
    entry = manifest()["packages"][package]
    for relative, digest in [*entry["files"].items(), (entry["license_file"], None)]:
        source, target = VENDOR / relative, assets / relative
        data = source.read_bytes()
        if digest is not None and hashlib.sha256(data).hexdigest() != digest:
            raise OnlineAssetError(f"{source} does not match its sha256 in {VENDOR / 'MANIFEST.json'}")
        if target.exists() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def make_offline(pages: Iterable[Path], assets: Path) -> list[Path]:
    """Rewrite each page so that its CDN scripts and stylesheets load from copies under `assets`
    (whole packages, licences included, at relative URLs); return the pages that changed.

    Raises OnlineAssetError if a page would still fetch anything from the network."""
    cdn = manifest()["cdn"]
    changed, offline = [], []
    for page in pages:
        html = page.read_text(encoding="utf-8")

        def local_url(url: str, page: Path = page) -> str | None:
            entry = cdn.get(url.strip())
            if entry is None:
                return None
            return Path(os.path.relpath(assets / entry["file"], page.parent)).as_posix()

        new_html, replaced = rewrite(html, local_url)
        for package in sorted({cdn[url.strip()]["file"].split("/", 1)[0] for url in replaced}):
            _copy_package(package, assets)
        if new_html != html:
            page.write_text(new_html, encoding="utf-8")
            changed.append(page)
        if still := remote_assets(new_html):
            offline.append(f"{page}: {', '.join(sorted(set(still)))}")
    if offline:
        raise OnlineAssetError("pages still load assets from the network (vendor them in "
                               f"{VENDOR}, see its README.md):\n  " + "\n  ".join(offline))
    return changed


# pyinstrument's HTML inlines its app, which adds a Google Fonts stylesheet from JavaScript when
# the page opens: not a tag `rewrite` can see. An empty stylesheet in its place (a data: URL, no
# request) leaves the page in the system's fonts, which is all the fonts ever changed.
_WEB_FONTS = re.compile(r"""https://fonts\.googleapis\.com/css[^"'\s]*""")
EMPTY_STYLESHEET = "data:text/css,"


def without_web_fonts(html: str) -> str:
    """`html` with every Google Fonts stylesheet URL (in its scripts too) replaced by an empty one."""
    return _WEB_FONTS.sub(EMPTY_STYLESHEET, html)


def make_site_offline(site: Path) -> list[Path]:
    """Make every page of a published site (asv's html_dir) load its assets from `site/vendor`;
    its stylesheets are checked too. Running it again on a rewritten site changes nothing."""
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site} has no index.html: publish the site first")
    changed = make_offline(sorted(site.rglob("*.html")), site / SITE_ASSETS)
    vendored = site / SITE_ASSETS
    for css in sorted(site.rglob("*.css")):
        if vendored not in css.parents and (still := remote_assets(f"<style>{css.read_text()}</style>")):
            raise OnlineAssetError(f"{css} still loads {', '.join(still)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Point a published site's CDN assets at the lab's vendored "
                                                 "copies (copied into SITE/vendor); fail if anything stays online.")
    parser.add_argument("site", type=Path, help="the site's folder (asv's html_dir), with its index.html")
    args = parser.parse_args(argv)
    try:
        changed = make_site_offline(args.site)
    except (OnlineAssetError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.site}: offline ({len(changed)} page(s) rewritten, assets in {args.site / SITE_ASSETS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
