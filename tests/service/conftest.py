"""Service fixtures: the gateway (`python -m bench serve`) as subprocesses started on first use
and kept for the whole session (`services`), and clients bound to one.

The services use the session's Redis (tests/conftest.py `redis_target`) for idempotency keys,
a topic of their own, and a small per-client burst (LIMIT_CAPACITY, nearly no refill) so that
a test drives one client over its limit with one SubmitMany stream; every other test uses
fresh user ids, so the limit never gets in its way. When the session ends, every order a
client saw accepted must be in the log of the service that accepted it. The fault tests
(test_faults.py) start services of their own, on servers they crash.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest

from bench.service.server import DEFAULT_GRPC_SERVER
from tests.service.service_harness import Grpc, Rest, Service, assert_accepted_in_log, running_service

#: Burst per client (user_id): above the 100 concurrent repeats of test_idempotency.
LIMIT_CAPACITY = 120
#: Refill per second: next to nothing, so a drained client stays drained during a test (Retry-After 100).
LIMIT_RATE = 0.01
#: Prefix of the Idempotency-Keys the tests make (service_harness.new_key), for the clean-up.
KEY_PREFIX = "lab:idem:test-"


def service_args(backend: str, redis_url: str, topic: str, *extra: str) -> list[str]:
    """`bench serve` options for a service on the Redis at `redis_url`; the log is that Redis too
    for --backend redis (claim, append and answer in one script); for kafka, --log-url in
    `extra`, or the service starts a broker of its own."""
    args = ["--backend", backend, "--redis-url", redis_url, "--topic", topic]
    if backend == "redis":
        args += ["--log-url", redis_url]
    return args + list(extra)


def topic_name(backend: str) -> str:
    # Kafka topics of the lab start with "lab."; Redis keys of the lab with "lab:".
    return f"lab.svc.{uuid.uuid4().hex[:8]}" if backend == "kafka" else f"lab:svc:{uuid.uuid4().hex[:8]}"


class Services:
    """The session's services, one per (backend, gRPC server, limits), started on first use."""

    def __init__(self, redis_url: str, stderr_dir):
        self.redis_url, self.stderr_dir = redis_url, stderr_dir
        self._stack = contextlib.ExitStack()
        self._started: dict[tuple, Service] = {}
        self._topics: list[tuple[str, str]] = []
        self._broker = None

    def get(self, backend: str, grpc_server: str = DEFAULT_GRPC_SERVER, limit_capacity: float = LIMIT_CAPACITY,
            limit_rate: float = LIMIT_RATE) -> Service:
        key = (backend, grpc_server, limit_capacity, limit_rate)
        if key not in self._started:
            topic = topic_name(backend)
            self._topics.append((backend, topic))
            args = service_args(backend, self.redis_url, topic, "--grpc-server", grpc_server, "--timeout", "2",
                                "--limit-capacity", str(limit_capacity), "--limit-rate", str(limit_rate))
            if backend == "kafka":  # one broker for the session (test_serve covers the embedded one)
                args += ["--log-url", self._kafka_bootstrap()]
            self._started[key] = self._stack.enter_context(running_service(*args, stderr_dir=self.stderr_dir))
        return self._started[key]

    def _kafka_bootstrap(self) -> str:
        if self._broker is None:
            from bench.backends.kafka import kafka_target

            self._broker = self._stack.enter_context(kafka_target())  # stopped after the services
        return self._broker.bootstrap

    def close(self) -> None:
        """Check every service's log, stop them all, and delete what they left on the servers."""
        try:
            for service in self._started.values():
                assert service.alive(), f"the service died:\n{service.stderr_tail()}"
                assert_accepted_in_log(service)
        finally:
            try:
                self._clean()
            finally:
                self._stack.close()

    def _clean(self) -> None:
        import redis

        from bench.backends.redis import delete_prefix
        from impls.workerpool.log import delete_topic

        for backend, topic in self._topics:
            if backend == "redis":
                delete_topic("redis", self.redis_url, topic)
        kafka_topics = [topic for backend, topic in self._topics if backend == "kafka"]
        if kafka_topics and self._broker is not None and self._broker.external:  # KAFKA_BOOTSTRAP's cluster
            from bench.backends.kafka import delete_topics

            delete_topics(self._broker.bootstrap, kafka_topics)
        client = redis.Redis.from_url(self.redis_url, socket_timeout=10)
        try:
            delete_prefix(client, KEY_PREFIX)
        finally:
            client.close()


@pytest.fixture(scope="session")
def services(redis_target, tmp_path_factory):
    found = Services(redis_target.url, tmp_path_factory.mktemp("service"))
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(params=["redis", "kafka"])
def service(request, services) -> Service:
    """The gateway with its log on Redis Streams (the session's Redis: claim, append and answer
    are one script) or on Kafka (the session's broker: claim, append, answer are three steps)."""
    return services.get(request.param)


@pytest.fixture
def rest(service):
    client = Rest(service)
    yield client
    client.close()


@pytest.fixture
def rpc(service):
    client = Grpc(service)
    yield client
    client.close()
