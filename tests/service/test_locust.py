"""The locustfiles against a running gateway: a short headless Locust run of the mixed traffic
(valid orders, replays, key conflicts, hot clients over their limit, malformed bodies) must see
only the answers bench/locust/traffic.py expects -- a failure names an answer the API should not
give. Started and stopped with the helpers of `python -m bench load` (bench/load_processes.py),
so every process ends with the test, on failure too. No timing is asserted: `make load` measures.
"""

from __future__ import annotations

import pytest

from bench.load_processes import LocustRun, counted, run_locust, running_service, scrape

#: Few users at a modest pace: every kind of mixed request within the first seconds.
USERS, USER_RATE = 4, 10


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(log=tmp_path_factory.mktemp("locust") / "service.log") as svc:
        yield svc


def _mix(service, transport: str, seconds: float, tmp_path) -> dict:
    host = service.http if transport == "rest" else service.grpc
    args = [f"--{transport}-scenario", "mix", "--user-rate", str(USER_RATE)]
    result = run_locust(LocustRun(transport, host, USERS, seconds, tmp_path / f"{transport}-mix", args))
    assert (tmp_path / f"{transport}-mix_stats.csv").exists() and (tmp_path / f"{transport}-mix.html").exists()
    return result.summary


def _requests(summary: dict) -> dict[str, int]:
    return {entry["name"]: entry["requests"] for entry in summary["entries"]}


def test_rest_mix_has_no_unexpected_answers(service, tmp_path):
    summary = _mix(service, "rest", 8, tmp_path)
    assert summary["failures"] == [], "unexpected answers: " + "; ".join(
        f"{f['name']}: {f['error']} x{f['occurrences']}" for f in summary["failures"])
    sent = _requests(summary)
    for name in ("POST /orders", "POST /orders [replay]", "POST /orders [hot user]", "POST /orders [malformed]"):
        assert sent.get(name, 0) > 0, f"no {name!r} in {sorted(sent)}"
    # The hot clients' bursts went over their limit: the 429s were answered, and judged expected.
    assert counted(scrape(service.http), "gateway_requests_total", transport="rest", status="429") > 0


def test_grpc_mix_has_no_unexpected_answers(service, tmp_path):
    summary = _mix(service, "grpc", 5, tmp_path)
    assert summary["failures"] == [], "unexpected answers: " + "; ".join(
        f"{f['name']}: {f['error']} x{f['occurrences']}" for f in summary["failures"])
    sent = _requests(summary)
    for name in ("Submit", "Submit [hot user]", "Submit [malformed]"):
        assert sent.get(name, 0) > 0, f"no {name!r} in {sorted(sent)}"
    assert counted(scrape(service.http), "gateway_requests_total", transport="grpc",
                   status="RESOURCE_EXHAUSTED") > 0
