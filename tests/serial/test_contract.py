"""The family contract, asserted on every tier: names, exact bytes, decoding rules."""

import math
import struct

import msgpack
import pytest

from impls import registry
from impls.serial import errors, order_pb2, schema
from impls.serial.errors import DecodeError

CONTRACT = ("encode_order", "decode_order", "encode_batch", "decode_batch", "pack_order", "unpack_order",
            "DecodeError", "warmup")

ORDER = {"id": 42, "user_id": 7, "symbol": "AAPL", "side": "SELL", "price": 187.25, "qty": 100,
         "ts_ns": 1_700_000_000_000_000_123, "tags": ["ioc", "algo"], "meta": {"venue": "XNAS", "flags": 3}}


def test_every_tier_has_the_contract_and_one_decode_error(tier):
    for name in CONTRACT:
        assert hasattr(tier, name), name
    assert tier.DecodeError is DecodeError and issubclass(DecodeError, ValueError)
    tier.warmup()


def test_public_api_is_the_preferred_tier():
    import impls.serial as api

    module = registry.load("serial", api.TIER)
    assert api.encode_order is module.encode_order and api.DecodeError is DecodeError


def test_a_full_order_is_upbs_bytes(tier):
    assert tier.encode_order(ORDER) == order_pb2.Order(**ORDER).SerializeToString()
    assert tier.decode_order(tier.encode_order(ORDER)) == ORDER


@pytest.mark.parametrize("order,expected", [
    ({}, b""),
    ({"id": 0, "symbol": "", "price": 0.0, "tags": [], "side": "SIDE_UNSPECIFIED"}, b""),  # proto3 defaults
    ({"price": -0.0}, b"\x29" + struct.pack("<d", -0.0)),  # -0.0 is not the default
    ({"price": math.nan}, b"\x29" + struct.pack("<d", math.nan)),
    ({"id": -1}, b"\x08" + b"\xff" * 9 + b"\x01"),  # negative int64: 10-byte varint
    ({"side": -1}, b"\x20" + b"\xff" * 9 + b"\x01"),  # negative enum (int32) too
    ({"side": 7}, b"\x20\x07"),  # an enum value without a name
    ({"meta": {}}, b"\x4a\x00"),  # an empty meta is still written
    ({"meta": {"venue": "", "flags": 0}}, b"\x4a\x00"),
    ({"tags": ["", "a"]}, b"\x42\x00\x42\x01a"),  # an empty tag is an element
    ({"meta": {"flags": 1}, "id": 1}, b"\x08\x01\x4a\x02\x10\x01"),  # field order, not dict order
    ({"symbol": "x" * 200}, b"\x1a\xc8\x01" + b"x" * 200),  # two-byte length
    ({"meta": {"venue": "v" * 130}}, b"\x4a\x85\x01\x0a\x82\x01" + b"v" * 130),  # long sub-message
])
def test_exact_bytes(tier, order, expected):
    assert tier.encode_order(order) == expected
    assert order_pb2.Order(**order).SerializeToString() == expected


def test_decoded_keys_are_in_schema_order(tier):
    """Every tier's decoded dicts hold Order's keys (and Meta's) in field-number order, as
    schema.py gives them: the order pack_order then packs a decoded order in."""
    for order in (tier.decode_order(tier.encode_order(ORDER)), *tier.decode_batch(tier.encode_batch([ORDER, {}]))):
        assert tuple(order) == schema.ORDER_KEYS and tuple(order["meta"]) == schema.META_KEYS


def test_decode_fills_every_key_with_its_default(tier):
    assert tier.decode_order(b"") == schema.default_order()
    assert tier.decode_batch(b"") == []
    assert tier.decode_batch(b"\x0a\x00\x0a\x00") == [schema.default_order(), schema.default_order()]


@pytest.mark.parametrize("data,expected", [
    (b"\x1a\x01a\x1a\x01b", {"symbol": "b"}),  # the last scalar wins
    (b"\x42\x01a\x08\x01\x42\x01b", {"tags": ["a", "b"], "id": 1}),  # repeated strings are appended
    (b"\x4a\x03\x0a\x01X\x4a\x02\x10\x05", {"meta": {"venue": "X", "flags": 5}}),  # sub-messages merge
    (b"\x4a\x03\x0a\x01X\x4a\x03\x0a\x01Y", {"meta": {"venue": "Y", "flags": 0}}),
    (b"\x0a\x01\x05\x08\x02", {"id": 2}),  # id as length-delimited: unknown, skipped
    (b"\x28\x05", {}),  # price as a varint: unknown, skipped
    (b"\x48\x05", {}),  # meta as a varint: unknown, skipped
    (b"\x0b\x08\x01\x0c\x10\x03", {"user_id": 3}),  # a group under a known number: skipped
    (b"\x53\x03\x04\x00\x01\x54", {}),  # inside a group, field number 0 is fine (as upb)
    (b"\xf8\xff\xff\xff\x0f\x01", {}),  # the largest field number, unknown
    (b"\x88\x80\x80\x80\x00\x05", {"id": 5}),  # a tag in 5 bytes
    (b"\x08" + b"\xff" * 9 + b"\x7f", {"id": -1}),  # bits past the 64th are dropped
    (b"\x20\x81\x80\x80\x80\x10", {"side": "BUY"}),  # an int32 keeps the low 32 bits
    (b"\x4a\x06\x10\x85\x80\x80\x80\x10", {"meta": {"venue": "", "flags": 5}}),  # a uint32 too
    (b"\x52\x01\xff", {}),  # an unknown string field is not checked for UTF-8
])
def test_decoding_follows_upb(tier, data, expected):
    decoded = tier.decode_order(data)
    want = schema.default_order()
    want.update({k: v for k, v in expected.items() if k != "meta"})
    want["meta"].update(expected.get("meta", {}))
    assert decoded == want
    message = order_pb2.Order.FromString(data)
    assert (message.id, message.symbol, list(message.tags)) == (want["id"], want["symbol"], want["tags"])


