"""bench.web.offline without a browser: the vendored files are the ones the manifest lists, and a
page's CDN tags are rewritten to them -- or the page is refused."""

import hashlib
import re
from pathlib import Path

import asv
import memray
import pytest

from bench.web import offline

ASV_WWW = Path(asv.__file__).parent / "www"
MEMRAY_TEMPLATES = Path(memray.__file__).parent / "reporters" / "templates"


def test_every_vendored_file_matches_the_manifest_and_has_its_licence():
    packages = offline.manifest()["packages"]
    listed = set()
    for key, package in packages.items():
        assert package["tarball"].startswith("https://registry.npmjs.org/"), key
        assert (offline.VENDOR / package["license_file"]).is_file(), key
        for path, digest in package["files"].items():
            assert hashlib.sha256((offline.VENDOR / path).read_bytes()).hexdigest() == digest, path
            listed.add(path)
        listed.add(package["license_file"])
    on_disk = {p.relative_to(offline.VENDOR).as_posix() for p in offline.VENDOR.rglob("*") if p.is_file()}
    assert on_disk - listed == {"MANIFEST.json", "README.md"}
    for url, entry in offline.manifest()["cdn"].items():
        assert entry["file"] in packages[entry["file"].split("/", 1)[0]]["files"], url


@pytest.mark.parametrize("template", [ASV_WWW / "index.html", MEMRAY_TEMPLATES / "base.html",
                                      MEMRAY_TEMPLATES / "flamegraph.html"], ids=lambda p: p.name)
def test_the_installed_tools_load_only_cdn_urls_the_manifest_knows(template):
    """After an asv or memray upgrade that moves to other CDN files, this names them."""
    urls = offline.remote_assets(template.read_text())
    assert urls
    assert set(urls) <= set(offline.manifest()["cdn"])


def test_asv_page_is_rewritten_to_relative_copies(tmp_path):
    site = tmp_path / "html"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text((ASV_WWW / "index.html").read_text())
    (site / "sub" / "page.html").write_text('<link rel="stylesheet" '
                                            'href="https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css">')
    changed = offline.make_site_offline(site)

    assert set(changed) == {site / "index.html", site / "sub" / "page.html"}
    index = (site / "index.html").read_text()
    assert offline.remote_assets(index) == []
    assert '<script src="vendor/jquery@3.3.1/dist/jquery.min.js" onerror="js_load_failure()"></script>' in index
    assert not re.search(r"integrity|crossorigin", index)
    assert 'href="../vendor/bootstrap@3.1.1/dist/css/bootstrap.min.css"' in (site / "sub" / "page.html").read_text()
    # Whole packages are copied, so the fonts Bootstrap's CSS points at and the licences come along.
    assert (site / "vendor" / "bootstrap@3.1.1" / "dist" / "fonts" / "glyphicons-halflings-regular.woff").is_file()
    assert (site / "vendor" / "flot@0.8.3" / "LICENSE.txt").is_file()
    assert offline.make_site_offline(site) == []  # a second run has nothing left to do


def test_urls_inside_scripts_and_links_to_follow_are_left_alone(tmp_path):
    page = tmp_path / "page.html"
    html = ('<a href="https://bloomberg.github.io/memray/">docs</a>'
            '<script>const s = \'<script src="https://example.com/x.js">\';</script>')
    page.write_text(html)
    assert offline.make_offline([page], tmp_path / "assets") == []
    assert page.read_text() == html


@pytest.mark.parametrize("tag", [
    '<script src="https://cdn.example.com/unknown.js"></script>',
    '<link rel="stylesheet" href="//cdn.example.com/unknown.css">',
    '<img src="https://example.com/logo.png">',
    '<style>@import url("https://fonts.example.com/font.css");</style>',
])
def test_a_page_still_loading_from_the_network_is_refused(tmp_path, tag):
    page = tmp_path / "page.html"
    page.write_text(f"<html><head>{tag}</head></html>")
    with pytest.raises(offline.OnlineAssetError, match="page.html"):
        offline.make_offline([page], tmp_path / "assets")
