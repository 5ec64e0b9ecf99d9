"""Every bad input gets the same exception type and message in every tier; malformed bytes
raise DecodeError naming what was wrong and the byte offset where it starts."""

import msgpack
import pytest

from impls.serial import errors
from impls.serial.errors import DecodeError
from impls.serial.pure_proto import varint
from tests.serial.conftest import all_tiers, outcome

BAD_ORDERS = {
    "not a dict": [("id", 1)],
    "None": None,
    "id str": {"id": "1"},
    "id float": {"id": 1.0},
    "id bool": {"id": True},
    "id None": {"id": None},
    "id above int64": {"id": 2 ** 63},
    "qty below int64": {"qty": -(2 ** 63) - 1},
    "symbol bytes": {"symbol": b"AAPL"},
    "symbol lone surrogate": {"symbol": "\ud800"},
    "side unknown name": {"side": "HOLD"},
    "side above int32": {"side": 2 ** 31},
    "side float": {"side": 1.0},
    "side bool": {"side": False},
    "price int": {"price": 1},
    "price str": {"price": "1.5"},
    "tags str": {"tags": "abc"},
    "tags set": {"tags": {"a"}},
    "tags item int": {"tags": ["a", 1]},
    "tags item surrogate": {"tags": ["a", "\udfff"]},
    "meta list": {"meta": [("venue", "x")]},
    "meta flags negative": {"meta": {"flags": -1}},
    "meta flags above uint32": {"meta": {"flags": 2 ** 32}},
    "meta venue int": {"meta": {"venue": 5}},
    "meta unknown key": {"meta": {"venue": "x", "color": "red"}},
    "unknown key": {"id": 1, "colour": "red"},
    "non-str key": {1: 2},
    "two bad fields: the first in field order wins": {"qty": "x", "id": "y"},
    "a bad field beats an unknown key": {"zzz": 1, "ts_ns": 1.5},
}

ENCODERS = ("encode_order", "pack_order")


def _reference(fn_name, order):
    return outcome(getattr(all_tiers()[0], fn_name), order)


@pytest.mark.parametrize("fn_name", ENCODERS)
@pytest.mark.parametrize("case", sorted(BAD_ORDERS))
def test_bad_orders_raise_the_same_error_in_every_tier(case, fn_name):
    expected = _reference(fn_name, BAD_ORDERS[case])
    assert expected[0] == "error" and issubclass(expected[1], (TypeError, ValueError)), expected
    for tier in all_tiers():
        assert outcome(getattr(tier, fn_name), BAD_ORDERS[case]) == expected, tier.__name__


@pytest.mark.parametrize("case", sorted(BAD_ORDERS))
def test_a_bad_order_in_a_batch_raises_as_alone(case):
    expected = _reference("encode_order", BAD_ORDERS[case])
    for tier in all_tiers():
        assert outcome(tier.encode_batch, [{"id": 1}, BAD_ORDERS[case]]) == expected, tier.__name__


def test_a_batch_must_be_a_list():
    for tier in all_tiers():
        with pytest.raises(TypeError, match="orders must be a list"):
            tier.encode_batch({"id": 1})