def test_depth_budget_is_upbs(tier):
    groups = lambda n: b"\x53" * n + b"\x54" * n  # noqa: E731 - nested unknown groups of field 10
    assert tier.decode_order(groups(100)) == schema.default_order()
    with pytest.raises(DecodeError, match="deeper than 100"):
        tier.decode_order(groups(101))
    def batch_of(groups_in_meta: int) -> bytes:  # batch -> order -> meta -> groups
        inner = groups(groups_in_meta)
        meta = b"\x4a" + bytes([len(inner) & 0x7F | 0x80, len(inner) >> 7]) + inner
        return b"\x0a" + bytes([len(meta) & 0x7F | 0x80, len(meta) >> 7]) + meta

    assert len(tier.decode_batch(batch_of(98))) == len(order_pb2.OrderBatch.FromString(batch_of(98)).orders) == 1
    with pytest.raises(DecodeError, match="deeper than 100"):
        tier.decode_batch(batch_of(99))
    with pytest.raises(Exception, match="corrupt"):
        order_pb2.OrderBatch.FromString(batch_of(99))


def test_decoders_take_bytes_like_objects(tier):
    data = tier.encode_order(ORDER)
    for view in (bytearray(data), memoryview(data)):
        assert tier.decode_order(view) == ORDER
    assert tier.unpack_order(bytearray(msgpack.packb(ORDER))) == ORDER
    with pytest.raises(TypeError, match="bytes-like"):
        tier.decode_order(42)


def test_pack_order_is_msgpacks_bytes_in_the_dicts_order(tier):
    reordered = dict(reversed(list(ORDER.items())))
    for order in (ORDER, reordered, {}, {"tags": ("a",) * 20}, {"symbol": "s" * 40}, {"id": -(2 ** 63)},
                  {"id": 2 ** 63 - 1}, {"meta": {"flags": 2 ** 32 - 1, "venue": "v"}}, {"side": -5}):
        assert tier.pack_order(order) == msgpack.packb(order)
        assert tier.unpack_order(msgpack.packb(order)) == msgpack.unpackb(msgpack.packb(order))
        assert list(tier.unpack_order(msgpack.packb(order))) == list(order)


@pytest.mark.parametrize("order", [
    {"price": 1.5}, {"price": -0.0}, {"id": 2 ** 40, "user_id": -300}, {"symbol": "株式会社"}, {"side": "BUY"},
])
def test_unpack_reads_every_int_and_float_form_msgpack_reads(tier, order):
    for data in (msgpack.packb(order), msgpack.packb(order, use_single_float=True)):
        assert tier.unpack_order(data) == msgpack.unpackb(data)
    # non-minimal int forms (int64 for a small value) are msgpack too
    assert tier.unpack_order(b"\x81\xa2id\xd3" + (5).to_bytes(8, "big")) == {"id": 5}
    assert tier.unpack_order(b"\x81\xa2id\xcf" + (5).to_bytes(8, "big")) == {"id": 5}


@pytest.mark.parametrize("data", [
    b"\x82\xa2id\x01\xa2id\x02",
    b"\x82\xa2id\xa1x\xa2id\x01",  # an earlier value of the wrong type is replaced
    b"\x83\xa4tags\x91\x01\xa2id\x01\xa4tags\x91\xa1a",  # ... and keeps its place in the dict
    b"\x82\xa4meta\x81\xc4\x05venue\xa1x\xa4meta\x81\xa5venue\xa1y",  # a meta with a bin key, replaced
    b"\x81\xa4meta\x82\xa5venue\x01\xa5venue\xa1x",  # inside meta too
    b"\x82\xa4side\xa4HOLD\xa4side\xa3BUY",
    b"\x82\xa2id\x92\x81\xc4\x01k\xd6\xff\x00\x00\x00\x01\xc0\xa2id\x07",  # replaced: any msgpack at all
])
def test_unpack_keeps_msgpacks_last_value_for_a_repeated_key(tier, data):
    expected = msgpack.unpackb(data)
    assert tier.unpack_order(data) == expected
    assert list(tier.unpack_order(data)) == list(expected)


def test_subclasses_are_accepted_as_their_base_types(tier):
    import enum

    class Qty(enum.IntEnum):
        LOT = 100

    class Name(str):
        pass

    order = {Name("symbol"): Name("AAPL"), "qty": Qty.LOT, "tags": ("a",), "meta": dict(venue="v")}
    plain = {"symbol": "AAPL", "qty": 100, "tags": ["a"], "meta": {"venue": "v"}}
    assert tier.encode_order(order) == tier.encode_order(plain)
    assert tier.pack_order(order) == msgpack.packb(order)


def test_a_batch_of_many_orders(tier, pure):
    orders = [dict(ORDER, id=i, tags=ORDER["tags"][: i % 3]) for i in range(3000)]
    data = tier.encode_batch(orders)
    assert data == pure.encode_batch(orders)
    assert tier.decode_batch(data) == orders
    assert tier.encode_batch(tuple(orders[:3])) == pure.encode_batch(orders[:3])


def test_error_codes_are_all_described():
    codes = [v for k, v in vars(errors).items() if k.isupper() and isinstance(v, int) and 0 < v < 50
             and k not in ("MAX_DEPTH", "VENUE_DETAIL", "MP_IN_META")]
    for code in codes:
        assert not errors.message(code, 0, 0, b"\xa1x").startswith("decode error")
