"""lab.OrderService end to end: Submit and SubmitMany (and Echo), each status they answer but
the fault ones (test_faults.py) and the idempotent repeats (test_idempotency.py); a refused
message is INVALID_ARGUMENT with trailing metadata `field`. Against the default gRPC server
(grpc's sync server) on either log, and grpc.aio."""

import grpc
import pytest

from bench.service.server import DEFAULT_GRPC_SERVER
from tests.service.service_harness import Grpc, as_proto, assert_accepted_in_log, changed_order, new_key, new_order

pytestmark = pytest.mark.timeout(120)

OK, INVALID = grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT


def assert_field(rpc, result, field: str) -> None:
    """The refusal names `field` in its trailing metadata."""
    assert result.trailers.get("field") == field, result.trailers


@pytest.fixture(params=["redis", "kafka", "redis+aio"])
def rpc(request, services):
    backend, _, server = request.param.partition("+")
    client = Grpc(services.get(backend, server or DEFAULT_GRPC_SERVER))
    yield client
    client.close()


def test_submit_accepts_an_order_into_the_log(rpc):
    order = new_order()
    result = rpc.submit(order)
    assert result.code == OK, result.details
    ack = result.ack
    assert (ack.order_id, ack.status, ack.replayed, ack.error) == (order["id"], "accepted", False, "")
    assert 0 <= ack.partition < rpc.service.partitions and ack.ts_ns > 0
    [entry] = [e for e in assert_accepted_in_log(rpc.service, {order["id"]}) if e.order["id"] == order["id"]]
    assert entry.order == {**order, "ts_ns": ack.ts_ns}


def test_submit_and_rest_route_one_user_to_one_partition(rpc):
    from tests.service.service_harness import Rest

    user = new_order()["user_id"]
    rest = Rest(rpc.service)
    try:
        over_rest = rest.order(new_order(user)).body["partition"]
    finally:
        rest.close()
    assert rpc.submit(new_order(user)).ack.partition == over_rest


def test_echo_returns_its_payload(rpc):
    result = rpc.echo(b"\x00payload\xff")
    assert result.code == OK and result.ack.payload == b"\x00payload\xff"


BAD_MESSAGES = [
    # (an order change -- None drops the field: protobuf's zero value --, the field, a word of the message)
    ({"qty": None}, "qty", "positive"),
    ({"qty": -2}, "qty", "positive"),
    ({"id": None}, "id", "positive"),
    ({"user_id": -7}, "user_id", "positive"),
    ({"side": None}, "side", "BUY or SELL"),
    ({"symbol": None}, "symbol", "1 to 32"),
    ({"symbol": "S" * 40}, "symbol", "1 to 32"),
    ({"price": None}, "price", "positive"),
    ({"price": float("inf")}, "price", "finite"),
    ({"tags": ["t"] * 65}, "tags", "at most 64"),
]




@pytest.mark.parametrize("change, field, word", BAD_MESSAGES, ids=[f"{f}-{w}" for _, f, w in BAD_MESSAGES])
def test_submit_refuses_a_bad_order_naming_the_field(rpc, change, field, word):
    result = rpc.submit(changed_order(change))
    assert result.code == INVALID, (result.code, result.details)
    assert word in result.details
    assert_field(rpc, result, field)


