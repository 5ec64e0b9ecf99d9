"""The registry: every tier of every family loads in a proper build, and nothing is replaced."""

import os

import pytest

from impls import registry


@pytest.mark.parametrize("family", registry.families())
def test_every_tier_loads_in_this_build(family):
    """A missing compiled tier would turn its tests into skips; fail loudly instead.

    Set LAB_ALLOW_MISSING_TIERS=1 only on a machine that cannot build a tier on purpose.
    """
    missing = registry.unavailable(family)
    if missing and os.environ.get("LAB_ALLOW_MISSING_TIERS") == "1":
        pytest.skip(f"allowed to be missing: {missing}")
    assert not missing, f"tiers that do not load: {missing}"
    assert registry.names(family) == registry.tiers(family)
    assert registry.available_backends(family) == registry.backends(family)


@pytest.mark.parametrize("family", registry.families())
def test_each_family_declares_pure_first_and_a_preference_among_its_tiers(family):
    declared = registry.declaration(family)
    assert registry.tiers(family)[0] == registry.SPEC_TIER
    assert set(declared.PREFERENCE) <= set(declared.TIERS)
    assert not set(declared.TIERS) & set(declared.BACKENDS), "a name is a tier or a backend, not both"


def test_backends_are_their_own_axis():
    assert registry.backends("ratelimit") == ["redis"]
    assert registry.role("ratelimit", "redis") == registry.BACKEND
    assert registry.role("ratelimit", "pure") == registry.TIER
    assert hasattr(registry.load("ratelimit", "redis"), "RedisLimiter")
    with pytest.raises(ValueError, match="unknown tier"):
        registry.role("ratelimit", "fortran")


def test_forced_tier_must_load(monkeypatch):
    monkeypatch.setenv("LAB_IMPL", "pure")
    assert registry.preferred("hashring") == "pure"
    monkeypatch.setenv("LAB_IMPL", "fortran")
    with pytest.raises(ValueError, match="not a tier"):
        registry.preferred("hashring")
    monkeypatch.setenv("LAB_IMPL", "redis")  # a backend is not a tier the public API can use
    with pytest.raises(ValueError, match="not a tier"):
        registry.preferred("ratelimit")


def test_unavailable_tier_reports_its_reason(monkeypatch):
    declared = registry.declaration("hashring")
    monkeypatch.setitem(declared.TIERS, "numba", "no_such_module")
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_failed", {})
    with pytest.raises(registry.TierUnavailable, match="no_such_module"):
        registry.load("hashring", "numba")
    assert "numba" in registry.unavailable("hashring")
    assert "numba" not in registry.names("hashring")
    assert registry.preferred("hashring") == "cython"  # the next in PREFERENCE, never numba's stand-in
