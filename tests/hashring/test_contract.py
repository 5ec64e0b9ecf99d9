"""The hash-ring contract, run against every tier."""

import zlib

import numpy as np
import pytest

from impls import registry
from impls.hashring import contract

PUBLIC_NAMES = {"key_hash", "Ring", "jump", "jump_many", "warmup"}
NODES = [f"cache-{i:02d}.internal:6379" for i in range(12)]
KEYS = [f"user:{i}" for i in range(2000)] + ["", "ключ", "🔑", "a" * 300]


def test_every_tier_exposes_the_same_names():
    for tier in registry.names("hashring"):
        module = registry.load("hashring", tier)
        missing = PUBLIC_NAMES - set(dir(module))
        assert not missing, f"{tier} lacks {missing}"


@pytest.mark.parametrize("key", ["", "a", "user:42", "ключ", "🔑", b"", b"\x00\xff", "x" * 1000])
def test_key_hash_is_crc32_of_utf8(tier, key):
    data = key.encode("utf-8") if isinstance(key, str) else key
    assert tier.key_hash(key) == zlib.crc32(data)


def test_ring_basics(tier):
    ring = tier.Ring(NODES, vnodes=160)
    assert len(ring) == len(NODES)
    assert ring.nodes == NODES
    owners = ring.lookup_many(KEYS)
    assert owners == [ring.lookup(k) for k in KEYS]
    assert set(owners) <= set(NODES)
    assert ring.lookup(b"user:1") == ring.lookup("user:1")


def test_default_vnodes_is_160(tier, pure):
    assert tier.Ring(NODES).lookup_many(KEYS) == pure.Ring(NODES, vnodes=160).lookup_many(KEYS)


def test_owner_is_first_point_at_or_after_the_key_hash(tier, pure):
    """The placement rule, checked from first principles on a ring small enough to list."""
    nodes = ["a", "b", "c"]
    points = sorted((p, n) for n in nodes for p in pure.node_points(n, 4))
    ring = tier.Ring(nodes, vnodes=4)
    for key in KEYS[:300]:
        h = zlib.crc32(key.encode())
        owner = next((n for p, n in points if p >= h), points[0][1])
        assert ring.lookup(key) == owner


def test_exact_point_hits_its_owner_and_wraps(tier, pure):
    nodes = ["a", "b"]
    ring = tier.Ring(nodes, vnodes=3)
    points = sorted((p, n) for n in nodes for p in pure.node_points(n, 3))
    # a key whose hash is past every point wraps to the first point
    last = points[-1][0]
    beyond = next(k for k in (f"k{i}" for i in range(10**6)) if zlib.crc32(k.encode()) > last)
    assert ring.lookup(beyond) == points[0][1]


def test_add_and_remove(tier, pure):
    ring = tier.Ring(NODES[:5])
    before = ring.lookup_many(KEYS)
    ring.add("new-node")
    assert ring.nodes == NODES[:5] + ["new-node"]
    after = ring.lookup_many(KEYS)
    assert all(b == a or a == "new-node" for b, a in zip(before, after))
    ring.remove("new-node")
    assert ring.lookup_many(KEYS) == before
    assert len(ring) == 5


def test_ring_depends_only_on_the_node_set(tier):
    forward = tier.Ring(NODES)
    backward = tier.Ring(reversed(NODES))
    grown = tier.Ring()
    for node in NODES:
        grown.add(node)
    expected = forward.lookup_many(KEYS)
    assert backward.lookup_many(KEYS) == expected
    assert grown.lookup_many(KEYS) == expected


def test_remove_to_empty_then_add_again(tier):
    ring = tier.Ring(["only"])
    ring.remove("only")
    assert len(ring) == 0 and ring.nodes == []
    with pytest.raises(LookupError):
        ring.lookup("k")
    ring.add("again")
    assert ring.lookup("k") == "again"


def test_lookup_many_accepts_any_sequence(tier):
    ring = tier.Ring(NODES)
    expected = ring.lookup_many(list(KEYS[:50]))
    assert ring.lookup_many(tuple(KEYS[:50])) == expected
    assert ring.lookup_many([]) == []
    mixed = [k.encode() if i % 2 else k for i, k in enumerate(KEYS[:50])]
    assert ring.lookup_many(mixed) == expected
    non_ascii = ["ключ", "🔑", "ascii", "é"]
    assert ring.lookup_many(non_ascii) == [ring.lookup(k) for k in non_ascii]


@pytest.mark.parametrize("buckets", [1, 2, 7, 10, 1000, 2**31 - 1])
def test_jump_matches_pure(tier, pure, buckets):
    hashes = [0, 1, 2**32, 2**63, 2**64 - 1] + [zlib.crc32(k.encode()) for k in KEYS[:200]]
    expected = [pure.jump(h, buckets) for h in hashes]
    assert [tier.jump(h, buckets) for h in hashes] == expected
    out = tier.jump_many(np.array(hashes, dtype=np.uint64), buckets)
    assert out.dtype == np.int32 and out.tolist() == expected
    assert all(0 <= b < buckets for b in expected)


def test_jump_known_values(tier):
    # Published vectors of the reference algorithm (the same ones the Go, Rust and .NET ports test).
    vectors = [(1, 1, 0), (42, 57, 43), (0xDEAD10CC, 1, 0), (0xDEAD10CC, 666, 361), (256, 1024, 520)]
    for key, buckets, expected in vectors:
        assert tier.jump(key, buckets) == expected


def test_jump_moves_only_to_the_new_bucket(tier):
    hashes = np.arange(0, 20000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    a, b = tier.jump_many(hashes, 10), tier.jump_many(hashes, 11)
    moved = a != b
    assert (b[moved] == 10).all()
    assert 0.06 < moved.mean() < 0.12  # about 1/11


def test_jump_many_accepts_signed_and_empty(tier):
    assert tier.jump_many(np.array([1, 2, 3], dtype=np.int64), 5).tolist() == [tier.jump(k, 5) for k in (1, 2, 3)]
    assert tier.jump_many([], 5).shape == (0,)
    assert tier.jump_many([5, 6], 5).tolist() == [tier.jump(5, 5), tier.jump(6, 5)]


def test_contract_module_constants():
    assert contract.DEFAULT_VNODES == 160


def test_cython_jump_many_scalar_fallback_equals_the_simd_path(pure, monkeypatch):
    """The Cython tier picks an AVX2 kernel at import when the CPU has it; the scalar loop it
    falls back to elsewhere must give the same buckets (so it is forced here too)."""
    try:
        cy = registry.load("hashring", "cython")
    except registry.TierUnavailable as exc:
        pytest.skip(str(exc))
    hashes = np.concatenate([np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64),
                             np.random.default_rng(7).integers(0, 2**64 - 1, 5003, dtype=np.uint64, endpoint=True)])
    for buckets in (1, 3, 10, 1000, 2**31 - 1):
        expected = [pure.jump_unchecked(int(h), buckets) for h in hashes]
        assert cy.jump_many(hashes, buckets).tolist() == expected
        monkeypatch.setattr(cy, "_JUMP_AVX2", False)
        assert cy.jump_many(hashes, buckets).tolist() == expected
        monkeypatch.undo()