@pytest.mark.parametrize("data,code,offset", [
    (b"\x08", errors.TRUNCATED_VARINT, 1),
    (b"\x08\x80", errors.TRUNCATED_VARINT, 1),
    (b"\x08" + b"\xff" * 10 + b"\x01", errors.VARINT_TOO_LONG, 1),
    (b"\x80", errors.TRUNCATED_TAG, 0),
    (b"\x88\x80\x80\x80\x80\x00\x05", errors.BAD_TAG, 0),  # a tag of 6 bytes
    (b"\x88\x80\x80\x80\x10\x05", errors.BAD_TAG, 0),  # a tag above 2**32
    (b"\x00\x01", errors.FIELD_ZERO, 0),
    (b"\x08\x01\x0e", errors.BAD_WIRE_TYPE, 2),
    (b"\x0f", errors.BAD_WIRE_TYPE, 0),
    (b"\x1a\x05ab", errors.LENGTH_PAST_END, 1),
    (b"\x1a\xff\xff\xff\xff\x0fab", errors.LENGTH_PAST_END, 1),  # absurd: never allocated
    (b"\x1a\x82\x80\x80\x80\x80\x00ab", errors.LENGTH_TOO_LONG, 1),
    (b"\x1a\x80", errors.TRUNCATED_LENGTH, 1),
    (b"\x29\x00\x00", errors.TRUNCATED_FIXED64, 1),
    (b"\x55\x00", errors.TRUNCATED_FIXED32, 1),
    (b"\x1a\x01\xff", errors.BAD_UTF8, 2),
    (b"\x1a\x03\xed\xa0\x80", errors.BAD_UTF8, 2),  # a surrogate
    (b"\x42\x02\xc0\xaf", errors.BAD_UTF8, 2),  # an overlong form
    (b"\x4a\x03\x0a\x01\xff", errors.BAD_UTF8, 4),
    (b"\x0c", errors.UNEXPECTED_END_GROUP, 0),
    (b"\x4a\x01\x0c", errors.UNEXPECTED_END_GROUP, 2),
    (b"\x53\x5c", errors.MISMATCHED_END_GROUP, 1),
    (b"\x08\x01\x53\x08\x01", errors.UNTERMINATED_GROUP, 2),
    (b"\x4a\x01\x53\x54", errors.UNTERMINATED_GROUP, 2),  # a group cannot outlive its message
    (b"\x53" * 101 + b"\x54" * 101, errors.TOO_DEEP, 100),
    (b"\x4a\x05\x0a", errors.LENGTH_PAST_END, 1),
    (b"\x4a\x02\x0a\x05", errors.LENGTH_PAST_END, 3),
])
def test_malformed_protobuf(data, code, offset):
    for tier in all_tiers():
        with pytest.raises(DecodeError) as caught:
            tier.decode_order(data)
        assert (caught.value.code, caught.value.offset) == (code, offset), tier.__name__
        assert f"at byte {offset}" in str(caught.value)
        with pytest.raises(DecodeError) as in_batch:
            tier.decode_batch(b"\x0a" + varint(len(data)) + data)
        framing = 1 + len(varint(len(data)))
        if code != errors.TOO_DEEP:  # (in a batch an order sits one level deeper)
            assert in_batch.value.offset == offset + framing  # offsets count from the input's start


