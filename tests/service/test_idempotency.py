"""The Idempotency-Key end to end (bench/service/idempotency.py): a repeat with the same key and
payload returns the first answer and has no second effect -- exactly one message for the
order in the log -- whatever the transport or the format, however many come at once, and
across two processes sharing one Redis; another payload is 422 (FAILED_PRECONDITION); a key
still in flight is 409 (ABORTED)."""

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from bench.service import orders
from bench.service.idempotency import Claim, Idempotency, fingerprint
from bench.service.redis_pipe import RedisPipe
from tests.service.service_harness import (JSON, MSGPACK, Rest, assert_accepted_in_log, logged_count, new_key,
                                           new_order, running_service)

pytestmark = pytest.mark.timeout(120)

#: Requests sent at once with one key and one payload.
REPEATS = 100


def once_in_log(service, order_id: int) -> None:
    logged = assert_accepted_in_log(service, {order_id})
    assert logged_count(logged, order_id) == 1, f"order {order_id} is in the log {logged_count(logged, order_id)} times"


def assert_replay(reply, first) -> None:
    assert reply.status == 201, reply.body
    assert reply.headers.get("idempotent-replayed") == "true"
    assert reply.body == first.body


def _posted_at_once(targets: list, order: dict, key: str) -> list:
    """POST `order` with `key` once per client in `targets`, all released together."""
    body = json.dumps(order).encode()
    start = threading.Barrier(len(targets))

    def post(client):
        start.wait(30)
        return client.post("/orders", body, JSON, key, fresh=True)

    with ThreadPoolExecutor(len(targets)) as pool:
        return list(pool.map(post, targets))


def assert_one_effect(replies: list, order: dict, key: str) -> dict:
    """Every reply is 201 with one body -- exactly one of them not a replay -- or 409 while the
    first was in flight; nothing else. The first answer's body."""
    statuses = [r.status for r in replies]
    assert set(statuses) <= {201, 409}, statuses
    accepted = [r for r in replies if r.status == 201]
    assert accepted, statuses
    bodies = {json.dumps(r.body, sort_keys=True) for r in accepted}
    assert len(bodies) == 1, bodies
    originals = [r for r in accepted if r.headers.get("idempotent-replayed") != "true"]
    assert len(originals) == 1, f"{len(originals)} answers were not replays"
    for conflict in (r for r in replies if r.status == 409):
        assert conflict.content_type == JSON and "still being processed" in conflict.body["error"]
        assert key in conflict.body["error"]
    assert originals[0].body["order_id"] == order["id"]
    return originals[0].body


def test_concurrent_repeats_of_one_key_have_exactly_one_effect(rest, service):
    order, key = new_order(), new_key("burst")
    replies = _posted_at_once([rest] * REPEATS, order, key)
    first = assert_one_effect(replies, order, key)
    once_in_log(service, order["id"])
    late = rest.order(order, key=key)  # once the dust settles: the first answer, replayed
    assert late.status == 201 and late.body == first and late.headers["idempotent-replayed"] == "true"


