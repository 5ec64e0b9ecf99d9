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
    assert registry.names(family) == list(registry.TIERS)


def test_forced_tier_must_load(monkeypatch):
    monkeypatch.setenv("LAB_IMPL", "pure")
    assert registry.preferred("hashring") == "pure"
    monkeypatch.setenv("LAB_IMPL", "fortran")
    with pytest.raises(ValueError, match="not a tier"):
        registry.preferred("hashring")


def test_unavailable_tier_reports_its_reason(monkeypatch):
    monkeypatch.setitem(registry._TIER_MODULE, "numba", "no_such_module")
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_failed", {})
    with pytest.raises(registry.TierUnavailable, match="no_such_module"):
        registry.load("hashring", "numba")
    assert "numba" in registry.unavailable("hashring")
    assert "numba" not in registry.names("hashring")
