"""Redis or the log away: the gateway answers 503 (gRPC UNAVAILABLE) within a bounded time --
never a 500, never a hang -- and serves again by itself once the server is back; every order
it accepted is in the log, before, during and after.

"Away" is either a crash (SIGKILL: connections are refused or reset at once; the server did
none of the refused work) or a hang (SIGSTOP: connections open, nothing answers -- the case
--timeout exists for). A crashed Redis comes back from its append-only file; the embedded
Kafka broker keeps everything in memory, so it comes back empty and the topic is created
again, as an operator would. A hung server, once it runs again, still does what it had
received before the gateway gave up on it: a refused order may be in the log after all (a
retry without a key is then a second copy), and a claim the gateway never heard back about
holds its key until the in-flight TTL (30 s) frees it (409 meanwhile).

Each test has its own servers and its own gateway, never the session's Redis, which must not
be crashed or stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest

from bench.backends.kafka import KafkaBroker, create_topic
from bench.backends.redis import RedisServer
from tests.service.service_harness import (JSON, Grpc, Rest, assert_accepted_in_log, logged_count, new_key,
                                           new_order, running_service, wait_for)

pytestmark = pytest.mark.timeout(120)

#: The gateway's --timeout (Redis calls and appends; the Kafka appender keeps deadlines of its
#: own, since librdkafka scans for timed-out messages only once a second).
TIMEOUT_S = {"redis": 0.5, "kafka": 0.5}
#: How long a gateway may take to serve again once its server is back.
RECOVER_S = 30.0
#: Generous limits: the fault tests send many orders.
LIMITS = ("--limit-capacity", "100000", "--limit-rate", "100000")


@contextlib.contextmanager
def hung(server):
    """The server hangs (SIGSTOP) inside the block, and runs again (SIGCONT) after it."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def crashed(after=None):
    """A fault: the server is killed (SIGKILL) inside the block and restarted after it (then `after(server)`)."""

    @contextlib.contextmanager
    def fault(server):
        server.kill()
        try:
            yield
        finally:
            server.restart()
            if after is not None:
                after(server)

    return fault


@dataclass(frozen=True)
class Tried:
    order: dict
    key: str | None


class Probe:
    """Orders sent to one gateway during and after a fault, each answer checked."""

    def __init__(self, service, timeout_s: float):
        self.service, self.bound_s = service, 3 * timeout_s
        self.rest, self.rpc = Rest(service), Grpc(service)

    def close(self) -> None:
        self.rest.close()
        self.rpc.close()

    def accepted(self, keyed: bool) -> None:
        """An order goes through on REST and on gRPC."""
        reply = self.rest.order(new_order(), key=new_key("up") if keyed else None)
        assert reply.status == 201, (reply.status, reply.body)
        result = self.rpc.submit(new_order(), new_key("up") if keyed else None)
        assert result.code == grpc.StatusCode.OK, (result.code, result.details)

    def refused(self, keyed: tuple[bool, ...] = (True, False)) -> list[Tried]:
        """Orders with (and without) a key, at once on every transport: each 503 / UNAVAILABLE
        within 3 x --timeout, a SubmitMany stream's acks "unavailable". The orders tried."""
        calls = []
        for with_key in keyed:
            for transport in ("json", "msgpack", "grpc", "stream"):
                calls.append((transport, new_order(), new_key("down") if with_key else None))
        with ThreadPoolExecutor(len(calls)) as pool:
            list(pool.map(lambda call: self._refused(*call), calls))
        return [Tried(order, key) for transport, order, key in calls if transport != "stream"]

    def _refused(self, transport: str, order: dict, key: str | None) -> None:
        if transport in ("json", "msgpack"):
            reply = self.rest.order(order, transport, key, fresh=True)
            assert reply.status == 503, (reply.status, reply.body)
            assert reply.content_type == JSON and reply.body["field"] is None and reply.body["error"]
            seconds = reply.seconds
        elif transport == "grpc":
            result = self.rpc.submit(order, key)
            assert result.code == grpc.StatusCode.UNAVAILABLE, (result.code, result.details)
            seconds = result.seconds
        else:
            many = self.rpc.submit_many([order, new_order()], key)
            assert many.code == grpc.StatusCode.OK, (many.code, many.details)
            assert [a.status for a in many.ack.acks] == ["unavailable"] * 2 and many.ack.accepted == 0
            seconds = many.seconds
        assert seconds < self.bound_s, f"{transport}: refused after {seconds:.2f} s, beyond {self.bound_s} s"

    def recovers(self, tried: list[Tried], after_hang: bool, keys_held: bool = False) -> None:
        """The server is back: each order tried is sent again (REST, its key) until it is
        answered -- 503 until then, nothing else -- and a new one goes through. After a crash
        each goes through as new; after a hang a keyed one may be replayed (the server did it
        late) or its key held by the lost claim (409; the in-flight TTL frees it). `keys_held`:
        the gateway could not tell the crash from a hang (an append that timed out, on Kafka),
        so it kept the keys of what it refused: 409 for those, and no second copy."""
        for attempt in tried:
            allowed = {201, 503} | ({409} if (after_hang or keys_held) and attempt.key is not None else set())

            def answered(attempt=attempt, allowed=allowed):
                reply = self.rest.order(attempt.order, key=attempt.key)
                assert reply.status in allowed, (reply.status, reply.body)
                if reply.status == 201 and not after_hang:
                    assert "idempotent-replayed" not in reply.headers, "a refused order was stored"
                return reply.status != 503

            wait_for(answered, RECOVER_S, "the gateway answers again", every_s=0.1)
        self.accepted(keyed=True)

    def assert_effects(self, tried: list[Tried], after_hang: bool, only_since: bool = False,
                       keys_held: bool = False) -> None:
        """Every accepted order is in the log (in the partition its ack named). After a crash
        each order tried is there exactly once; after a hang one without a key at least once
        (refused, stored late, and sent again: twice) and a keyed one at most once (an append
        that timed out keeps its key claimed, so the retry is 409 rather than a second copy)."""
        only = {t.order["id"] for t in tried} if only_since else None
        logged = assert_accepted_in_log(self.service, only)
        counts = {t.order["id"]: logged_count(logged, t.order["id"]) for t in tried}
        if keys_held:  # a keyed order refused then held (409) is not in the log; never twice
            assert all(counts[t.order["id"]] in ((1,) if t.key is None else (0, 1)) for t in tried), counts
            return
        if not after_hang:
            assert set(counts.values()) == {1}, counts
            return
        twice = [t.order["id"] for t in tried if t.key is not None and counts[t.order["id"]] > 1]
        assert not twice, f"keyed orders in the log twice: {twice}"