@pytest.mark.parametrize("raw", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x08"], ids=["garbage", "truncated", "no-value"])
def test_submit_refuses_malformed_protobuf(rpc, raw):
    result = rpc.submit(raw)
    assert result.code == INVALID and "malformed protobuf" in result.details, (result.code, result.details)


def test_submit_refuses_a_message_over_64_kib(rpc):
    result = rpc.submit(new_order(tags=["x" * 1000] * 64, meta={"venue": "v" * 2000, "flags": 0}))
    assert result.code == INVALID and "larger than 65536" in result.details, (result.code, result.details)


@pytest.mark.parametrize("key", ["k" * 256, '""', '"' + "k" * 256 + '"'])
def test_a_bad_idempotency_key_is_invalid_argument_naming_it(rpc, key):
    result = rpc.submit(new_order(), key=key)
    assert result.code == INVALID and "Idempotency-Key" in result.details, (result.code, result.details)
    assert_field(rpc, result, "idempotency-key")


def test_submit_many_acks_each_order_in_order(rpc):
    orders = [new_order() for _ in range(20)]
    result = rpc.submit_many(orders)
    assert result.code == OK, result.details
    assert result.ack.accepted == 20
    assert [(a.order_id, a.status) for a in result.ack.acks] == [(o["id"], "accepted") for o in orders]
    assert_accepted_in_log(rpc.service, {o["id"] for o in orders})


def test_submit_many_of_nothing_acks_nothing(rpc):
    result = rpc.submit_many([])
    assert result.code == OK and list(result.ack.acks) == [] and result.ack.accepted == 0


def test_submit_many_refuses_the_stream_with_a_bad_order_naming_it(rpc):
    orders = [as_proto(new_order()) for _ in range(3)]
    orders[1] = as_proto(changed_order({"qty": -1}))
    result = rpc.submit_many(orders)
    assert result.code == INVALID, (result.code, result.details)
    assert result.details.startswith("order[1]: ") and "qty" in result.details
    assert_field(rpc, result, "qty")


def test_submit_many_refuses_a_malformed_message(rpc):
    result = rpc.submit_many([as_proto(new_order()), b"\xff\xff"])
    assert result.code == INVALID and result.details.startswith("order[1]: malformed protobuf"), result.details


def test_submit_many_with_a_key_replays_order_by_order(rpc):
    key, orders = new_key("many"), [new_order() for _ in range(5)]
    first = rpc.submit_many(orders, key=key)
    assert first.code == OK and first.ack.accepted == 5
    assert not any(a.replayed for a in first.ack.acks)
    again = rpc.submit_many(orders, key=key)
    assert again.code == OK and again.ack.accepted == 5
    assert all(a.replayed for a in again.ack.acks)
    assert [(a.order_id, a.partition, a.ts_ns) for a in again.ack.acks] == \
           [(a.order_id, a.partition, a.ts_ns) for a in first.ack.acks]
    changed = [*orders[:2], {**orders[2], "qty": 99}, *orders[3:]]  # order 2 under key/2 is another payload
    third = rpc.submit_many(changed, key=key)
    assert [a.status for a in third.ack.acks] == ["accepted", "accepted", "conflict", "accepted", "accepted"]
    assert third.ack.accepted == 4 and "different payload" in third.ack.acks[2].error
    logged = assert_accepted_in_log(rpc.service, {o["id"] for o in orders})
    assert sorted(e.order["id"] for e in logged if e.order["id"] in {o["id"] for o in orders}) == \
           sorted(o["id"] for o in orders)  # each once: the repeats had no effect


def test_a_client_over_its_limit_is_resource_exhausted_with_retry_after(rpc):
    from tests.service.conftest import LIMIT_CAPACITY

    user = new_order()["user_id"]
    drained = rpc.submit_many([new_order(user) for _ in range(LIMIT_CAPACITY + 1)])
    assert [a.status for a in drained.ack.acks][-2:] == ["accepted", "rate_limited"]
    result = rpc.submit(new_order(user))
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "over its limit" in result.details
    assert result.trailers.get("retry-after") == "100"


def test_submit_many_refuses_a_stream_of_more_than_10000_orders(rpc):
    from bench.service.grpc_server import MAX_STREAM_ORDERS

    raw = as_proto(new_order())  # never decoded: the stream is refused while it is read
    result = rpc.submit_many([raw] * (MAX_STREAM_ORDERS + 1))
    assert result.code == INVALID and f"at most {MAX_STREAM_ORDERS}" in result.details, (result.code, result.details)
