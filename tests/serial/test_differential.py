"""Differential decoding against upb and msgpack: wherever they accept an input of this
schema, our decoders return the same values; where they reject it, ours raise DecodeError.

The bulk checks run the fuzz inputs through `pure` (test_fuzz makes every other tier agree
with pure on the same inputs, message for message); the hypothesis checks run every tier.
"""

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.peers.serial import message_to_dict
from impls.serial import schema
from impls.serial import order_pb2 as pb
from impls.serial.errors import DecodeError
from tests.serial.conftest import orders, outcome, same
from tests.serial.inputs import msgpack_inputs, protobuf_inputs
from tests.serial.test_fuzz import INPUTS, SEED


def upb_outcome(data: bytes, batch: bool):
    try:
        message = (pb.OrderBatch if batch else pb.Order).FromString(data)
    except Exception:  # noqa: BLE001 - upb rejects it, whatever it raises
        return ("rejected",)
    return ("ok", [message_to_dict(m) for m in message.orders] if batch else message_to_dict(message))


def schema_order(obj) -> bool:
    """Whether msgpack's value is an order of this schema (written independently of our decoders)."""
    if type(obj) is not dict:
        return False
    for key, value in obj.items():
        if key in schema.INT64_KEYS:
            ok = type(value) is int and schema.INT64_MIN <= value <= schema.INT64_MAX
        elif key == "symbol":
            ok = type(value) is str
        elif key == "side":
            ok = (type(value) is str and value in schema.SIDE_VALUES) or (
                type(value) is int and schema.INT32_MIN <= value <= schema.INT32_MAX)
        elif key == "price":
            ok = type(value) is float
        elif key == "tags":
            ok = type(value) is list and all(type(t) is str for t in value)
        elif key == "meta":
            ok = type(value) is dict and all(
                (k == "venue" and type(v) is str) or (k == "flags" and type(v) is int and 0 <= v <= schema.UINT32_MAX)
                for k, v in value.items())
        else:
            ok = False
        if not ok:
            return False
    return True


def msgpack_outcome(data: bytes):
    try:
        value = msgpack.unpackb(data)
    except Exception:  # noqa: BLE001
        return ("rejected",)
    return ("ok", value) if schema_order(value) else ("rejected",)


def assert_like_library(ours, theirs, data: bytes) -> None:
    if theirs[0] == "ok":
        assert ours[0] == "ok" and same(ours[1], theirs[1]), (data.hex(), ours, theirs)
        if isinstance(theirs[1], dict):
            assert list(ours[1]) == list(theirs[1]), (data.hex(), ours, theirs)  # the same key order
    else:
        assert ours[0] == "error" and ours[1] is DecodeError, (data.hex(), ours)


def test_pure_decodes_like_upb_on_the_fuzz_inputs(pure):
    accepted = 0
    for data in protobuf_inputs(INPUTS, SEED):
        for batch, decoder in ((False, pure.decode_order), (True, pure.decode_batch)):
            theirs = upb_outcome(data, batch)
            accepted += theirs[0] == "ok"
            assert_like_library(outcome(decoder, data), theirs, data)
    assert accepted > INPUTS // 10


def test_pure_unpacks_like_msgpack_on_the_fuzz_inputs(pure):
    accepted = 0
    for data in msgpack_inputs(INPUTS, SEED):
        theirs = msgpack_outcome(data)
        accepted += theirs[0] == "ok"
        assert_like_library(outcome(pure.unpack_order, data), theirs, data)
    assert accepted > INPUTS // 50


def _mutated(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, position, byte in edits:
        at = position % (len(out) + 1)
        if kind == "set" and out:
            out[at % len(out)] = byte
        elif kind == "insert":
            out[at:at] = bytes([byte])
        elif kind == "delete":
            del out[at: at + 1]
        else:
            del out[at:]
    return bytes(out)


EDITS = st.lists(st.tuples(st.sampled_from(["set", "insert", "delete", "truncate"]), st.integers(0, 500),
                           st.integers(0, 255)), min_size=1, max_size=3)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(order=orders, edits=EDITS)
def test_mutated_orders_decode_like_upb(tier, order, edits):
    data = _mutated(pb.Order(**order).SerializeToString(), edits)
    assert_like_library(outcome(tier.decode_order, data), upb_outcome(data, False), data)
    framed = b"\x0a" + bytes([len(data)]) + data if len(data) < 128 else data
    assert_like_library(outcome(tier.decode_batch, framed), upb_outcome(framed, True), framed)


@SETTINGS
@given(order=orders, edits=EDITS)
def test_mutated_orders_unpack_like_msgpack(tier, order, edits):
    data = _mutated(msgpack.packb(order), edits)
    assert_like_library(outcome(tier.unpack_order, data), msgpack_outcome(data), data)
