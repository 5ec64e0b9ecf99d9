"""What the service tests share: the gateway (`python -m bench serve`) as a subprocess that is
always stopped, clients for its REST and gRPC faces that remember every accepted order, and
a reader of the log it appends to.

* `running_service(...)` -- a context manager: the service on ephemeral ports (the starter
  `make load` uses, bench/load_processes.py: its ready line read in time, else ServiceFailed
  with its stderr; stopped by SIGTERM, SIGKILL if it lingers, on failure too).
* `Rest`, `Grpc` -- thin clients; every 201 / OK ack is kept in `Accepted`, so a test (or the
  fixture that owns the service) can check that every accepted order is in the log.
* `read_log(...)` -- every message of the topic, decoded (Redis Streams by XRANGE, Kafka by a
  consumer assigned to every partition, read up to the high watermarks).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import msgpack
import requests

from bench import load_processes
from bench.load_processes import Service, ServiceFailed  # noqa: F401 - ServiceFailed: for the tests
from bench.service import gateway_pb2
from impls.serial import decode_order, encode_order, order_pb2

#: Every HTTP/gRPC call of a test is bounded by this (a hung service fails the test, not the run).
CALL_TIMEOUT_S = 15.0

JSON = "application/json"
MSGPACK = "application/msgpack"

_ids = itertools.count(random.randrange(1, 2**40) * 1000)


def next_id() -> int:
    """A fresh positive id (orders and users): unique within this test process."""
    return next(_ids)


def new_key(label: str = "k") -> str:
    """A fresh Idempotency-Key (unique across runs sharing one Redis)."""
    return f"test-{label}-{uuid.uuid4().hex}"


def new_order(user: int | None = None, **fields) -> dict:
    """A valid order (JSON form) with a fresh id and, unless given, a fresh user."""
    order = {"id": next_id(), "user_id": user or next_id(), "symbol": "ACME", "side": "BUY", "price": 101.25,
             "qty": 3, "tags": ["t1"], "meta": {"venue": "XLON", "flags": 1}}
    order.update(fields)
    return order


def changed_order(change: dict) -> dict:
    """A new valid order with `change` applied: a value replaces a field, None removes it."""
    order = new_order()
    for name, value in change.items():
        if value is None:
            del order[name]
        else:
            order[name] = value
    return order


def as_proto(order: dict) -> bytes:
    return encode_order(order)


# ------------------------------------------------------------------------------------------------
# The service process
# ------------------------------------------------------------------------------------------------
@dataclass
class Accepted:
    """Orders the service accepted (201 / OK): order id -> the partitions its acks named."""

    partitions: dict[int, set[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, order_id: int, partition: int) -> None:
        with self.lock:
            self.partitions.setdefault(order_id, set()).add(partition)


@contextlib.contextmanager
def running_service(*args: str, stderr_dir: Path | None = None) -> Iterator[Service]:
    """The service with these `bench serve` options on ephemeral ports, ready, with a record of
    the orders it accepted (`accepted`); always stopped (bench.load_processes.running_service)."""
    with contextlib.ExitStack() as stack:
        if stderr_dir is None:
            stderr_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lab-service-")))
        service = stack.enter_context(load_processes.running_service(
            *args, log=stderr_dir / f"service-{uuid.uuid4().hex[:8]}.stderr"))
        service.accepted = Accepted()
        yield service


@dataclass
class Reply:
    status: int
    headers: dict           # lower-case names
    body: object            # the decoded body (JSON or msgpack), or the raw bytes if neither
    content_type: str
    seconds: float


class Rest:
    """POSTs orders to one service; remembers the accepted ones in its `accepted`."""

    def __init__(self, service: Service):
        self.service = service
        self.session = requests.Session()

    def post(self, path: str, data: bytes | object = b"", content_type: str | None = JSON,
             key: str | None = None, headers: dict | None = None, fresh: bool = False) -> Reply:
        """POST raw bytes (or an iterable, sent chunked); `fresh`: a connection of its own (threads)."""
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if key is not None:
            sent["Idempotency-Key"] = key
        start = time.monotonic()
        poster = requests.post if fresh else self.session.post
        response = poster(self.service.http + path, data=data, headers=sent, timeout=CALL_TIMEOUT_S)
        reply = _reply(response, time.monotonic() - start)
        if path == "/orders" and reply.status == 201:
            self.service.accepted.add(reply.body["order_id"], reply.body["partition"])
        return reply

    def order(self, order: object, fmt: str = "json", key: str | None = None, fresh: bool = False,
              **options) -> Reply:
        """POST /orders with `order` encoded as JSON or msgpack."""
        if fmt == "json":
            return self.post("/orders", json.dumps(order).encode(), JSON, key, fresh=fresh, **options)
        return self.post("/orders", msgpack.packb(order), MSGPACK, key, fresh=fresh, **options)

    def get(self, path: str) -> Reply:
        start = time.monotonic()
        return _reply(self.session.get(self.service.http + path, timeout=CALL_TIMEOUT_S), time.monotonic() - start)

    def close(self) -> None:
        self.session.close()


def _reply(response: requests.Response, seconds: float) -> Reply:
    content_type = response.headers.get("content-type", "").split(";", 1)[0]
    body: object = response.content
    if content_type == JSON:
        body = response.json()
    elif content_type == MSGPACK:
        body = msgpack.unpackb(response.content)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, body, content_type,
                 seconds)


@dataclass
class GrpcResult:
    code: grpc.StatusCode
    ack: object = None               # gateway_pb2.Ack or gateway_pb2.Acks when OK
    details: str = ""
    trailers: dict = field(default_factory=dict)
    seconds: float = 0.0


class Grpc:
    """Calls OrderService on one service; remembers the accepted orders."""

    def __init__(self, service: Service):
        self.service = service
        self.channel = grpc.insecure_channel(service.grpc)
        self._submit = self.channel.unary_unary("/lab.OrderService/Submit", request_serializer=None,
                                                response_deserializer=gateway_pb2.Ack.FromString)
        self._submit_many = self.channel.stream_unary("/lab.OrderService/SubmitMany", request_serializer=None,
                                                      response_deserializer=gateway_pb2.Acks.FromString)
        self._echo = self.channel.unary_unary("/lab.OrderService/Echo",
                                              request_serializer=gateway_pb2.Ping.SerializeToString,
                                              response_deserializer=gateway_pb2.Ping.FromString)

    @staticmethod
    def _metadata(key: str | None) -> tuple:
        return () if key is None else (("idempotency-key", key),)

    def _call(self, method, request, key: str | None) -> GrpcResult:
        start = time.monotonic()
        try:
            answer = method(request, metadata=self._metadata(key), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            return GrpcResult(error.code(), None, error.details() or "", dict(error.trailing_metadata() or ()),
                              time.monotonic() - start)
        return GrpcResult(grpc.StatusCode.OK, answer, "", {}, time.monotonic() - start)

    def submit(self, order: dict | bytes, key: str | None = None) -> GrpcResult:
        """Submit an order (a dict is encoded as protobuf; bytes are sent as they are)."""
        result = self._call(self._submit, order if isinstance(order, bytes) else as_proto(order), key)
        if result.code == grpc.StatusCode.OK:
            self.service.accepted.add(result.ack.order_id, result.ack.partition)
        return result

    def submit_many(self, orders: list, key: str | None = None) -> GrpcResult:
        raws = [o if isinstance(o, bytes) else as_proto(o) for o in orders]
        result = self._call(self._submit_many, iter(raws), key)
        if result.code == grpc.StatusCode.OK:
            for ack in result.ack.acks:
                if ack.status == "accepted":
                    self.service.accepted.add(ack.order_id, ack.partition)
        return result

    def echo(self, payload: bytes) -> GrpcResult:
        return self._call(self._echo, gateway_pb2.Ping(payload=payload), None)

    def close(self) -> None:
        self.channel.close()


# ------------------------------------------------------------------------------------------------
# The log
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Logged:
    partition: int
    key: bytes
    order: dict


def read_log(backend: str, url: str, topic: str, partitions: int) -> list[Logged]:
    """Every message of `topic` now, decoded (impls.serial.decode_order)."""
    if backend == "redis":
        return _read_streams(url, topic, partitions)
    return _read_kafka(url, topic, partitions)


def _read_streams(url: str, topic: str, partitions: int) -> list[Logged]:
    import redis

    from impls.workerpool.log_redis_topic import stream_key

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        found = []
        for p in range(partitions):
            for _, fields in client.xrange(stream_key(topic, p)):
                found.append(Logged(p, fields[b"key"], decode_order(fields[b"value"])))
        return found
    finally:
        client.close()


def _read_kafka(bootstrap: str, topic: str, partitions: int, limit_s: float = 30.0) -> list[Logged]:
    """Read every partition from its start up to its end. The end is the high watermark that
    fetch responses carry (`cached=True`): the embedded broker's ListOffsets answer
    (`get_watermark_offsets` uncached) is the last batch's base offset + 1, short of the end
    (see impls/workerpool/log_kafka.py)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lab-test-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": 3})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        found = []
        next_offset = dict.fromkeys(range(partitions), 0)
        left = set(range(partitions))
        deadline = time.monotonic() + limit_s
        while left:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {limit_s} s: "
                                     f"at {next_offset}, partitions {sorted(left)} left")
            for message in consumer.consume(1000, 0.1):
                if message.error():
                    continue
                found.append(Logged(message.partition(), message.key(), decode_order(message.value())))
                next_offset[message.partition()] = message.offset() + 1
            for p in list(left):
                high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if high is not None and high[1] >= 0 and next_offset[p] >= high[1]:
                    left.discard(p)
        return found
    finally:
        consumer.close()