def test_concurrent_repeats_across_two_processes_sharing_redis_have_one_effect(rest, service, tmp_path):
    """A second gateway process on the same Redis (and the same log): the key's rules hold across both."""
    order, key = new_order(), new_key("two")
    with running_service(*service.args, "--log-url", service.log_url, stderr_dir=tmp_path) as second:
        other = Rest(second)
        try:
            replies = _posted_at_once([rest, other] * (REPEATS // 2), order, key)
            first = assert_one_effect(replies, order, key)
            for client in (rest, other):  # and later, either process replays the first answer
                late = client.order(order, "msgpack", key)
                assert late.status == 201 and late.headers["idempotent-replayed"] == "true" and late.body == first
        finally:
            other.close()
        assert_accepted_in_log(second)
    once_in_log(service, order["id"])


@pytest.mark.parametrize("first_fmt, then_fmt", [("json", "msgpack"), ("msgpack", "json"), ("json", "json")])
def test_a_repeat_replays_the_first_answer_in_either_format(rest, service, first_fmt, then_fmt):
    order, key = new_order(), new_key("replay")
    first = rest.order(order, first_fmt, key)
    assert first.status == 201 and "idempotent-replayed" not in first.headers
    again = rest.order(order, then_fmt, key)
    assert again.status == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content_type == (JSON if then_fmt == "json" else MSGPACK)  # answered in the request's format
    assert again.body == first.body
    once_in_log(service, order["id"])


def test_an_integral_json_price_and_its_msgpack_float_are_one_payload(rest, service):
    order, key = new_order(price=10), new_key("price")
    first = rest.order(order, "json", key)
    assert_replay(rest.order({**order, "price": 10.0}, "msgpack", key), first)
    once_in_log(service, order["id"])


def test_the_optional_fields_at_their_defaults_are_one_payload(rest, service):
    order, key = new_order(), new_key("defaults")
    bare = {k: v for k, v in order.items() if k not in ("tags", "meta")}
    first = rest.order(bare, "json", key)
    full = {**bare, "ts_ns": 0, "tags": [], "meta": {"venue": "", "flags": 0}}
    assert_replay(rest.order(full, "msgpack", key), first)


def test_rest_and_grpc_share_the_key(rest, rpc, service):
    order, key = new_order(), new_key("transports")
    first = rest.order(order, "json", key)
    assert first.status == 201
    result = rpc.submit(order, key)
    assert result.code == grpc.StatusCode.OK and result.ack.replayed
    assert (result.ack.order_id, result.ack.partition, result.ack.ts_ns) == \
           (first.body["order_id"], first.body["partition"], first.body["ts_ns"])
    once_in_log(service, order["id"])


def test_a_quoted_key_is_the_same_key(rest):
    order, key = new_order(), new_key("quoted")
    first = rest.order(order, key=key)
    assert_replay(rest.order(order, key=f'"{key}"'), first)


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_the_same_key_with_another_payload_is_422(rest, rpc, service, fmt):
    order, key = new_order(), new_key("mismatch")
    assert rest.order(order, fmt, key).status == 201
    reply = rest.order({**order, "qty": order["qty"] + 1}, fmt, key)
    assert reply.status == 422 and reply.content_type == JSON, reply.body
    assert reply.body["field"] is None and "different payload" in reply.body["error"] and key in reply.body["error"]
    result = rpc.submit({**order, "price": 1.5}, key)
    assert result.code == grpc.StatusCode.FAILED_PRECONDITION and "different payload" in result.details
    logged = assert_accepted_in_log(service, {order["id"]})
    [entry] = [e for e in logged if e.order["id"] == order["id"]]
    assert entry.order["qty"] == order["qty"] and entry.order["price"] == order["price"]  # the first one's


def test_a_refused_request_does_not_take_the_key(rest):
    order, key = new_order(), new_key("refused")
    assert rest.order({**order, "qty": -1}, key=key).status == 400  # refused before the claim
    assert rest.order(order, key=key).status == 201  # not 422: the key was never used


def test_without_a_key_a_repeat_is_a_second_effect(rest, service):
    order = new_order()
    assert rest.order(order).status == 201 and rest.order(order).status == 201
    assert logged_count(assert_accepted_in_log(service, {order["id"]}), order["id"]) == 2


# --- in flight ---------------------------------------------------------------------------------
def _claim(redis_url: str, key: str, fp: bytes, release: bool = False) -> Claim | None:
    """Claim `key` for `fp` (or release our claim) on the service's Redis, as another request
    of the gateway would (bench.service.idempotency)."""

    async def run():
        pipe = RedisPipe(redis_url, 5.0)
        steps = Idempotency(pipe, ttl_s=60.0, in_flight_ttl_s=60.0)
        try:
            if release:
                await steps.release(key, fp)
                return None
            state, _ = await steps.claim(key, fp)
            return state
        finally:
            await pipe.close()

    return asyncio.run(run())


def _fingerprint_of(order: dict) -> bytes:
    """The fingerprint the gateway takes of `order`: of the order as decoded (checked, with its defaults)."""
    return fingerprint(orders.from_json(json.dumps(order).encode()))


def test_a_key_in_flight_is_409_on_every_transport_and_free_again_once_released(rest, rpc, service):
    order, key = new_order(), new_key("inflight")
    fp = _fingerprint_of(order)
    assert _claim(service.redis_url, key, fp) is Claim.NEW  # another request holds the key
    for fmt in ("json", "msgpack"):
        reply = rest.order(order, fmt, key)
        assert reply.status == 409 and reply.content_type == JSON, reply.body
        assert reply.body["field"] is None and "still being processed" in reply.body["error"]
    result = rpc.submit(order, key)
    assert result.code == grpc.StatusCode.ABORTED and "still being processed" in result.details
    other = rest.order({**order, "qty": 7}, key=key)
    assert other.status == 422  # another payload is refused even while the key is in flight
    assert not any(e.order["id"] == order["id"] for e in assert_accepted_in_log(service, set()))
    _claim(service.redis_url, key, fp, release=True)  # the holder failed and let go
    assert rest.order(order, key=key).status == 201
    once_in_log(service, order["id"])


def test_submit_many_reports_a_key_in_flight_per_order(rpc, service):
    key, orders_sent = new_key("many-inflight"), [new_order() for _ in range(3)]
    assert _claim(service.redis_url, f"{key}/1", _fingerprint_of(orders_sent[1])) is Claim.NEW
    result = rpc.submit_many(orders_sent, key)
    assert result.code == grpc.StatusCode.OK
    assert [a.status for a in result.ack.acks] == ["accepted", "in_flight", "accepted"]
    assert result.ack.accepted == 2 and "still being processed" in result.ack.acks[1].error
    logged = assert_accepted_in_log(service)
    assert logged_count(logged, orders_sent[1]["id"]) == 0