@pytest.mark.parametrize("data,code,offset,words", [
    (b"", errors.MP_TRUNCATED, 0, "truncated"),
    (b"\x90", errors.MP_NOT_MAP, 0, "got array"),
    (b"\xc1", errors.MP_NOT_MAP, 0, "reserved"),
    (b"\x81", errors.MP_TRUNCATED, 0, "truncated"),
    (b"\xdf\xff\xff\xff\xff", errors.MP_TRUNCATED, 0, "truncated"),  # absurd count: nothing allocated
    (b"\x81\x01\x01", errors.MP_KEY_NOT_STR, 1, "got int"),
    (b"\x81\xc4\x02id\x01", errors.MP_KEY_NOT_STR, 1, "got bin"),
    (b"\x81\xa3foo\x01", errors.MP_UNKNOWN_KEY, 1, "'foo'"),
    (b"\x81\xa2\xff\xfe\x01", errors.MP_BAD_UTF8, 1, "map key"),
    (b"\x81\xa2id\xa11", errors.MP_WRONG_TYPE, 4, "id at byte 4 must be an int64, got str"),
    (b"\x81\xa2id\xc3", errors.MP_WRONG_TYPE, 4, "got bool"),
    (b"\x81\xa2id\xc0", errors.MP_WRONG_TYPE, 4, "got nil"),
    (b"\x81\xa2id\xcf\x80\x00\x00\x00\x00\x00\x00\x00", errors.MP_OUT_OF_RANGE, 4, "out of range"),
    (b"\x81\xa2id\xd3\x00", errors.MP_TRUNCATED, 4, "truncated"),
    (b"\x81\xa4side\xa4HOLD", errors.MP_UNKNOWN_SIDE, 6, "'HOLD'"),
    (b"\x81\xa4side\xce\x80\x00\x00\x00", errors.MP_OUT_OF_RANGE, 6, "int32"),
    (b"\x81\xa5price\x01", errors.MP_WRONG_TYPE, 7, "must be a float"),
    (b"\x81\xa6symbol\xa2\xc3\x28", errors.MP_BAD_UTF8, 8, "symbol"),
    (b"\x81\xa6symbol\xc4\x01a", errors.MP_WRONG_TYPE, 8, "got bin"),
    (b"\x81\xa4tags\xa1a", errors.MP_WRONG_TYPE, 6, "array of str"),
    (b"\x81\xa4tags\x92\xa1a\x01", errors.MP_WRONG_TYPE, 9, "tags item"),
    (b"\x81\xa4tags\xdd\xff\xff\xff\xff", errors.MP_TRUNCATED, 6, "truncated"),
    (b"\x81\xa4meta\x81\xa5color\x01", errors.MP_UNKNOWN_KEY, 7, "unknown meta key 'color'"),
    (b"\x81\xa4meta\x81\xa5flags\xff", errors.MP_OUT_OF_RANGE, 13, "uint32"),
    (b"\x81\xa4meta\x91\xa1a", errors.MP_WRONG_TYPE, 6, "must be a map"),
    (b"\x80\x00", errors.MP_TRAILING, 1, "1 extra bytes"),
    (b"\x81\xa2id\xd4\x01\x01", errors.MP_WRONG_TYPE, 4, "got ext"),
    (b"\x82\xa2id\xa1x\xa2id\xa1y", errors.MP_WRONG_TYPE, 9, "got str"),  # the value that stays counts
    (b"\x82\xa2id\x01\xa2id\xa1y", errors.MP_WRONG_TYPE, 8, "got str"),
    (b"\x82\xa2id\xa1x\xa3qty\xa1y", errors.MP_WRONG_TYPE, 4, "id at byte 4"),  # the first one held
    (b"\x81\xa2id\xa1x\x00", errors.MP_TRAILING, 6, "extra bytes"),  # msgpack's problem comes first
    (b"\x81\xa2id\x91\xc1", errors.MP_RESERVED_BYTE, 5, "0xc1"),
    (b"\x81\xa2id\x81\x01\x02", errors.MP_BAD_MAP_KEY, 5, "str or bin, got int"),
    (b"\x81\xa2id\xd4\xfe\x00", errors.MP_BAD_EXT, 4, "negative type"),
    (b"\x81\xa2id\xd7\xff" + b"\xff" * 8, errors.MP_BAD_EXT, 4, "timestamp"),  # nanoseconds past 1e9
    (b"\x81\xa2id\x91\xa1\xff", errors.MP_BAD_UTF8, 5, "in a value"),
    (b"\x81\xa2id" + b"\x91" * 1024 + b"\x00", errors.MP_TOO_DEEP, 1027, "deeper than 1024"),
    (b"\x81\xa4meta\x81\x01\x02", errors.MP_KEY_NOT_STR, 7, "got int"),
])
def test_malformed_msgpack(data, code, offset, words):
    for tier in all_tiers():
        with pytest.raises(DecodeError) as caught:
            tier.unpack_order(data)
        assert (caught.value.code, caught.value.offset) == (code, offset), tier.__name__
        assert words in str(caught.value) and f"at byte {offset}" in str(caught.value)


def test_msgpack_rejects_what_we_call_malformed_bytes():
    """The byte-level problems above are msgpack's errors too, not only our schema's."""
    for data in (b"", b"\x81", b"\x80\x00", b"\x81\xa2\xff\xfe\x01", b"\x81\x01\x01", b"\xc1", b"\x91\xc1",
                 b"\x81\x01\x02", b"\xd4\xfe\x00", b"\xd7\xff" + b"\xff" * 8, b"\x91" * 1025 + b"\x00"):
        with pytest.raises(Exception):
            msgpack.unpackb(data)
