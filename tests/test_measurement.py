"""The measurement model: whatever a measurement set up -- a thread, a connection, a server --
is torn down when it fails halfway, when it is interrupted, and when its set-up fails; the
harness reports the failure and goes on; shared servers end with the run."""

import io
import threading

import pytest

from bench import harness, lineup
from bench.backends import process as server_processes
from bench.backends import redis as redis_backend
from bench.cases import Case, Timed
from bench.measurement import Figure, Figures, Measurement
from bench.timing import QUICK


class Poller(Measurement):
    """Starts what a throughput measurement starts: a private redis-server, a connection to
    another server, a worker thread; then fails wherever it is told to."""

    def __init__(self, other_url: str, fail_in: str):
        self.other_url, self.fail_in = other_url, fail_in
        self.server = self.thread = self.client = None

    def setup(self):
        from impls.ratelimit.redis import connect

        self.server = self.enter_context(redis_backend.RedisServer())
        self.client = connect(self.other_url, timeout=5.0)
        self.callback(self.client.close)
        self.client.client_setname("lab-test-poller")
        stop = threading.Event()
        self.thread = threading.Thread(target=stop.wait, name="lab-test-poller", daemon=True)
        self.thread.start()
        self.callback(self.thread.join, 10)
        self.callback(stop.set)  # run first: stacks unwind last-in, first-out
        if self.fail_in == "setup":
            raise RuntimeError("set-up failed halfway")

    def output(self):
        return self.client.ping()

    def measure(self, budget):
        if self.fail_in == "measure":
            raise RuntimeError("measurement failed halfway")
        if self.fail_in == "interrupt":
            raise KeyboardInterrupt
        return [Figure("polls", "1", 1.0)]


def _case(other_url: str, fail_in: str, made: list) -> Case:
    def prepare(impl, params):
        made.append(Poller(other_url, fail_in))
        return made[-1]

    return Case("hashring", "poller", "figures", lambda quick: [{}], prepare, reference=None,
                invariant=lambda output, params: None if output is True else "no PONG")


def _named_connections(url: str) -> int:
    from impls.ratelimit.redis import connect

    client = connect(url, timeout=5.0)
    try:
        return sum(1 for c in client.client_list() if c.get("name") == "lab-test-poller")
    finally:
        client.close()


def _assert_nothing_left(poller: Poller, other_url: str) -> None:
    assert not poller.thread.is_alive(), "the worker thread is still running"
    assert not poller.server.running and poller.server.pid is None, "the private redis-server is still running"
    assert poller.server not in server_processes._live
    assert _named_connections(other_url) == 0, "the connection is still open"


def _cell(case: Case):
    out = harness.Outcome()
    progress = harness.Progress(1, stream=io.StringIO())
    impl = lineup.spec("hashring")
    harness._run_cell(case, impl, {}, harness._LazyReference(case, {}), QUICK, progress, out)
    return out


@pytest.mark.parametrize("fail_in", ["setup", "measure"])
def test_teardown_runs_when_a_measurement_fails_halfway(redis_target, fail_in):
    made: list = []
    out = _cell(_case(redis_target.url, fail_in, made))
    assert len(out.failures) == 1 and "failed halfway" in out.failures[0], out.failures
    assert out.records == []
    _assert_nothing_left(made[0], redis_target.url)


def test_teardown_runs_on_ctrl_c_and_the_interrupt_goes_on(redis_target):
    made: list = []
    with pytest.raises(KeyboardInterrupt):
        _cell(_case(redis_target.url, "interrupt", made))
    _assert_nothing_left(made[0], redis_target.url)


def test_a_measurement_that_succeeds_is_torn_down_too(redis_target):
    made: list = []
    out = _cell(_case(redis_target.url, "nothing", made))
    assert out.failures == [] and [r["metric"] for r in out.records] == ["polls"]
    assert out.records[0]["role"] == "tier" and out.records[0]["better"] == "lower"
    _assert_nothing_left(made[0], redis_target.url)


def test_a_wrong_output_is_reported_and_not_measured():
    measured = []
    case = Case("hashring", "wrong", "figures", lambda quick: [{}],
                lambda impl, p: Figures(lambda: measured.append(1) or [Figure("x", "1", 1.0)]),
                reference=lambda params: [Figure("x", "1", 2.0)])
    out = _cell(case)
    assert len(out.failures) == 1 and "differs from the reference" in out.failures[0]
    assert out.records == [] and measured == [1]  # computed once, for the check, never recorded


def test_a_timed_measurement_records_cpu_time_beside_wall_time():
    case = Case("hashring", "sum", "time", lambda quick: [{}],
                lambda impl, p: Timed(fn=sum, args=[range(100)] * 10, output=lambda: 4950), unit="ns/op",
                reference=lambda params: 4950)
    out = _cell(case)
    assert out.failures == []
    (rec,) = out.records
    assert rec["unit"] == "ns/op" and rec["q1"] <= rec["value"] <= rec["q3"] and rec["cpu"] > 0


def test_a_run_stops_its_shared_redis_and_closes_every_connection(monkeypatch):
    """The Redis cases of a real run: each cell's connection and prefix are its own, and the
    server the run started is stopped when the run ends."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    servers_before = set(server_processes._live)
    out = harness.run(["ratelimit"], ["redis"], quick=True, case_names=["redis_ping", "redis_acquire"],
                      with_startup=False, stream=io.StringIO())
    assert out.failures == []
    assert {(r["case"], r["impl"], r["role"]) for r in out.records} == {
        ("redis_ping", "redis", "backend"), ("redis_acquire", "redis", "backend")}
    assert redis_backend._shared.server is None and set(server_processes._live) <= servers_before
    assert not [t for t in threading.enumerate() if t.name.startswith("lab-")]
