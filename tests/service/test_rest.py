"""POST /orders end to end, as JSON and as msgpack: every status the gateway answers (but 409,
422 -- test_idempotency.py -- and 503 -- test_faults.py), errors always JSON naming the field,
and the small routes. Each runs once per backend of the log (the `service` fixture)."""

import json

import grpc
import msgpack
import pytest

from tests.service.conftest import LIMIT_CAPACITY
from tests.service.service_harness import (JSON, MSGPACK, Grpc, assert_accepted_in_log, changed_order, logged_count,
                                           new_order)

pytestmark = pytest.mark.timeout(120)

FORMATS = ["json", "msgpack"]


def assert_error(reply, status: int, field: str | None, *words: str) -> None:
    """An error answer: `status`, a JSON body {"error": ..., "field": field}, the words in the message."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.content_type == JSON, f"errors are JSON, got {reply.content_type}"
    assert set(reply.body) == {"error", "field"} and reply.body["field"] == field, reply.body
    for word in words:
        assert word in reply.body["error"], (word, reply.body)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_order_is_accepted_answered_in_its_format_and_in_the_log(rest, service, fmt):
    order = new_order()
    reply = rest.order(order, fmt)
    assert reply.status == 201, reply.body
    assert reply.content_type == (JSON if fmt == "json" else MSGPACK)
    assert set(reply.body) == {"order_id", "status", "partition", "ts_ns"}
    assert reply.body["order_id"] == order["id"] and reply.body["status"] == "accepted"
    assert 0 <= reply.body["partition"] < service.partitions
    assert reply.body["ts_ns"] > 0  # stamped by the gateway: the order had none
    assert "idempotent-replayed" not in reply.headers
    logged = assert_accepted_in_log(service, {order["id"]})
    [entry] = [e for e in logged if e.order["id"] == order["id"]]
    assert entry.key == f"user:{order['user_id']}".encode()
    assert entry.order == {**order, "ts_ns": reply.body["ts_ns"]}  # as sent, stamped


def test_an_integral_json_price_is_a_price_and_a_given_ts_ns_is_kept(rest, service):
    order = new_order(price=10, ts_ns=123456789)
    reply = rest.order(order)
    assert reply.status == 201 and reply.body["ts_ns"] == 123456789
    [entry] = [e for e in assert_accepted_in_log(service, {order["id"]}) if e.order["id"] == order["id"]]
    assert entry.order["price"] == 10.0 and entry.order["ts_ns"] == 123456789


@pytest.mark.parametrize("fmt", FORMATS)
def test_numbers_are_typed_as_json_schema_types_them(rest, service, fmt):
    """10 and 10.0 are one number in the document: an integral price, integral floats in the
    integer fields -- in JSON and in msgpack."""
    order = new_order(price=10, qty=3.0, ts_ns=1_000.0, meta={"venue": "X", "flags": 2.0})
    reply = rest.order(order, fmt)
    assert reply.status == 201, reply.body
    [entry] = [e for e in assert_accepted_in_log(service, {order["id"]}) if e.order["id"] == order["id"]]
    assert (entry.order["price"], entry.order["qty"], entry.order["ts_ns"], entry.order["meta"]["flags"]) == \
           (10.0, 3, 1000, 2)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("change, field", [({"qty": 3.5}, "qty"), ({"ts_ns": -(2.0**63)}, "ts_ns"),
                                           ({"qty": 1e300}, "qty"), ({"meta": {"flags": 2.0**32}}, "meta.flags")])
def test_a_float_that_is_no_integer_of_the_field_is_400(rest, fmt, change, field):
    reply = rest.order(new_order(**change), fmt)
    assert reply.status == 400 and reply.body["field"] == field, reply.body


def test_an_integer_beyond_64_bits_is_400(rest):
    body = json.dumps(new_order()).replace('"qty": 3', '"qty": 18446744073709551617').encode()
    reply = rest.post("/orders", body, JSON)
    assert reply.status == 400 and reply.body["field"] == "qty", reply.body
    body = json.dumps(new_order(ts_ns=5)).replace('"ts_ns": 5', '"ts_ns": -9223372036854775809').encode()
    reply = rest.post("/orders", body, JSON)  # read as the float -2**63: not taken as the integer
    assert reply.status == 400 and reply.body["field"] == "ts_ns", reply.body


def test_the_optional_fields_may_be_left_out(rest):
    order = {k: v for k, v in new_order().items() if k not in ("tags", "meta")}
    assert rest.order(order).status == 201
    assert rest.order({**new_order(), "meta": {}}, "msgpack").status == 201


@pytest.mark.parametrize("content_type", ["application/x-msgpack", "Application/MsgPack; charset=binary"])
def test_msgpack_content_type_spellings(rest, content_type):
    reply = rest.post("/orders", msgpack.packb(new_order()), content_type)
    assert reply.status == 201 and reply.content_type == MSGPACK


def test_json_with_a_charset_parameter(rest):
    reply = rest.post("/orders", json.dumps(new_order()).encode(), "application/json; charset=utf-8")
    assert reply.status == 201 and reply.content_type == JSON


def test_one_user_orders_go_to_one_partition(rest):
    user = new_order()["user_id"]
    partitions = {rest.order(new_order(user), fmt).body["partition"] for fmt in FORMATS * 2}
    assert len(partitions) == 1


# --- 400 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, words", [
    (b'{"id": 1,', ["malformed JSON"]),
    (b"", ["malformed JSON"]),
    (b"[1, 2]", ["JSON object"]),
    (b"\xff\xfe", ["malformed JSON"]),
])
def test_malformed_json_is_400(rest, body, words):
    assert_error(rest.post("/orders", body, JSON), 400, None, *words)


@pytest.mark.parametrize("body", [b"\xc1", b"", b"\x93\x01\x02\x03", msgpack.packb(new_order())[:-3]])
def test_malformed_msgpack_is_400(rest, body):
    reply = rest.post("/orders", body, MSGPACK)
    assert reply.status == 400 and reply.content_type == JSON, reply.body
    assert reply.body["error"].startswith("malformed msgpack")


BAD_FIELDS = [
    # (change to a valid order, the field named, a word of the message)
    ({"id": None}, "id", "required"),
    ({"symbol": None}, "symbol", "required"),
    ({"price": None}, "price", "required"),
    ({"qty": "3"}, "qty", "int"),
    ({"price": "1.5"}, "price", "float"),
    ({"user_id": 1.5}, "user_id", "int"),
    ({"side": "HOLD"}, "side", "HOLD"),
    ({"side": "SIDE_UNSPECIFIED"}, "side", "BUY or SELL"),
    ({"qty": -5}, "qty", "positive"),
    ({"qty": 0}, "qty", "positive"),
    ({"id": 0}, "id", "positive"),
    ({"user_id": -1}, "user_id", "positive"),
    ({"price": -1.0}, "price", "positive"),
    ({"price": 0.0}, "price", "positive"),
    ({"symbol": ""}, "symbol", "1 to 32"),
    ({"symbol": "X" * 33}, "symbol", "1 to 32"),
    ({"qty": 2**63}, "qty", "int64"),
    ({"tags": ["a", 7]}, "tags", "str"),
    ({"tags": ["t"] * 65}, "tags", "at most 64"),
    ({"meta": {"venue": "X", "flags": -1}}, "meta.flags", "uint32"),
    ({"meta": {"venue": 3}}, "meta.venue", "str"),
    ({"colour": "red"}, "colour", "colour"),
]




@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("change, field, word", BAD_FIELDS, ids=[f"{f}-{w}" for _, f, w in BAD_FIELDS])
def test_a_bad_field_is_400_naming_it(rest, fmt, change, field, word):
    order = changed_order(change)
    reply = rest.order(order, fmt)
    assert reply.status == 400, reply.body
    assert reply.content_type == JSON
    assert reply.body["field"] == field, reply.body
    assert word in reply.body["error"], reply.body


def test_a_non_finite_json_price_is_400(rest):
    body = json.dumps(new_order(price=float("inf"))).encode()  # Infinity: not JSON at all
    assert_error(rest.post("/orders", body, JSON), 400, None, "malformed JSON")
    body = json.dumps(new_order()).replace("101.25", "1e999").encode()  # JSON, but beyond a double
    reply = rest.post("/orders", body, JSON)
    assert reply.status == 400 and reply.body["field"] in (None, "price"), reply.body


def test_a_non_finite_msgpack_price_is_400_naming_it(rest):
    assert_error(rest.order(new_order(price=float("nan")), "msgpack"), 400, "price", "finite")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["", "é", "a\tb", "k" * 256, '""'])
def test_a_bad_idempotency_key_is_400_naming_it(rest, fmt, key):
    headers = {"Idempotency-Key": key.encode("utf-8")}  # raw bytes: requests would refuse some
    reply = rest.order(new_order(), fmt, headers=headers)
    assert_error(reply, 400, "Idempotency-Key", "Idempotency-Key")


# --- 413, 415 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_body_over_64_kib_is_413(rest, fmt):
    order = new_order(tags=["x" * 1000] * 60, symbol="BIG")  # ~60 KB of tags, plus padding below
    order["meta"]["venue"] = "v" * 8000
    reply = rest.order(order, fmt)
    assert_error(reply, 413, None, "larger than 65536")


def test_a_chunked_body_over_64_kib_is_413(rest):
    chunks = (b"x" * 8192 for _ in range(9))  # no Content-Length: counted as it arrives
    assert_error(rest.post("/orders", chunks, JSON), 413, None, "larger than 65536")


def test_a_body_of_exactly_64_kib_is_read(rest):
    body = json.dumps(new_order()).encode()
    body += b" " * (64 * 1024 - len(body))  # JSON allows trailing whitespace
    reply = rest.post("/orders", body, JSON)
    assert reply.status == 201, reply.body


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/json-patch+json",
                                          "application/protobuf", None])
def test_another_content_type_is_415(rest, content_type):
    reply = rest.post("/orders", json.dumps(new_order()).encode(), content_type)
    assert_error(reply, 415, None, "Content-Type")


# --- 429 ---------------------------------------------------------------------------------------
def test_a_client_over_its_limit_is_429_with_retry_after_on_both_transports(rest, service):
    user = new_order()["user_id"]
    rpc = Grpc(service)
    try:  # one stream drains the client's burst: LIMIT_CAPACITY accepted, the rest refused
        result = rpc.submit_many([new_order(user) for _ in range(LIMIT_CAPACITY + 5)])
        statuses = [ack.status for ack in result.ack.acks]
        assert statuses == ["accepted"] * LIMIT_CAPACITY + ["rate_limited"] * 5, statuses
        assert result.ack.accepted == LIMIT_CAPACITY
        for fmt in FORMATS:
            reply = rest.order(new_order(user), fmt)
            assert_error(reply, 429, None, f"client {user}", "over its limit")
            assert reply.headers["retry-after"] == "100"  # ceil(1 / 0.01 orders/s)
        refused = rpc.submit(new_order(user))
        assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED and refused.trailers.get("retry-after") == "100"
        other = rest.order(new_order())  # another client is not limited
        assert other.status == 201
    finally:
        rpc.close()
    logged = assert_accepted_in_log(service)
    assert sum(1 for e in logged if e.order["user_id"] == user) == LIMIT_CAPACITY


# --- the other routes --------------------------------------------------------------------------
def test_healthz_names_the_tier_of_each_hot_path(rest, service):
    reply = rest.get("/healthz")
    assert reply.status == 200 and reply.body["status"] == "ok"
    impl = service.ready["impl"]
    assert reply.body["impl"] == impl and reply.body["backend"] == service.backend
    assert reply.body["tiers"] == {"serial": impl, "ratelimit": impl, "hashring": impl}


def test_ping_answers_and_refuses_a_large_body(rest):
    reply = rest.post("/ping", b"hello", "application/octet-stream")
    assert reply.status == 200 and reply.body == {"ok": True}
    assert_error(rest.post("/ping", b"x" * (64 * 1024 + 1), None), 413, None)


def test_metrics_count_requests_by_status(rest):
    from prometheus_client.parser import text_string_to_metric_families

    rest.order(new_order())
    rest.post("/orders", b"{", JSON)
    reply = rest.get("/metrics")
    assert reply.status == 200 and reply.content_type == "text/plain"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(reply.body.decode()) for s in family.samples}
    for status in ("201", "400"):
        labels = (("route", "/orders"), ("status", status), ("transport", "rest"))
        assert samples.get(("gateway_requests_total", labels), 0) >= 1, status
    assert sum(v for (name, _), v in samples.items() if name == "gateway_orders_appended_total") >= 1


def test_openapi_document_is_served(rest):
    reply = rest.get("/openapi.json")
    assert reply.status == 200 and reply.body["openapi"].startswith("3.1")
    assert {"/orders", "/ping", "/healthz", "/metrics", "/openapi.json"} <= set(reply.body["paths"])


@pytest.mark.parametrize("method, path", [("GET", "/orders"), ("POST", "/healthz"), ("GET", "/nowhere")])
def test_unknown_routes_and_methods_are_4xx(rest, method, path):
    response = rest.session.request(method, rest.service.http + path, timeout=10)
    assert response.status_code in (404, 405)


def test_an_order_without_a_key_is_logged_once(rest, service):
    order = new_order()
    assert rest.order(order).status == 201
    assert logged_count(assert_accepted_in_log(service, {order["id"]}), order["id"]) == 1
