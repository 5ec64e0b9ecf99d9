"""Fuzzing every decoder of every tier: 100k protobuf-ish and 100k msgpack-ish inputs
(mutated encodings, arbitrary well-formed fields, random bytes; see tests/serial/inputs.py).

Whatever the input, every tier must do exactly what the pure tier does -- return equal
values or raise the same DecodeError with the same message -- and nothing but DecodeError
may ever come out (no other exception, no crash, no hang: the run is under pytest-timeout).
"""

import pytest

from tests.serial.conftest import all_tiers, outcome, same
from tests.serial.inputs import msgpack_inputs, protobuf_inputs

INPUTS = 100_000
SEED = 20240611


def _agree(reference, other) -> bool:
    if reference[0] != other[0]:
        return False
    return same(reference[1], other[1]) if reference[0] == "ok" else reference[1:] == other[1:]


def _decoders(fn_name):
    tiers = all_tiers()
    assert [t.__name__.rsplit(".", 1)[1] for t in tiers][0] == "pure"
    return [(t.__name__, getattr(t, fn_name)) for t in tiers]


def _fuzz(inputs, fn_name):
    (_, reference), *others = _decoders(fn_name)
    accepted = 0
    for data in inputs:
        expected = outcome(reference, data)
        if expected[0] == "error":
            assert expected[1].__name__ == "DecodeError", (data.hex(), expected)
        else:
            accepted += 1
        for name, decoder in others:
            got = outcome(decoder, data)
            assert _agree(expected, got), (name, fn_name, data.hex(), expected, got)
    return accepted


@pytest.mark.parametrize("fn_name", ["decode_order", "decode_batch"])
def test_protobuf_decoders_agree_on_100k_inputs(fn_name):
    accepted = _fuzz(protobuf_inputs(INPUTS, SEED), fn_name)
    assert accepted > INPUTS // 20  # the inputs reach the decoders' accepting paths too


def test_msgpack_decoders_agree_on_100k_inputs():
    accepted = _fuzz(msgpack_inputs(INPUTS, SEED), "unpack_order")
    assert accepted > INPUTS // 50


def test_columnar_decoders_agree_on_100k_inputs():
    """decode_columns (tiers that have it) against pure's decode_batch."""
    columnar = [t for t in all_tiers() if hasattr(t, "decode_columns")]
    if not columnar:
        pytest.skip("no tier with decode_columns in this build")
    reference = all_tiers()[0].decode_batch
    for data in protobuf_inputs(INPUTS, SEED):
        expected = outcome(reference, data)
        for tier in columnar:
            got = outcome(lambda d: tier.orders_from_columns(tier.decode_columns(d)), data)
            assert _agree(expected, got), (tier.__name__, data.hex(), expected, got)
