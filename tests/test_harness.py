"""The harness cannot rot unnoticed: a quick run of every family into a temp folder must give a
schema-1 results.json with a figure for every case and implementation, and a summary."""

import json
import subprocess
import sys

import pytest

from bench import lineup, results, summary
from bench.cases import cases
from impls import registry


@pytest.mark.parametrize("family", registry.families())
def test_quick_run_writes_valid_results(tmp_path, family):
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--quick", "--family", family, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    results.validate(doc)
    assert doc["schema"] == 1 and doc["env"]["cores"] >= 1
    seen = {(r["case"], r["impl"]) for r in doc["results"]}
    for case in cases(family):
        for impl in lineup.available(family):
            if case.applies(lineup.load(family, impl)):
                assert (case.name, impl) in seen, f"no figure for {case.name}/{impl}"
    for r in doc["results"]:
        if r["metric"] == "time":
            assert r["q1"] <= r["value"] <= r["q3"] and r["value"] > 0
    assert "### " + family in (tmp_path / "summary.md").read_text()


def test_schema_rejects_a_timing_without_quartiles():
    doc = results.new_document([{"family": "hashring", "case": "lookup", "impl": "pure", "params": {},
                                 "metric": "time", "unit": "ns/op", "value": 1.0}])
    with pytest.raises(Exception, match="q1"):
        results.validate(doc)


def test_merge_replaces_only_the_figures_measured_again():
    old = results.new_document([
        {"family": "f", "case": "a", "impl": "pure", "params": {"n": 1}, "metric": "m", "unit": "u", "value": 1},
        {"family": "f", "case": "b", "impl": "pure", "params": {"n": 1}, "metric": "m", "unit": "u", "value": 2},
    ])
    new = results.new_document([
        {"family": "f", "case": "b", "impl": "pure", "params": {"n": 1}, "metric": "m", "unit": "u", "value": 3},
    ])
    merged = results.merge(old, new)
    assert sorted((r["case"], r["value"]) for r in merged["results"]) == [("a", 1), ("b", 3)]


def test_summary_shows_speedups_over_pure_and_the_best_peer():
    rec = lambda impl, v: {"family": "hashring", "case": "lookup", "impl": impl, "params": {"nodes": 10},  # noqa: E731
                           "metric": "time", "unit": "ns/op", "value": v, "q1": v, "q3": v, "n": 3}
    doc = results.new_document([rec("pure", 400.0), rec("cython", 100.0), rec("peer:uhashring", 1200.0)])
    text = summary.markdown(doc)
    assert "100 ns/op (4.0×)" in text
    assert "cython 12.0× faster than peer:uhashring" in text


def test_readme_section_is_generated_from_results(tmp_path):
    from bench import readme

    rec = {"family": "hashring", "case": "lookup", "impl": "pure", "params": {"nodes": 10}, "metric": "time",
           "unit": "ns/op", "value": 321.0, "q1": 300.0, "q3": 330.0, "n": 5}
    path = results.write(results.new_document([rec]), tmp_path)
    page = tmp_path / "README.md"
    page.write_text(f"# x\n\n{readme.BEGIN}\nold\n{readme.END}\ntail\n")
    readme.update(page, path)
    text = page.read_text()
    assert "321 ns/op" in text and "old" not in text and text.endswith("tail\n")


def test_profile_and_mem_commands_write_their_reports(tmp_path):
    run = lambda *args: subprocess.run([sys.executable, "-m", "bench", *args, "--family", "hashring",  # noqa: E731
                                        "--impl", "pure", "--quick", "--out", str(tmp_path)],
                                       capture_output=True, text=True, timeout=300)
    done = run("profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pyinstrument" in (tmp_path / "profiles" / "hashring-pure.html").read_text()[:20000].lower()
    done = run("mem")
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "memray").glob("hashring-memory-pure-*.html"))
    doc = results.load(tmp_path / "results.json")
    peaks = [r for r in doc["results"] if r["metric"] == "peak_memory"]
    assert peaks and all(r["value"] > 0 for r in peaks)


def test_asv_suite_is_discoverable():
    done = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No problems found" in done.stdout
