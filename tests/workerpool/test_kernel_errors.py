"""Bad arguments to process_batch get the same exception type and message in every tier
(impls.workerpool.kernel_contract); bad *messages* never raise (see test_kernel_contract)."""

import numpy as np
import pytest

from impls.serial.pure import encode_order
from tests.conftest import raised_by

GOOD = encode_order({"id": 1, "side": "BUY", "qty": 1})

BAD_CALLS = {
    # rounds: an int >= 0 (a numpy integer too), never a bool, a float or a str
    "rounds negative": (ValueError, lambda m: m.process_batch([GOOD], -1)),
    "rounds too big": (ValueError, lambda m: m.process_batch([GOOD], 1 << 63)),
    "rounds float": (TypeError, lambda m: m.process_batch([GOOD], 1.0)),
    "rounds str": (TypeError, lambda m: m.process_batch([GOOD], "3")),
    "rounds None": (TypeError, lambda m: m.process_batch([GOOD], None)),
    "rounds bool": (TypeError, lambda m: m.process_batch([GOOD], True)),
    "rounds numpy bool": (TypeError, lambda m: m.process_batch([GOOD], np.bool_(False))),
    # payloads: a list or tuple of bytes-like objects
    "payloads bytes": (TypeError, lambda m: m.process_batch(GOOD, 0)),
    "payloads None": (TypeError, lambda m: m.process_batch(None, 0)),
    "payloads generator": (TypeError, lambda m: m.process_batch((p for p in [GOOD]), 0)),
    "payloads dict": (TypeError, lambda m: m.process_batch({0: GOOD}, 0)),
    "payload str": (TypeError, lambda m: m.process_batch([GOOD, "order"], 0)),
    "payload int": (TypeError, lambda m: m.process_batch([GOOD, GOOD, 7], 0)),
    "payload None": (TypeError, lambda m: m.process_batch((None,), 0)),
    "payload dict": (TypeError, lambda m: m.process_batch([{"id": 1}], 0)),
    # the order of the checks: rounds first, then the sequence, then its items in order
    "both bad: rounds first": (ValueError, lambda m: m.process_batch("x", -1)),
    "two bad payloads: the first": (TypeError, lambda m: m.process_batch([1, "x"], 0)),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_arguments_raise_the_same_error_in_every_tier(tier, pure, name):
    expected_type, call = BAD_CALLS[name]
    expected = raised_by(lambda: call(pure))
    assert expected is not None and expected[0] is expected_type, expected
    assert raised_by(lambda: call(tier)) == expected


def test_messages_name_what_was_wrong(pure):
    assert raised_by(lambda: pure.process_batch([GOOD, 7], 0)) == (
        TypeError, "payloads[1] must be bytes-like, got int")
    assert raised_by(lambda: pure.process_batch(GOOD, 0)) == (
        TypeError, "payloads must be a list or tuple of bytes-like objects, got bytes")
    assert raised_by(lambda: pure.process_batch([GOOD], -1)) == (
        ValueError, "rounds must be between 0 and 2**63-1, got -1")
    assert raised_by(lambda: pure.process_batch([GOOD], True)) == (TypeError, "rounds must be an int, got bool")
