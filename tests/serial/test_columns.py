"""The Numba tier's columnar API: OrderColumns <-> OrderBatch bytes, and the conversions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.peers.serial import message_from_dict
from impls import registry
from impls.serial import order_pb2 as pb
from tests.serial.conftest import decoded_form, orders, same

COLUMNAR = [t for t in registry.names("serial") if hasattr(registry.load("serial", t), "encode_columns")]


@pytest.fixture(params=COLUMNAR or [pytest.param(None, marks=pytest.mark.skip(reason="no columnar tier"))])
def columnar(request):
    return registry.load("serial", request.param)


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(orders, max_size=6))
def test_encode_columns_is_upbs_batch(batch):
    for tier in map(lambda t: registry.load("serial", t), COLUMNAR):
        expected = pb.OrderBatch(orders=[message_from_dict(o) for o in batch]).SerializeToString()
        assert tier.encode_columns(tier.columns_from_orders(batch)) == expected
        cols = tier.decode_columns(expected)
        assert len(cols) == len(batch)
        assert tier.encode_columns(cols) == expected  # has_meta and -0.0 / NaN bits survive the round trip
        assert same(tier.orders_from_columns(cols), [decoded_form(o) for o in batch])


def test_columns_are_numpy_arrays_with_spans_into_one_buffer(columnar):
    batch = [{"id": 1, "symbol": "AAPL", "tags": ["a", "bc"], "meta": {"venue": "X"}}, {"id": -2, "price": -0.0}]
    cols = columnar.columns_from_orders(batch)
    assert cols.id.dtype == np.int64 and cols.id.tolist() == [1, -2]
    assert cols.side.dtype == np.int32 and cols.flags.dtype == np.uint32
    text = cols.text.tobytes()
    assert [text[s:e] for s, e in cols.symbol.tolist()] == [b"AAPL", b""]
    assert [text[s:e] for s, e in cols.tags.tolist()] == [b"a", b"bc"]
    assert cols.tag_bounds.tolist() == [0, 2, 2]
    assert cols.has_meta.tolist() == [True, False]
    assert np.signbit(cols.price[1])


def test_decoded_columns_point_into_the_input(columnar):
    data = columnar.encode_batch([{"symbol": "AAPL"}])
    cols = columnar.decode_columns(data)
    assert cols.text.tobytes() == data and data[cols.symbol[0, 0]: cols.symbol[0, 1]] == b"AAPL"


def test_a_large_batch_round_trips(columnar, pure):
    batch = [{"id": i, "symbol": f"S{i % 97}", "tags": ["t"] * (i % 6), "meta": {"flags": i}} for i in range(20_000)]
    data = pure.encode_batch(batch)
    assert columnar.encode_columns(columnar.columns_from_orders(batch)) == data
    assert columnar.orders_from_columns(columnar.decode_columns(data)) == pure.decode_batch(data)


def test_columns_from_orders_rejects_what_encode_batch_rejects(columnar, pure):
    for bad in ([{"id": "x"}], [{"id": 1}, {"nope": 1}], [{"meta": {"flags": -1}}], [{"side": "HOLD"}], "orders"):
        with pytest.raises((TypeError, ValueError)) as ours:
            columnar.columns_from_orders(bad)
        with pytest.raises((TypeError, ValueError)) as theirs:
            pure.encode_batch(bad)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_empty_batch(columnar):
    cols = columnar.columns_from_orders([])
    assert len(cols) == 0 and columnar.encode_columns(cols) == b""
    assert columnar.orders_from_columns(columnar.decode_columns(b"")) == []
