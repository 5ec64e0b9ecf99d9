"""Every bad input gets the same exception type and message in every tier."""

import numpy as np
import pytest

from impls import registry
from tests.conftest import raised_by


BAD_CALLS = {
    "lookup on empty ring": lambda m: m.Ring().lookup("k"),
    "lookup_many on empty ring": lambda m: m.Ring().lookup_many(["k"]),
    "vnodes 0": lambda m: m.Ring(["a"], vnodes=0),
    "vnodes negative": lambda m: m.Ring(["a"], vnodes=-3),
    "vnodes huge": lambda m: m.Ring(["a"], vnodes=10**9),
    "vnodes float": lambda m: m.Ring(["a"], vnodes=1.5),
    "duplicate node in constructor": lambda m: m.Ring(["a", "a"]),
    "add existing": lambda m: m.Ring(["a"]).add("a"),
    "remove missing": lambda m: m.Ring(["a"]).remove("b"),
    "node not str": lambda m: m.Ring([1]),
    "add node not str": lambda m: m.Ring(["a"]).add(b"b"),
    "key int": lambda m: m.Ring(["a"]).lookup(5),
    "key None": lambda m: m.Ring(["a"]).lookup(None),
    "key bytearray": lambda m: m.key_hash(bytearray(b"x")),
    "lookup_many with an int key": lambda m: m.Ring(["a"]).lookup_many(["x", 3, "y"]),
    "lookup_many not iterable": lambda m: m.Ring(["a"]).lookup_many(5),
    "key with lone surrogate": lambda m: m.Ring(["a"]).lookup("\ud800"),
    "lookup_many with lone surrogate": lambda m: m.Ring(["a"]).lookup_many(["ok", "\ud800"]),
    "buckets 0": lambda m: m.jump(1, 0),
    "buckets negative": lambda m: m.jump(1, -1),
    "buckets too large": lambda m: m.jump(1, 2**31),
    "buckets float": lambda m: m.jump(1, 2.0),
    "key_hash negative": lambda m: m.jump(-1, 10),
    "key_hash too large": lambda m: m.jump(2**64, 10),
    "key_hash float": lambda m: m.jump(1.0, 10),
    "jump_many buckets 0": lambda m: m.jump_many(np.array([1], dtype=np.uint64), 0),
    "jump_many negative": lambda m: m.jump_many(np.array([-1], dtype=np.int64), 3),
    "jump_many floats": lambda m: m.jump_many(np.array([1.5]), 3),
    "jump_many 2-D": lambda m: m.jump_many(np.zeros((2, 2), dtype=np.uint64), 3),
}

EXPECTED_TYPE = {
    "lookup on empty ring": LookupError,
    "lookup_many on empty ring": LookupError,
    "vnodes 0": ValueError,
    "vnodes negative": ValueError,
    "vnodes huge": ValueError,
    "vnodes float": TypeError,
    "duplicate node in constructor": ValueError,
    "add existing": ValueError,
    "remove missing": KeyError,
    "node not str": TypeError,
    "add node not str": TypeError,
    "key int": TypeError,
    "key None": TypeError,
    "key bytearray": TypeError,
    "lookup_many with an int key": TypeError,
    "lookup_many not iterable": TypeError,
    "key with lone surrogate": UnicodeEncodeError,
    "lookup_many with lone surrogate": UnicodeEncodeError,
    "buckets 0": ValueError,
    "buckets negative": ValueError,
    "buckets too large": ValueError,
    "buckets float": TypeError,
    "key_hash negative": ValueError,
    "key_hash too large": ValueError,
    "key_hash float": TypeError,
    "jump_many buckets 0": ValueError,
    "jump_many negative": ValueError,
    "jump_many floats": TypeError,
    "jump_many 2-D": ValueError,
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_pure_raises_the_documented_type(case, pure):
    outcome = raised_by(lambda: BAD_CALLS[case](pure))
    assert outcome is not None, f"{case}: no error"
    assert outcome[0] is EXPECTED_TYPE[case], outcome


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_every_tier_raises_what_pure_raises(case, tier, pure):
    expected = raised_by(lambda: BAD_CALLS[case](pure))
    got = raised_by(lambda: BAD_CALLS[case](tier))
    assert got is not None, f"{case}: no error"
    assert got[0] is expected[0]
    if got[0] is not UnicodeEncodeError:  # codec messages name the codec's position only
        assert got[1] == expected[1]


def test_a_failed_add_leaves_the_ring_unchanged(tier):
    ring = tier.Ring(["a", "b"])
    before = ring.lookup_many([f"k{i}" for i in range(500)])
    for bad in ("a", 5, "\ud800"):
        with pytest.raises((ValueError, TypeError)):
            ring.add(bad)
    assert ring.nodes == ["a", "b"]
    assert ring.lookup_many([f"k{i}" for i in range(500)]) == before


def test_registry_rejects_unknown_names():
    with pytest.raises(ValueError):
        registry.load("nope", "pure")
    with pytest.raises(ValueError):
        registry.load("hashring", "rust")