def assert_accepted_in_log(service: Service, only: set[int] | None = None) -> list[Logged]:
    """Every order the clients saw accepted by `service` (or those of `only`) is in its log, in
    the partition its ack named: never an accepted order that is not in the log."""
    logged = read_log(service.backend, service.log_url, service.topic, service.partitions)
    where: dict[int, set[int]] = {}
    for entry in logged:
        where.setdefault(entry.order["id"], set()).add(entry.partition)
    with service.accepted.lock:
        accepted = {i: set(p) for i, p in service.accepted.partitions.items() if only is None or i in only}
    missing = sorted(i for i in accepted if i not in where)
    assert not missing, f"{len(missing)} accepted orders are not in the log, e.g. {missing[:5]}"
    moved = {i: (accepted[i], where[i]) for i in accepted if not accepted[i] <= where[i]}
    assert not moved, f"orders logged in another partition than their ack named: {dict(list(moved.items())[:5])}"
    return logged


def logged_count(logged: list[Logged], order_id: int) -> int:
    return sum(1 for entry in logged if entry.order["id"] == order_id)


def wait_for(predicate, limit_s: float, what: str, every_s: float = 0.1):
    """Call `predicate` until it returns something truthy (returned); AssertionError after `limit_s`."""
    deadline = time.monotonic() + limit_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"not within {limit_s} s: {what} (last: {last!r})")
