"""`python -m bench serve` as a process: its ready line, what it starts and stops, and a start
that fails saying why (what the harness shows)."""

import psutil
import pytest

from tests.service.service_harness import Rest, ServiceFailed, assert_accepted_in_log, new_order, running_service

pytestmark = pytest.mark.timeout(120)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_without_urls_it_starts_its_own_servers_and_sigterm_stops_them(tmp_path):
    with running_service("--backend", "kafka", stderr_dir=tmp_path) as service:
        ready = service.ready
        assert ready["http"].startswith("http://127.0.0.1:") and ready["grpc"].startswith("127.0.0.1:")
        assert ready["service_pids"] == [service.process.pid]
        assert ready["topic"] == "lab.orders" and ready["partitions"] == 8 and ready["backend"] == "kafka"
        assert ready["redis_url"].startswith("redis://127.0.0.1:") and ready["log_url"].startswith("127.0.0.1:")
        pids = ready["backend_pids"]
        assert len(pids) == 2 and not any(_gone(p) for p in pids)
        rest = Rest(service)
        try:
            assert rest.order(new_order(), key="test-serve-1").status == 201
        finally:
            rest.close()
        assert_accepted_in_log(service)
    # It shut down rather than being killed by the signal (or by the harness after STOP_TIMEOUT_S).
    assert service.process.returncode == 0, service.stderr_tail()
    assert all(_gone(p) for p in pids), [p for p in pids if not _gone(p)]


@pytest.mark.parametrize("args, words", [
    (["--partitions", "0"], ["partitions"]),
    (["--limit", "nowhere"], ["--limit", "nowhere"]),
    (["--impl", "no-such-tier"], ["no-such-tier"]),
])
def test_a_start_that_fails_shows_why(tmp_path, args, words):
    with pytest.raises(ServiceFailed) as failed:
        with running_service("--backend", "redis", *args, stderr_dir=tmp_path):
            pass
    for word in words:
        assert word in str(failed.value)
