"""Workerpool fixtures: the work kernel's tiers from the registry, and the payloads the kernel
tests draw (valid orders from the serial family's strategy, poison ones, broken bytes)."""

import pytest
from hypothesis import strategies as st

from bench.backends import kafka
from impls import registry
from impls.serial.pure import encode_order
from impls.workerpool.kernel_contract import POISON_TAG
from tests.conftest import pure_fixture, tier_fixture, tier_params
from tests.serial.conftest import orders

tier = tier_fixture("workerpool")
pure = pure_fixture("workerpool")


@pytest.fixture(scope="module")
def kafka_bootstrap():
    """The lab's embedded broker (or KAFKA_BOOTSTRAP's), for one test module."""
    with kafka.kafka_target() as target:
        yield target.bootstrap


@pytest.fixture
def opened():
    """Every log and producer a test opens (tests.workerpool.log_harness.Opened), closed at its end."""
    from tests.workerpool.log_harness import Opened

    with Opened() as stack:
        yield stack


@pytest.fixture
def consumers(setup, tmp_path):
    """Consumer processes (tests.workerpool.pool_harness.Consumers) for the `setup` of the pool
    fault test module that asks, their stderr kept in tmp_path; every one still running is
    killed at the end."""
    from tests.workerpool.pool_harness import Consumers

    group = Consumers(setup, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


@pytest.fixture(params=[param for param in tier_params("workerpool") if param.id != registry.SPEC_TIER])
def compiled(request):
    """Each compiled tier module in turn (for what only they promise: releasing the GIL)."""
    return registry.load("workerpool", request.param)


#: Tags near the poison tag that must not count as it.
NEAR_POISON = ["Poison", "POISON", "poisoned", " poison", "poison ", "poiso", "xpoison", "poison\x00"]


def _with_tags(order: dict, extra: list[str], at: int) -> dict:
    tags = list(order.get("tags", []))
    at = at % (len(tags) + 1)
    return {**order, "tags": tags[:at] + extra + tags[at:]}


#: An order dict (any subset of keys and values, as tests/serial draws them), sometimes tagged
#: poison, sometimes with a tag that only looks like it.
kernel_orders = st.one_of(
    orders,
    st.builds(_with_tags, orders, st.just([POISON_TAG]), st.integers(0, 5)),
    st.builds(_with_tags, orders, st.lists(st.sampled_from(NEAR_POISON), min_size=1, max_size=2), st.integers(0, 5)),
)

#: The protobuf bytes of such an order.
order_payloads = kernel_orders.map(encode_order)


def _truncated(data: bytes, cut: int) -> bytes:
    return data[: cut % (len(data) + 1)]


def _flipped(data: bytes, at: int, bits: int) -> bytes:
    if not data:
        return bytes([bits])
    at %= len(data)
    return data[:at] + bytes([data[at] ^ bits]) + data[at + 1:]


#: Bytes that are often not an Order: truncations and bit flips of valid ones, random bytes.
broken_payloads = st.one_of(
    st.builds(_truncated, order_payloads, st.integers(0, 200)),
    st.builds(_flipped, order_payloads, st.integers(0, 200), st.integers(1, 255)),
    st.binary(max_size=40),
)

#: A batch: valid, poison and broken messages mixed.
batches = st.lists(order_payloads | broken_payloads, max_size=12)
