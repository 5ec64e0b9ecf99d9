"""Every tier equals `pure` (the spec) on random node sets, keys, adds and removes."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

node_names = st.text(min_size=0, max_size=12).filter(lambda s: s.isprintable())
keys = st.one_of(st.text(max_size=24), st.binary(max_size=24))
key_lists = st.lists(keys, max_size=60)
vnodes = st.integers(min_value=1, max_value=48)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(nodes=st.lists(node_names, min_size=1, max_size=12, unique=True), vnodes=vnodes, keys=key_lists)
def test_lookups_equal_pure(tier, pure, nodes, vnodes, keys):
    expected = pure.Ring(nodes, vnodes).lookup_many(keys)
    ring = tier.Ring(nodes, vnodes)
    assert ring.lookup_many(keys) == expected
    assert [ring.lookup(k) for k in keys] == expected
    assert [tier.key_hash(k) for k in keys] == [pure.key_hash(k) for k in keys]


# A history of adds and removes: True adds a fresh name, False removes an existing node.
operations = st.lists(st.tuples(st.booleans(), node_names), min_size=1, max_size=25)


@SETTINGS
@given(start=st.lists(node_names, max_size=6, unique=True), ops=operations, vnodes=vnodes, keys=key_lists)
def test_equal_pure_after_adds_and_removes(tier, pure, start, ops, vnodes, keys):
    reference, ring = pure.Ring(start, vnodes), tier.Ring(start, vnodes)
    for is_add, name in ops:
        if is_add and name not in reference.nodes:
            reference.add(name)
            ring.add(name)
        elif not is_add and reference.nodes:
            victim = reference.nodes[hash(name) % len(reference)]
            reference.remove(victim)
            ring.remove(victim)
        assert ring.nodes == reference.nodes and len(ring) == len(reference)
        if len(reference):
            assert ring.lookup_many(keys) == reference.lookup_many(keys)


@SETTINGS
@given(hashes=st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50),
       buckets=st.integers(min_value=1, max_value=2**31 - 1))
def test_jump_equals_pure(tier, pure, hashes, buckets):
    expected = [pure.jump(h, buckets) for h in hashes]
    assert [tier.jump(h, buckets) for h in hashes] == expected
    assert tier.jump_many(np.array(hashes, dtype=np.uint64), buckets).tolist() == expected


def test_large_ring_equals_pure_on_many_keys(tier, pure):
    """Beyond hypothesis' small rings: 300 nodes x 160 points and 200k keys."""
    nodes = [f"10.1.{i // 250}.{i % 250}:11211" for i in range(300)]
    batch = [f"session:{i}" for i in range(200_000)]
    assert tier.Ring(nodes).lookup_many(batch) == pure.Ring(nodes).lookup_many(batch)