def gateway(*args: str, backend: str, tmp_path):
    return running_service("--backend", backend, *args, "--timeout", str(TIMEOUT_S[backend]), *LIMITS,
                           stderr_dir=tmp_path)


# --- Redis -------------------------------------------------------------------------------------
@pytest.fixture(params=["split", "shared"])
def redis_layout(request, tmp_path):
    """split: idempotency keys on one Redis, the log (Streams) on another; shared: both on one
    (claim, append and answer are one script). Both keep an AOF: a crash loses nothing acknowledged."""
    topic = f"lab:faults:{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        keys = stack.enter_context(RedisServer(appendonly=True))
        log = stack.enter_context(RedisServer(appendonly=True)) if request.param == "split" else keys
        service = stack.enter_context(gateway("--redis-url", keys.url, "--log-url", log.url, "--topic", topic,
                                              backend="redis", tmp_path=tmp_path))
        probe = stack.enter_context(contextlib.closing(Probe(service, TIMEOUT_S["redis"])))
        yield request.param, keys, log, probe


@pytest.mark.parametrize("fault", [crashed(), hung], ids=["crashed", "hung"])
def test_idempotency_redis_away_is_503_and_recovers(redis_layout, fault):
    layout, keys, _, probe = redis_layout
    probe.accepted(keyed=True)
    with fault(keys):
        if layout == "split":
            tried = probe.refused(keyed=(True,))
            probe.accepted(keyed=False)  # an order without a key needs no Redis but the log's
        else:
            tried = probe.refused()
    probe.recovers(tried, after_hang=fault is hung)
    probe.assert_effects(tried, after_hang=fault is hung)  # a claim or script Redis ran late: never twice


@pytest.mark.parametrize("fault", [crashed(), hung], ids=["crashed", "hung"])
def test_the_redis_log_away_is_503_and_recovers(tmp_path, fault):
    with contextlib.ExitStack() as stack:
        keys = stack.enter_context(RedisServer())
        log = stack.enter_context(RedisServer(appendonly=True))
        service = stack.enter_context(gateway("--redis-url", keys.url, "--log-url", log.url, "--topic",
                                              f"lab:faults:{uuid.uuid4().hex[:8]}", backend="redis",
                                              tmp_path=tmp_path))
        probe = stack.enter_context(contextlib.closing(Probe(service, TIMEOUT_S["redis"])))
        probe.accepted(keyed=True)
        with fault(log):
            tried = probe.refused()
        probe.recovers(tried, after_hang=fault is hung)  # a keyed order refused after its claim: released
        probe.assert_effects(tried, after_hang=fault is hung)


# --- Kafka -------------------------------------------------------------------------------------
@pytest.fixture
def kafka_gateway(redis_target, tmp_path):
    """A gateway whose log is a broker of the test's own (the session's Redis for the keys)."""
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(KafkaBroker())
        service = stack.enter_context(gateway("--log-url", broker.bootstrap, "--redis-url", redis_target.url,
                                              "--topic", f"lab.faults.{uuid.uuid4().hex[:8]}", backend="kafka",
                                              tmp_path=tmp_path))
        probe = stack.enter_context(contextlib.closing(Probe(service, TIMEOUT_S["kafka"])))
        yield broker, probe


def test_the_kafka_log_hung_is_503_and_recovers(kafka_gateway):
    broker, probe = kafka_gateway
    probe.accepted(keyed=True)
    with hung(broker):
        tried = probe.refused()
    probe.recovers(tried, after_hang=True)
    probe.assert_effects(tried, after_hang=True)


def test_the_kafka_log_crashed_is_503_and_recovers_once_its_topic_is_back(kafka_gateway):
    broker, probe = kafka_gateway
    service = probe.service
    probe.accepted(keyed=True)
    with crashed(after=lambda b: create_topic(b.bootstrap, service.topic, service.partitions))(broker):
        tried = probe.refused()
    probe.recovers(tried, after_hang=False, keys_held=True)
    # The broker kept its log in memory: only what was accepted since it came back is there.
    probe.assert_effects(tried, after_hang=False, only_since=True, keys_held=True)
