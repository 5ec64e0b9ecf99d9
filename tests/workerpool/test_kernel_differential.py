"""Every tier of the work kernel gives exactly pure's Effects: on random valid orders, poison
ones, near-poison tags, broken bytes (truncations, bit flips, random bytes, the serial family's
fuzz corpus), with rounds 0 and more."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impls.workerpool.kernel_contract import MALFORMED, OK
from tests.serial.inputs import protobuf_inputs
from tests.workerpool.conftest import batches, broken_payloads, order_payloads

#: The tier fixtures are modules: nothing to reset between examples.
_FIXTURES_ARE_MODULES = [HealthCheck.function_scoped_fixture]

#: Rounds drawn: none, a few, and enough to run the loop well past any unrolling.
rounds = st.sampled_from([0, 1, 2, 3]) | st.integers(0, 300)


def _agree(tier, pure, payloads, n_rounds) -> None:
    expected = pure.process_batch(payloads, n_rounds)
    got = tier.process_batch(payloads, n_rounds)
    assert got == expected, (tier.__name__, n_rounds, [p.hex() for p in payloads], got.rows(), expected.rows())


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURES_ARE_MODULES)
@given(payloads=st.lists(order_payloads, max_size=12), n_rounds=rounds)
def test_valid_orders_give_pures_effects(tier, pure, payloads, n_rounds):
    _agree(tier, pure, payloads, n_rounds)


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURES_ARE_MODULES)
@given(payloads=st.lists(broken_payloads, max_size=12), n_rounds=rounds)
def test_broken_bytes_give_pures_statuses(tier, pure, payloads, n_rounds):
    """Malformed is what the serial decoders reject: the same messages in every tier."""
    _agree(tier, pure, payloads, n_rounds)


@settings(max_examples=200, deadline=None, suppress_health_check=_FIXTURES_ARE_MODULES)
@given(payloads=batches, n_rounds=rounds)
def test_mixed_batches_give_pures_effects(tier, pure, payloads, n_rounds):
    _agree(tier, pure, payloads, n_rounds)


def test_the_serial_fuzz_corpus_gives_pures_effects(tier, pure):
    """5000 protobuf-ish inputs from tests/serial/inputs.py (mutated encodings, arbitrary wire
    streams, groups, deep nesting, bad UTF-8, random bytes) as one batch (poison is the
    hypothesis tests' part)."""
    payloads = protobuf_inputs(5000, 20261201)
    expected = pure.process_batch(payloads, 2)
    statuses = set(expected.status.tolist())
    assert {OK, MALFORMED} <= statuses  # the corpus reaches both outcomes
    got = tier.process_batch(payloads, 2)
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got.rows(), expected.rows())) if a != b)
        raise AssertionError(f"{tier.__name__}: payload {first} ({payloads[first].hex()}): "
                             f"{got.rows()[first]} != pure's {expected.rows()[first]}")
