"""The harness cannot rot unnoticed: a quick run of every family into a temp folder must give a
schema-2 results.json with a figure for every case and implementation, and a summary."""

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
    assert doc["schema"] == 2 and doc["env"]["cores"] >= 1
    seen = {(r["case"], r["impl"]) for r in doc["results"]}
    for case in cases(family):
        for impl in lineup.available(family):
            if case.applies(impl) and any(case.applies_at(impl, params) for params in case.grid(True)):
                assert (case.name, impl.name) in seen, f"no figure for {case.name}/{impl.name}"
    for r in doc["results"]:
        assert r["role"] == lineup.role_of(family, r["impl"])
        if r["metric"] == "time":
            assert r["q1"] <= r["value"] <= r["q3"] and r["value"] > 0 and r["better"] == "lower"
    assert "### " + family in (tmp_path / "summary.md").read_text()


def _rec(impl, value, metric="time", unit="ns/op", better="lower", case="lookup", **extra):
    role = "peer" if impl.startswith("peer:") else "backend" if impl == "redis" else "tier"
    return {"family": "hashring", "case": case, "impl": impl, "role": role, "params": {"nodes": 10}, "metric": metric,
            "unit": unit, "value": value, "better": better, **({"q1": value, "q3": value, "n": 3} if metric == "time"
                                                                else {}), **extra}


def test_schema_rejects_a_timing_without_quartiles():
    rec = _rec("pure", 1.0)
    del rec["q1"]
    with pytest.raises(Exception, match="q1"):
        results.validate(results.new_document([rec]))


def test_schema_2_requires_role_and_direction():
    for field in ("role", "better"):
        rec = _rec("pure", 1.0)
        del rec[field]
        with pytest.raises(Exception, match=field):
            results.validate(results.new_document([rec]))


def test_schema_admits_distributions_and_cpu_time():
    rec = _rec("pure", 1.0, metric="latency", unit="us", percentiles={"p50": 1.0, "p99": 4.5, "p99.9": 9.0}, cpu=0.4)
    results.validate(results.new_document([rec]))
    rec["percentiles"] = {"median": 1.0}
    with pytest.raises(Exception):
        results.validate(results.new_document([rec]))


def test_a_schema_1_file_validates_and_is_upgraded(tmp_path):
    """Files written before schema 2 stay readable: roles from names, directions from units."""
    old = {"schema": 1, "created": "2026-11-21T10:00:00Z", "git": {"commit": None, "dirty": False},
           "env": {"python": "3.11.7", "cpu": "x", "cores": 2, "packages": {}},
           "results": [{"family": "hashring", "case": "lookup", "impl": "peer:uhashring", "params": {},
                        "metric": "time", "unit": "ns/op", "value": 2.0, "q1": 1.0, "q3": 3.0, "n": 5},
                       {"family": "ratelimit", "case": "redis_server_time", "impl": "pure", "params": {},
                        "metric": "acquire_many_throughput", "unit": "decisions/s", "value": 1e5}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    doc = results.load(path)
    assert doc["schema"] == 2
    assert [(r["role"], r["better"]) for r in doc["results"]] == [("peer", "lower"), ("tier", "higher")]
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
    doc = results.new_document([_rec("pure", 400.0), _rec("cython", 100.0), _rec("peer:uhashring", 1200.0)])
    text = summary.markdown(doc)
    assert "100 ns/op (4.0×)" in text
    assert "cython 12.0× faster than peer:uhashring" in text


def test_higher_is_better_where_the_metric_says_so():
    """Throughput: the best is the highest, and a target's speed-up reads the same way."""
    from bench import targets

    def rec(impl, v):
        return _rec(impl, v, metric="throughput", unit="msg/s", better="higher", case="drain")

    pool = [rec("pure", 1000.0), rec("numba", 4000.0), rec("cython", 3000.0), rec("peer:x", 2000.0)]
    assert results.best(pool)["impl"] == "numba"
    assert results.advantage(pool[1], pool[0]) == 4.0
    target = targets.Target("drain", "best tier >= 1.5x peer", metric="throughput", faster_than="peer:x",
                            min_speedup=1.5)
    assert targets._pick(target, {r["impl"]: r for r in pool})["impl"] == "numba"


def test_a_backend_has_its_own_column_and_is_not_a_tier():
    recs = [_rec("pure", 400.0), _rec("redis", 90_000.0), _rec("peer:limits", 1200.0)]
    doc = results.new_document([{**r, "family": "ratelimit"} for r in recs])
    (_, header, body), = summary.rows(doc)
    assert header[3:6] == ["pure", "redis", "peer:limits"]
    assert body[0][-1] == "pure 3.0× faster than peer:limits"  # the backend is not the best tier


def test_readme_section_is_generated_from_results(tmp_path):
    from bench import readme

    path = results.write(results.new_document([_rec("pure", 321.0)]), tmp_path)
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
