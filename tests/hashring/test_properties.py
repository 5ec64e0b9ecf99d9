"""Balance and minimal movement, the two promises of a consistent-hash ring (on the pure spec:
the differential tests make every other tier give the very same owners)."""

import math

import pytest

from bench.cases.hashring import load_balance, moved_fractions

NAMINGS = {
    "host:port": lambda i: f"10.0.{i // 250}.{i % 250 + 1}:6379",
    "numbers": lambda i: str(i),
    "similar": lambda i: f"cache-node-{i:04d}",
    "uuid-like": lambda i: f"{i * 2654435761 % 2**32:08x}-4e1a-9c0d-{i:012x}",
}


@pytest.mark.parametrize("naming", sorted(NAMINGS))
def test_balance_at_100_nodes_1m_keys(pure, naming):
    nodes = [NAMINGS[naming](i) for i in range(100)]
    keys = [f"key:{i}" for i in range(1_000_000)]
    std_over_mean, max_over_mean = load_balance(pure.Ring(nodes, 160).lookup_many(keys), nodes)
    assert std_over_mean <= 1.2 / math.sqrt(160)
    assert max_over_mean <= 1.35


@pytest.mark.parametrize("nodes", [10, 100])
def test_adding_a_node_moves_about_one_in_n_plus_one(pure, nodes):
    add, remove = moved_fractions(pure, nodes, 160, 200_000)
    assert add <= 1.3 / (nodes + 1)
    assert add >= 0.5 / (nodes + 1)  # the new node does take its share
    assert remove == add


def test_moved_keys_go_to_the_new_node_and_back_exactly(tier):
    nodes = [f"n{i}" for i in range(20)]
    keys = [f"k{i}" for i in range(50_000)]
    ring = tier.Ring(nodes)
    before = ring.lookup_many(keys)
    ring.add("fresh")
    grown = ring.lookup_many(keys)
    assert all(g == b or g == "fresh" for b, g in zip(before, grown))
    ring.remove("fresh")
    assert ring.lookup_many(keys) == before
