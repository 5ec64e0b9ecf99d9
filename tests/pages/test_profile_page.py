"""A pyinstrument profile written by the lab (bench.profiling, as `make profile` runs it) opens
offline: pyinstrument's app would add Google Fonts from its script; the lab's copy fetches nothing
and still draws the call tree."""

from pathlib import Path

from bench import lineup, profiling

SCREENSHOT = Path(__file__).resolve().parents[2] / "reports" / "latest" / "screenshots" / "profile.png"


def test_pyinstrument_profile_renders_offline(tmp_path, offline_browser):
    page = profiling.profile(lineup.get("hashring", "pure"), tmp_path, quick=True)

    visit = offline_browser.visit(page.as_uri(), wait_for="text=profile_workload")
    offline_browser.screenshot(visit, SCREENSHOT)

    assert visit.external == []
    assert "fonts.googleapis.com" not in page.read_text()
    assert visit.console_errors == []
    # the call tree: the workload's frame, and the ring's methods it called
    assert visit.page.get_by_text("profile_workload").count() >= 1
    assert visit.page.get_by_text("lookup_many").count() >= 1
