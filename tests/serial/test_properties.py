"""Property tests: every tier's bytes equal upb's and msgpack's for any order of the schema,
and decoding gives the order back."""

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.peers.serial import message_from_dict, message_to_dict
from impls.serial import order_pb2 as pb
from tests.serial.conftest import decoded_form, full_orders, orders, same

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(order=orders)
def test_encode_order_equals_upb(tier, order):
    assert tier.encode_order(order) == message_from_dict(order).SerializeToString()


@SETTINGS
@given(batch=st.lists(orders, max_size=4))
def test_encode_batch_equals_upb(tier, batch):
    expected = pb.OrderBatch(orders=[message_from_dict(o) for o in batch]).SerializeToString()
    assert tier.encode_batch(batch) == expected


@SETTINGS
@given(order=orders)
def test_pack_order_equals_msgpack(tier, order):
    assert tier.pack_order(order) == msgpack.packb(order)


@SETTINGS
@given(order=orders)
def test_decode_order_gives_the_order_back(tier, order):
    decoded = tier.decode_order(tier.encode_order(order))
    assert same(decoded, decoded_form(order))
    assert same(decoded, message_to_dict(pb.Order.FromString(tier.encode_order(order))))


@SETTINGS
@given(batch=st.lists(full_orders, max_size=4))
def test_decode_batch_gives_the_orders_back(tier, batch):
    assert same(tier.decode_batch(tier.encode_batch(batch)), batch)


@SETTINGS
@given(order=orders)
def test_unpack_order_equals_msgpack(tier, order):
    data = msgpack.packb(order)
    assert same(tier.unpack_order(data), msgpack.unpackb(data))
    assert list(tier.unpack_order(data)) == list(order)  # keys in the order they came
