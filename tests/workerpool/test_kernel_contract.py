"""The work kernel's contract in every tier (impls.workerpool.kernel_contract): the shape of
Effects, what each status means, deltas, digests and rounds_for."""

import numpy as np
import pytest

import impls.workerpool as workerpool
from impls import registry
from impls.serial.pure import encode_order
from impls.serial.schema import INT64_MAX, INT64_MIN
from impls.workerpool import kernel_contract
from impls.workerpool.kernel_contract import MALFORMED, OK, POISON, Effects, rounds_for

BUY = encode_order({"id": 7, "user_id": 42, "side": "BUY", "qty": 5, "ts_ns": 99})
SELL = encode_order({"id": 8, "user_id": 42, "side": "SELL", "qty": 5, "ts_ns": 99})


def test_effects_have_one_row_per_payload_with_the_contracts_dtypes(tier):
    effects = tier.process_batch([BUY, SELL, b"\x08"], 0)
    assert isinstance(effects, Effects) and len(effects) == 3
    for name, dtype in Effects.DTYPES.items():
        array = getattr(effects, name)
        assert isinstance(array, np.ndarray) and array.dtype == dtype and array.shape == (3,)


def test_an_empty_batch_gives_empty_effects(tier):
    assert tier.process_batch([], 5) == Effects.zeros(0)
    assert tier.process_batch((), 0) == Effects.zeros(0)


def test_buy_adds_sell_subtracts_and_other_sides_change_nothing(tier):
    other = [encode_order({"user_id": 1, "side": side, "qty": 5}) for side in ("SIDE_UNSPECIFIED", 7, -1)]
    effects = tier.process_batch([BUY, SELL, *other], 0)
    assert effects.delta.tolist() == [5, -5, 0, 0, 0]
    assert effects.status.tolist() == [OK] * 5
    assert effects.user_id.tolist() == [42, 42, 1, 1, 1]


def test_deltas_wrap_at_64_bits(tier):
    extremes = [encode_order({"side": side, "qty": qty}) for side in ("BUY", "SELL") for qty in (INT64_MIN, INT64_MAX)]
    assert tier.process_batch(extremes, 0).delta.tolist() == [INT64_MIN, INT64_MAX, INT64_MIN, -INT64_MAX]


def test_poison_is_rejected_keeping_the_user_and_nothing_else(tier):
    poison = encode_order({"id": 1, "user_id": 9, "side": "BUY", "qty": 3, "tags": ["ioc", "poison"]})
    near = encode_order({"id": 1, "user_id": 9, "side": "BUY", "qty": 3, "tags": ["Poison", "poisoned"]})
    effects = tier.process_batch([poison, near], 10)
    assert effects.rows()[0] == (9, 0, 0, POISON)
    assert effects.status[1] == OK and effects.delta[1] == 3 and effects.digest[1] != 0


def test_a_malformed_message_is_zeros_and_does_not_fail_the_batch(tier):
    effects = tier.process_batch([BUY, b"\x08", b"\xff\xff", BUY[:-1], SELL], 3)
    assert effects.status.tolist() == [OK, MALFORMED, MALFORMED, MALFORMED, OK]
    assert effects.rows()[1:4] == [(0, 0, 0, MALFORMED)] * 3


def test_empty_bytes_are_an_order_with_every_field_at_its_default(tier):
    """Protobuf's empty message is valid: not malformed."""
    effects = tier.process_batch([b""], 0)
    assert effects.status.tolist() == [OK] and effects.delta.tolist() == [0]


def test_any_bytes_like_payload_is_taken(tier):
    plain = tier.process_batch([BUY, SELL], 4)
    assert tier.process_batch((bytearray(BUY), memoryview(SELL)), 4) == plain
    assert tier.process_batch([np.frombuffer(BUY, dtype=np.uint8), SELL], np.int64(4)) == plain


def test_the_digest_depends_on_rounds_and_on_every_field(tier):
    digests = {int(tier.process_batch([BUY], r).digest[0]) for r in range(50)}
    assert len(digests) == 50
    variants = [encode_order({"id": 7, "user_id": 42, "side": "BUY", "qty": 5, "ts_ns": 99, **change})
                for change in ({}, {"id": 6}, {"user_id": 41}, {"qty": 4}, {"ts_ns": 98})]
    assert len(set(tier.process_batch(variants, 3).digest.tolist())) == len(variants)


def test_the_digest_is_the_specifications(tier):
    """pure.digest, by hand: the four fields, then the rounds."""
    from impls.workerpool.pure import digest

    assert tier.process_batch([BUY], 17).digest.tolist() == [digest(7, 42, 5, 99, 17)]


def test_effects_compare_by_dtype_and_values():
    a = Effects.zeros(2)
    assert a == Effects.zeros(2) and a != Effects.zeros(3)
    b = Effects.zeros(2)
    b.digest[1] = 1
    assert a != b
    c = Effects(a.user_id.astype(np.int32), a.delta, a.digest, a.status)
    assert a != c
    with pytest.raises(TypeError):
        hash(a)


def test_rounds_for_converts_compiled_microseconds():
    assert rounds_for(0) == 0
    assert rounds_for(20) == 20 * kernel_contract.ROUNDS_PER_US
    assert rounds_for(0.5) == round(0.5 * kernel_contract.ROUNDS_PER_US)
    with pytest.raises(ValueError, match="work_us"):
        rounds_for(-1)
    with pytest.raises(ValueError, match="work_us"):
        rounds_for(float("nan"))
    with pytest.raises(TypeError, match="work_us"):
        rounds_for("20")


def test_the_public_api_is_the_preferred_tier():
    assert workerpool.TIER == registry.preferred("workerpool")
    assert workerpool.process_batch is registry.load("workerpool", workerpool.TIER).process_batch
    assert workerpool.rounds_for is rounds_for and workerpool.Effects is Effects
